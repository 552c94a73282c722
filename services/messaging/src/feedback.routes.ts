import {
  auditRows,
  callerOf,
  HttpProblem,
  invalidFields,
  patientsInAnswer,
  sendWorkbook,
  type PatientAccessLog,
  type ServiceApp,
  XLSX_TYPE,
} from '@pep/service-kit';
import { z } from 'zod';
import { FEEDBACK_WORKBOOK_COLUMNS } from './feedback-workbook.js';
import {
  clicksResponse,
  commentBody,
  feedbackFilters,
  feedbackListQuery,
  feedbackResponse,
  feedbackSummaryResponse,
  npsScoreResponse,
  npsScoresQuery,
  npsScoresResponse,
  reviewTokenParams,
  scoreBody,
  toFeedbackResponse,
} from './feedback.schemas.js';
import type { FeedbackFilters, FeedbackService, SurveyRef } from './feedback.service.js';
import { READERS, WRITERS } from './roles.js';
import { idParams, listOf } from './schemas.js';

const tags = ['feedbackResponses'];
const page = listOf(feedbackResponse);
/** Who may answer a survey: the patient it asks (their own only), or staff recording what the patient told them. */
const ANSWERERS = ['patient', ...WRITERS] as const;
const FILTERS =
  'Filter by the answer’s time (from, to), facility, provider, category (promoter 9–10, passive 7–8, detractor 0–6), followUpRequired and answered.';

/** The survey a body names: `feedbackRequest`, else its alias `id` (the schema requires one). */
const surveyNamed = (feedbackRequest: string | undefined, id: string | undefined): SurveyRef =>
  feedbackRequest !== undefined ? { id: feedbackRequest, field: 'body.feedbackRequest' } : { id: id!, field: 'body.id' };

/** The most surveys reports/findAll answers at once. */
const FIND_ALL_LIMIT = 10_000;

/**
 * Routes of the `feedbackResponses` group: NPS surveys after visits, their scores and comments, the tracked review
 * link, and the reports. Every record belongs to the caller's organization; others answer 404.
 */
