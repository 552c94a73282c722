import { timestamp } from '@pep/service-kit';
import { z } from 'zod';
import type { FeedbackResponse } from './generated/prisma/client.js';
import { instant, listQuery, recordFields, recordView } from './schemas.js';

const category = z.enum(['promoter', 'passive', 'detractor']);
const flag = z.enum(['true', 'false']);

/** Filters of the feedback lists and reports; the period is read on the answer's time. */
export const feedbackFilters = z.object({
  from: instant.optional().describe('Answered at or after this instant.'),
  to: instant.optional().describe('Answered before this instant.'),
  facility: z.uuid().optional(),
  provider: z.uuid().optional(),
  category: category.optional().describe('9–10 promoter, 7–8 passive, 0–6 detractor.'),
  followUpRequired: flag.optional().describe('Detractors staff have yet to follow up.'),
  answered: flag.optional(),
});

/** Query of the paged feedback lists. */
export const feedbackListQuery = listQuery.extend(feedbackFilters.shape);

/** Query of the NPS report by group. */
export const npsScoresQuery = feedbackFilters.omit({ category: true, answered: true }).extend({
  by: z.enum(['facility', 'provider', 'month']).default('facility').describe('Group by facility, provider or month (UTC, YYYY-MM).'),
});

/** Names the survey: `feedbackRequest` (or its alias `id`). */
const survey = {
  feedbackRequest: z.uuid().optional().describe('The survey (feedback response) id.'),
  id: z.uuid().optional().describe('Alias of feedbackRequest.'),
};
const namesSurvey = (body: { feedbackRequest?: string | undefined; id?: string | undefined }) =>
  body.feedbackRequest !== undefined || body.id !== undefined;
const surveyRequired = { message: 'name the survey: feedbackRequest (or id)', path: ['feedbackRequest'] };

const comment = z.string().trim().min(1).max(2000);

/** Body of POST /api/feedbackResponses/score. */
export const scoreBody = z
  .object({
    ...survey,
    score: z.number().int().min(0).max(10).describe('0 (not at all likely) to 10 (extremely likely).'),
    comment: comment.optional().describe('Kept as the positive comment of a promoter or passive, the negative one of a detractor.'),
  })
  .strict()
  .refine(namesSurvey, surveyRequired);

/** Body of POST /api/feedbackResponses/positive and /negative. */
export const commentBody = z
  .object({ ...survey, comment })
  .strict()
  .refine(namesSurvey, surveyRequired);

/** Path of the tracked review link. */
export const reviewTokenParams = z.object({ token: z.string().regex(/^[A-Za-z0-9_-]{24}$/, 'a review link token') }).strict();

/** A survey after a visit and its answer, as the API shows it. */
export const feedbackResponse = z
  .object({
    ...recordFields,
    patient: z.uuid(),
    appointment: z.uuid(),
    facility: z.uuid().nullable(),
    provider: z.uuid().nullable(),
    reminder: z.uuid().describe('The reminder the survey text went out as.'),
    sentAt: timestamp.nullable(),
    score: z.number().int().nullable(),
    category: category.nullable(),
    answeredAt: timestamp.nullable(),
    channel: z.enum(['sms', 'web']).nullable(),
    positiveComment: z.string().nullable(),
    negativeComment: z.string().nullable(),
    reviewLink: z.string().nullable().describe('The review page a promoter was invited to.'),
    reviewClickedAt: timestamp.nullable().describe('When the promoter first opened the review link.'),
    followUpRequired: z.boolean().describe('A detractor staff have yet to follow up.'),
  })
  .meta({ id: 'FeedbackResponse' });
export type FeedbackResponseView = z.infer<typeof feedbackResponse>;

/** Counts of answered surveys and their NPS. */
export const npsScoreResponse = z.object({
  answered: z.number().int(),
  promoters: z.number().int(),
  passives: z.number().int(),
  detractors: z.number().int(),
  nps: z.number().int().nullable().describe('%promoters − %detractors, −100…100, halves away from zero; null with no answers.'),
});

/** The NPS report by group. */
export const npsScoresResponse = z.object({
  by: z.enum(['facility', 'provider', 'month']),
  response: z.array(
    npsScoreResponse.extend({
      key: z.string().nullable().describe('The facility or provider id, or the month (YYYY-MM).'),
      name: z.string().nullable().describe('The facility’s or provider’s name.'),
    }),
  ),
});

/** The summary report. */
export const feedbackSummaryResponse = npsScoreResponse.extend({
  sent: z.number().int().describe('Surveys sent (by the survey’s creation in the period).'),
  responseRate: z.number().int().nullable().describe('Answered per 100 sent.'),
  followUpRequired: z.number().int(),
  reviewLinksSent: z.number().int(),
  reviewLinksOpened: z.number().int(),
});

/** The review link report. */
export const clicksResponse = z.object({
  sent: z.number().int().describe('Review links sent to promoters answering in the period.'),
  opened: z.number().int(),
  openRate: z.number().int().nullable().describe('Opened per 100 sent.'),
  byFacility: z.array(
    z.object({ facility: z.uuid().nullable(), name: z.string().nullable(), sent: z.number().int(), opened: z.number().int() }),
  ),
});

/** A survey as the API shows it. */
export function toFeedbackResponse(row: FeedbackResponse): FeedbackResponseView {
  return {
    ...recordView(row),
    patient: row.patient,
    appointment: row.appointment,
    facility: row.facility,
    provider: row.provider,
    reminder: row.reminder,
    sentAt: row.sentAt?.toISOString() ?? null,
    score: row.score,
    category: row.category,
    answeredAt: row.answeredAt?.toISOString() ?? null,
    channel: row.channel,
    positiveComment: row.positiveComment,
    negativeComment: row.negativeComment,
    reviewLink: row.reviewLink,
    reviewClickedAt: row.reviewClickedAt?.toISOString() ?? null,
    followUpRequired: row.followUpRequired,
  };
}