export function registerFeedbackRoutes(app: ServiceApp, feedback: FeedbackService, patientAccess: PatientAccessLog): void {
  const list = (fixed: Partial<FeedbackFilters>, summary: string, description: string) => ({
    config: { roles: READERS, readsPatients: patientsInAnswer('patient') },
    schema: {
      tags,
      summary,
      description: `${description} Paged with page/limit, the latest survey first. ${FILTERS}`,
      querystring: feedbackListQuery,
      response: { 200: page },
    },
    fixed,
  });
  const paged = [
    ['/api/feedbackResponses', list({}, 'Surveys after visits and their answers', 'Every survey, answered or not.')],
    ['/api/feedbackResponses/promoters', list({ category: 'promoter' }, 'Promoters', 'Surveys answered 9 or 10.')],
    ['/api/feedbackResponses/detractors', list({ category: 'detractor' }, 'Detractors', 'Surveys answered 0 to 6.')],
    ['/api/feedbackResponses/reports/find', list({}, 'Surveys for reports', 'As the list.')],
    ['/api/feedbackResponses/reports/promoters', list({ category: 'promoter' }, 'Promoters, for reports', 'Surveys answered 9 or 10.')],
    [
      '/api/feedbackResponses/reports/detractors',
      list(
        { category: 'detractor' },
        'Detractors, for reports',
        'Surveys answered 0 to 6; followUpRequired=true lists those staff have yet to follow up (each detractor is flagged when it answers).',
      ),
    ],
  ] as const;
  for (const [url, { fixed, ...options }] of paged) {
    app.get(url, options, async (request) => {
      const { page: number, limit, ...filters } = request.query;
      const { rows, total } = await feedback.list(callerOf(request), { ...filters, ...fixed }, { page: number, limit });
      return { response: rows.map(toFeedbackResponse), page: number, limit, total };
    });
  }

  app.get(
    '/api/feedbackResponses/reports/findAll',
    {
      config: { roles: READERS, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags,
        summary: 'Every matching survey',
        description: `As reports/find without paging, oldest first, up to ${FIND_ALL_LIMIT} surveys: more answers 400 (narrow the range, or take reports/xls, which streams any number). ${FILTERS}`,
        querystring: feedbackFilters,
        response: { 200: z.object({ response: z.array(feedbackResponse) }) },
      },
    },
    async (request) => {
      const response = [];
      for await (const rows of feedback.all(callerOf(request), request.query)) {
        response.push(...rows.map(toFeedbackResponse));
        // One answer is held in memory whole: a range too large for it is refused rather than loaded.
        if (response.length > FIND_ALL_LIMIT)
          throw invalidFields([
            { field: 'querystring.from', message: `more than ${FIND_ALL_LIMIT} surveys match: narrow the range, or use reports/xls` },
          ]);
      }
      return { response };
    },
  );

  app.get(
    '/api/feedbackResponses/reports/npsscore',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'The organization’s NPS for a period',
        description:
          'NPS = % promoters − % detractors of the surveys answered in the period (from, to; all time without them), an integer from −100 to 100 with halves rounded away from zero; null when none was answered. Facility and provider narrow it.',
        querystring: feedbackFilters.omit({ category: true, answered: true }),
        response: { 200: npsScoreResponse },
      },
    },
    async (request) => feedback.npsScore(callerOf(request), request.query),
  );

  app.get(
    '/api/feedbackResponses/reports/npsscores',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'NPS by facility, provider or month',
        description: 'As npsscore, one row per facility, provider (largest first) or month of the answer (UTC, in order).',
        querystring: npsScoresQuery,
        response: { 200: npsScoresResponse },
      },
    },
    async (request) => {
      const { by, ...filters } = request.query;
      return { by, response: await feedback.npsScores(callerOf(request), filters, by) };
    },
  );

  app.get(
    '/api/feedbackResponses/reports/summary',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'Surveys sent, answered, by category, and their NPS',
        description:
          'Of the surveys created in the period (from, to): sent, answered and their categories, NPS, detractors waiting for follow-up, review links sent and opened.',
        querystring: feedbackFilters.omit({ category: true, answered: true }),
        response: { 200: feedbackSummaryResponse },
      },
    },
    async (request) => feedback.summary(callerOf(request), request.query),
  );

  app.get(
    '/api/feedbackResponses/reports/clicks',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'Review links sent to promoters and opened',
        description:
          'Of the promoters answering in the period: links sent, opened (once per survey however often), in all and per facility.',
        querystring: feedbackFilters.omit({ category: true, answered: true }),
        response: { 200: clicksResponse },
      },
    },
    async (request) => feedback.clicks(callerOf(request), request.query),
  );

  app.get(
    '/api/feedbackResponses/reports/xls',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'The surveys as an Excel workbook (.xlsx)',
        description: `${FILTERS} Every matching survey, oldest first, one row each (ids, scores, comments; instants in UTC). Answers ${XLSX_TYPE} as an attachment, streamed while the rows are read.`,
        querystring: feedbackFilters,
      },
    },
    async (request, reply) =>
      sendWorkbook(request, reply, {
        filename: 'feedback.xlsx',
        sheet: 'Feedback',
        columns: FEEDBACK_WORKBOOK_COLUMNS,
        beforePage: auditRows(request, patientAccess),
        pages: feedback.all(callerOf(request), request.query),
      }),
  );

  app.post(
    '/api/feedbackResponses/score',
    {
      config: { roles: ANSWERERS },
      schema: {
        tags,
        summary: 'Score a survey (the web answer)',
        description:
          'The patient answers their own survey (404 for another’s), or staff record what the patient told them. The score is recorded once: the same score again answers the survey as it is, another one 409 (the first stands). ' +
          'It earns the answer an SMS score does: a promoter the tracked link to the facility’s review page, a detractor an apology and the follow-up flag, the others thanks.',
        body: scoreBody,
        response: { 200: feedbackResponse },
      },
    },
    async (request) => {
      const { feedbackRequest, id, ...body } = request.body;
      return toFeedbackResponse(await feedback.score(callerOf(request), { ...body, ...surveyNamed(feedbackRequest, id) }, request.id));
    },
  );

  for (const kind of ['positive', 'negative'] as const) {
    app.post(
      `/api/feedbackResponses/${kind}`,
      {
        config: { roles: ANSWERERS },
        schema: {
          tags,
          summary: `Record a ${kind} comment on a survey`,
          description: `Free text; a later ${kind} comment replaces it. The patient comments on their own survey only (404 otherwise).`,
          body: commentBody,
          response: { 200: feedbackResponse },
        },
      },
      async (request) => {
        const { feedbackRequest, id, comment } = request.body;
        return toFeedbackResponse(
          await feedback.comment(callerOf(request), kind, { comment, ...surveyNamed(feedbackRequest, id) }, request.id),
        );
      },
    );
    app.get(
      `/api/feedbackResponses/${kind}/:id`,
      {
        config: { roles: READERS, readsPatients: patientsInAnswer('patient') },
        schema: {
          tags,
          summary: `A survey's ${kind} comment`,
          description: `The survey with its ${kind} comment; 404 when it has none or is not the organization's.`,
          params: idParams,
          response: { 200: feedbackResponse },
        },
      },
      async (request) => toFeedbackResponse(await feedback.commented(callerOf(request), kind, request.params.id)),
    );
  }

  app.get(
    '/api/feedbackResponses/r/:token',
    {
      config: { roles: 'public' },
      schema: {
        tags,
        summary: 'Open a review link (tracked redirect)',
        description:
          'The link texted to a promoter. Records the survey’s first opening (reports/clicks) and answers 302 to the facility’s review page; an unknown token answers 404. The token names the survey and nothing about the patient.',
        params: reviewTokenParams,
      },
    },
    async (request, reply) => {
      const target = await feedback.click(request.params.token);
      if (!target) throw new HttpProblem(404, 'not-found', 'No such review link.');
      return reply.redirect(target, 302);
    },
  );
}
