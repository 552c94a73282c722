import { randomBytes, randomUUID } from 'node:crypto';
import { HttpProblem, type Identity } from '@pep/service-kit';
import type { Db, MessagingWork, Tx } from './events.js';
import type { Appointment, FeedbackResponse, PatientContact, Prisma, PrismaClient } from './generated/prisma/client.js';
import { SYSTEM_USER } from './reminder-planning.handlers.js';
import { raiseNotification } from './notification.service.js';
import { contextFor, facilityOrOrganizationUrl, render, variablesOf, wordingFor } from './templates.js';
import { checkPlaceFilters } from './references.js';

/** Key of the one-question NPS text sent after a visit. */
export const FEEDBACK_REQUEST = 'feedback-request';
/** Key of the answer to a promoter: thanks and the tracked link to the facility's review page. */
export const FEEDBACK_PROMOTER = 'feedback-promoter';
/** Key of the thanks to a passive, and to a promoter of a facility with no review page. */
export const FEEDBACK_THANKS = 'feedback-thanks';
/** Key of the apology to a detractor. */
export const FEEDBACK_DETRACTOR = 'feedback-detractor';

/** Path of the tracked link to a review page; the token names one survey. */
export const REVIEW_LINK_PATH = '/api/feedbackResponses/r';

/** How a score is read: 9–10 promoters, 7–8 passives, 0–6 detractors (the product's thresholds). */
export type FeedbackCategory = 'promoter' | 'passive' | 'detractor';

/** The category of a score 0–10. */
export function categoryOf(score: number): FeedbackCategory {
  return score >= 9 ? 'promoter' : score >= 7 ? 'passive' : 'detractor';
}

/**
 * The score an SMS reply gives, or null when it is not one. Digits only, 0 to 10, with spaces, trailing punctuation
 * ("10!", "9.") and an out-of-ten ("8/10") allowed; words ("ten") are not read: they are rare, and "one" or "no"
 * must not become a score by accident.
 */
export function scoreOf(body: string): number | null {
  const match = /^(\d{1,2})(?:\s*\/\s*10)?$/.exec(
    body
      .trim()
      .replace(/[.!?,;:'"]+$/g, '')
      .trim(),
  );
  if (!match) return null;
  const score = Number(match[1]);
  return score <= 10 ? score : null;
}

/**
 * NPS as the product reports it: the percentage of promoters minus that of detractors among answered surveys, an
 * integer from −100 to 100, halves rounded away from zero; null when nothing was answered.
 */
export function npsOf(counts: { promoters: number; detractors: number; answered: number }): number | null {
  if (counts.answered === 0) return null;
  const exact = ((counts.promoters - counts.detractors) * 100) / counts.answered;
  return Math.sign(exact) * Math.round(Math.abs(exact));
}

/** A survey an SMS reply answers, and the score it gives. */
export interface FeedbackReply {
  response: FeedbackResponse;
  score: number;
}

/** What recording a score did: `recorded` false when the survey already had one (nothing changed). */
export interface ScoreOutcome {
  recorded: boolean;
  response: FeedbackResponse;
}

/** Filters of the lists and reports. */
export interface FeedbackFilters {
  from?: string | undefined;
  to?: string | undefined;
  facility?: string | undefined;
  provider?: string | undefined;
  category?: FeedbackCategory | undefined;
  followUpRequired?: 'true' | 'false' | undefined;
  answered?: 'true' | 'false' | undefined;
}

/** Counts of answered surveys by category. */
export interface NpsCounts {
  answered: number;
  promoters: number;
  passives: number;
  detractors: number;
}

/** One group of the NPS report by facility, provider or month. */
export interface NpsGroup extends NpsCounts {
  key: string | null;
  name: string | null;
  nps: number | null;
}

/** The survey a request names, and the field that named it (a 404 names it). */
export interface SurveyRef {
  id: string;
  field: string;
}

/** What the NPS reports group by. */
export type NpsGrouping = 'facility' | 'provider' | 'month';

const toCounts = (row: {
  answered: bigint | number;
  promoters: bigint | number;
  passives: bigint | number;
  detractors: bigint | number;
}) => ({
  answered: Number(row.answered),
  promoters: Number(row.promoters),
  passives: Number(row.passives),
  detractors: Number(row.detractors),
});

/**
 * Net Promoter surveys after visits: the one-question text ({@link requestFeedback}, sent by the dispatcher as a
 * `feedback` reminder), the score given by SMS reply or on the web (recorded once), the answer it earns (a promoter
 * the tracked link to the facility's review page, a detractor an apology and a follow-up flag for staff, the others
 * thanks, each a `feedback` reminder sent at once), comments, clicks and the NPS reports.
 */
export class FeedbackService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: MessagingWork,
    private readonly clock: () => Date,
    /** The platform's public base URL, without a trailing slash: review links are built on it. */
    private readonly publicUrl: string,
    /** Wakes the dispatcher after a commit that planned a text due now. */
    readonly wake: () => void,
  ) {}

  /**
   * Plans the NPS text about a visit, inside the caller's transaction: a `feedback` reminder due now (the dispatcher
   * sends it in the allowed hours, never to a patient who must not be contacted) and the survey it asks. One survey
   * per appointment: asking again answers the first. Null for an appointment cancelled or deleted. The caller wakes
   * the dispatcher after its commit ({@link wake}).
   */
  async requestFeedback(tx: Tx, appointment: Appointment): Promise<FeedbackResponse | null> {
    if (appointment.deleted || appointment.status === 'cancelled') return null;
    const { organization } = appointment;
    const earlier = await tx.feedbackResponse.findFirst({ where: { organization, appointment: appointment.id } });
    if (earlier) return earlier;
    const reminder = await tx.reminder.create({
      data: {
        id: randomUUID(),
        organization,
        appointment: appointment.id,
        patient: appointment.patient,
        provider: appointment.provider,
        facility: appointment.facility,
        type: 'feedback',
        sendAt: this.clock(),
        messageTemplate: FEEDBACK_REQUEST,
        createdBy: SYSTEM_USER,
        updatedBy: SYSTEM_USER,
      },
    });
    return tx.feedbackResponse.create({
      data: {
        id: randomUUID(),
        organization,
        patient: appointment.patient,
        appointment: appointment.id,
        facility: appointment.facility,
        provider: appointment.provider,
        reminder: reminder.id,
        createdBy: SYSTEM_USER,
        updatedBy: SYSTEM_USER,
      },
    });
  }

  /**
   * {@link requestFeedback} in a unit of work of its own, then wakes the dispatcher: asking about a visit from outside
   * a handler (an operator's tool). Null when messaging has no such appointment of the organization, or it was
   * cancelled.
   */
  async requestFeedbackOn(organization: string, appointment: string, correlationId: string): Promise<FeedbackResponse | null> {
    const response = await this.work.run({ correlationId }, async (tx) => {
      const visit = await tx.appointment.findFirst({ where: { id: appointment, organization } });
      return visit ? this.requestFeedback(tx, visit) : null;
    });
    if (response) this.wake();
    return response;
  }

  /**
   * The survey an SMS reply answers: when the patient's latest automated text (reminders, offers, referral outreach
   * and surveys, as replies are linked everywhere) was a survey and the reply is a score. Null otherwise, and then the
   * reply is read as any other.
   */
  async replyOf(db: Db, contact: PatientContact, body: string): Promise<FeedbackReply | null> {
    const score = scoreOf(body);
    if (score === null) return null;
    const latest = await db.message.findFirst({
      where: {
        organization: contact.organization,
        patient: contact.id,
        type: 'outbound',
        automated: true,
        key: { in: ['reminder', 'offer', 'referral-outreach', FEEDBACK_REQUEST] },
      },
      orderBy: { createdAt: 'desc' },
      select: { key: true, reminder: true },
    });
    if (latest?.key !== FEEDBACK_REQUEST || !latest.reminder) return null;
    const response = await db.feedbackResponse.findFirst({ where: { reminder: latest.reminder, organization: contact.organization } });
    return response ? { response, score } : null;
  }

  /**
   * Records a survey's score, once: a survey already answered changes nothing (`recorded` false). Plans the answer
   * the score earns, at once and even in quiet hours (the patient just wrote): a promoter the tracked link to the
   * review page of the visit's facility (else the organization's; thanks only when neither has one), a detractor an
   * apology, with the survey flagged for staff to follow up, a passive thanks. A comment is kept as positive
   * (promoters, passives) or negative (detractors).
   */
  async recordScore(
    tx: Tx,
    response: FeedbackResponse,
    input: { score: number; channel: 'sms' | 'web'; reply?: string | null; comment?: string | undefined; by: string },
    now: Date,
  ): Promise<ScoreOutcome> {
    const { organization } = response;
    const category = categoryOf(input.score);
    const link = category === 'promoter' ? await this.reviewUrlOf(tx, organization, response.facility) : null;
    const token = link ? randomBytes(18).toString('base64url') : null;
    const comment = input.comment
      ? category === 'detractor'
        ? { negativeComment: input.comment }
        : { positiveComment: input.comment }
      : {};
    const { count } = await tx.feedbackResponse.updateMany({
      where: { id: response.id, organization, score: null },
      data: {
        score: input.score,
        category,
        answeredAt: now,
        channel: input.channel,
        reply: input.reply ?? null,
        reviewLink: link,
        reviewToken: token,
        followUpRequired: category === 'detractor',
        ...comment,
        updatedBy: input.by,
      },
    });
    const current = (await tx.feedbackResponse.findFirst({ where: { id: response.id, organization } }))!;
    if (count === 0) return { recorded: false, response: current };
    // Staff hear of a detractor at once; the text names no patient, the survey and patient ids lead to them.
    if (category === 'detractor')
      await raiseNotification(tx, {
        organization,
        type: 'feedback.detractor',
        ref: 'feedback-response',
        refId: response.id,
        patient: response.patient,
        facility: response.facility,
        provider: response.provider,
        title: 'Detractor: follow up',
        body: `A patient rated their visit ${input.score} out of 10 and was told the clinic will contact them.`,
      });
    const key = category === 'detractor' ? FEEDBACK_DETRACTOR : token ? FEEDBACK_PROMOTER : FEEDBACK_THANKS;
    const contact = await tx.patientContact.findFirst({ where: { id: response.patient, organization } });
    const language = contact?.language ?? 'en';
    const wording = await wordingFor(tx, organization, key, language);
    const variables = {
      ...variablesOf(
        await contextFor(tx, organization, { patient: response.patient, appointment: response.appointment }, [wording?.text]),
        language,
      ),
      'review.link': token ? `${this.publicUrl}${REVIEW_LINK_PATH}/${token}` : '',
    };
    await tx.reminder.create({
      data: {
        id: randomUUID(),
        organization,
        appointment: response.appointment,
        patient: response.patient,
        provider: response.provider,
        facility: response.facility,
        type: 'feedback',
        sendAt: now,
        // An answer to what the patient just did: not held for quiet hours or spaced after the survey.
        forcedTime: true,
        messageTemplate: key,
        // Rendered now: the link names this survey, which the dispatcher's variables do not know.
        text: render(wording?.text ?? '', variables),
        createdBy: SYSTEM_USER,
        updatedBy: SYSTEM_USER,
      },
    });
    return { recorded: true, response: current };
  }

  /**
   * A score given on the web (or told to staff): recorded once. The same score again answers the survey as it is; a
   * different one answers 409, the first score standing. A patient may answer only their own survey (404 otherwise).
   */
  async score(identity: Identity, body: SurveyRef & { score: number; comment?: string | undefined }, correlationId: string) {
    const outcome = await this.work.run({ correlationId }, async (tx) => {
      const response = await this.surveyOf(tx, identity, body.id, body.field);
      return this.recordScore(tx, response, { score: body.score, channel: 'web', comment: body.comment, by: identity.user }, this.clock());
    });
    if (outcome.recorded) this.wake();
    else if (outcome.response.score !== body.score)
      throw new HttpProblem(409, 'already-answered', 'The survey was already answered with another score; the first score stands.', {
        errors: [{ field: 'body.score', message: `already answered with ${outcome.response.score}` }],
      });
    return outcome.response;
  }

  /** Records a free-text comment on a survey, positive or negative; a later one of the same kind replaces it. */
  async comment(identity: Identity, kind: 'positive' | 'negative', body: SurveyRef & { comment: string }, correlationId: string) {
    return this.work.run({ correlationId }, async (tx) => {
      const response = await this.surveyOf(tx, identity, body.id, body.field);
      await tx.feedbackResponse.updateMany({
        where: { id: response.id, organization: identity.organization },
        data: {
          ...(kind === 'positive' ? { positiveComment: body.comment } : { negativeComment: body.comment }),
          updatedBy: identity.user,
        },
      });
      return (await tx.feedbackResponse.findFirst({ where: { id: response.id, organization: identity.organization } }))!;
    });
  }

  /** A survey of the caller's organization that has a comment of the kind; 404 otherwise. */
  async commented(identity: Identity, kind: 'positive' | 'negative', id: string): Promise<FeedbackResponse> {
    const response = await this.prisma.feedbackResponse.findFirst({ where: { id, organization: identity.organization, deleted: false } });
    if (!response || (kind === 'positive' ? response.positiveComment : response.negativeComment) === null)
      throw new HttpProblem(404, 'not-found', `No ${kind} comment on such a survey in your organization.`);
    return response;
  }

  /** One page of the organization's surveys, the latest sent first. */
  async list(identity: Identity, filters: FeedbackFilters, page: { page: number; limit: number }) {
    await checkPlaceFilters(this.prisma, identity.organization, filters);
    const where = this.whereOf(identity, filters);
    const [rows, total] = await Promise.all([
      this.prisma.feedbackResponse.findMany({
        where,
        orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
        skip: (page.page - 1) * page.limit,
        take: page.limit,
      }),
      this.prisma.feedbackResponse.count({ where }),
    ]);
    return { rows, total };
  }

  /** Every matching survey, oldest first, a page at a time (the workbook and findAll read them so). */
  async *all(identity: Identity, filters: FeedbackFilters, pageSize = 500): AsyncGenerator<FeedbackResponse[]> {
    await checkPlaceFilters(this.prisma, identity.organization, filters);
    const where = this.whereOf(identity, filters);
    let after: { createdAt: Date; id: string } | null = null;
    for (;;) {
      const rows: FeedbackResponse[] = await this.prisma.feedbackResponse.findMany({
        where: after
          ? { AND: [where, { OR: [{ createdAt: { gt: after.createdAt } }, { createdAt: after.createdAt, id: { gt: after.id } }] }] }
          : where,
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        take: pageSize,
      });
      if (rows.length === 0) return;
      yield rows;
      if (rows.length < pageSize) return;
      const last = rows[rows.length - 1]!;
      after = { createdAt: last.createdAt, id: last.id };
    }
  }

  /** The organization's NPS over the surveys answered in the period. */
  async npsScore(identity: Identity, filters: FeedbackFilters): Promise<NpsCounts & { nps: number | null }> {
    const [row] = await this.grouped(identity, filters, null);
    const counts = row ? toCounts(row) : { answered: 0, promoters: 0, passives: 0, detractors: 0 };
    return { ...counts, nps: npsOf(counts) };
  }

  /** NPS per facility, provider or month (UTC) of the surveys answered in the period: months in order, else the largest groups first, then by name. */
  async npsScores(identity: Identity, filters: FeedbackFilters, by: NpsGrouping): Promise<NpsGroup[]> {
    const rows = await this.grouped(identity, filters, by);
    return rows.map((row) => {
      const counts = toCounts(row);
      return { key: row.key, name: row.name, ...counts, nps: npsOf(counts) };
    });
  }

  /** Counts of the period: surveys sent and answered, by category, waiting for follow-up, review links sent and opened. */
  async summary(identity: Identity, filters: FeedbackFilters) {
    await checkPlaceFilters(this.prisma, identity.organization, filters);
    const { sql, params } = this.sqlWhere(identity, { ...filters, category: undefined, answered: undefined }, 'created_at');
    const [row] = await this.prisma.$queryRawUnsafe<Array<Record<string, bigint>>>(
      `SELECT count(*) FILTER (WHERE f."sent_at" IS NOT NULL) AS sent, count(f."score") AS answered,
              count(*) FILTER (WHERE f."category" = 'promoter') AS promoters, count(*) FILTER (WHERE f."category" = 'passive') AS passives,
              count(*) FILTER (WHERE f."category" = 'detractor') AS detractors, count(*) FILTER (WHERE f."follow_up_required") AS "followUpRequired",
              count(f."review_token") AS "linksSent", count(f."review_clicked_at") AS clicked
       FROM "feedback_response" f WHERE ${sql}`,
      ...params,
    );
    const number = (name: string) => Number(row?.[name] ?? 0);
    const counts = {
      answered: number('answered'),
      promoters: number('promoters'),
      passives: number('passives'),
      detractors: number('detractors'),
    };
    return {
      sent: number('sent'),
      ...counts,
      responseRate: number('sent') === 0 ? null : Math.round((counts.answered * 100) / number('sent')),
      nps: npsOf(counts),
      followUpRequired: number('followUpRequired'),
      reviewLinksSent: number('linksSent'),
      reviewLinksOpened: number('clicked'),
    };
  }

  /** Review links sent to promoters answering in the period and how many were opened, in all and per facility. */
  async clicks(identity: Identity, filters: FeedbackFilters) {
    await checkPlaceFilters(this.prisma, identity.organization, filters);
    const { sql, params } = this.sqlWhere(identity, { ...filters, category: undefined }, 'answered_at');
    const rows = await this.prisma.$queryRawUnsafe<Array<{ facility: string | null; name: string | null; sent: bigint; opened: bigint }>>(
      `SELECT f."facility", fa."name", count(*) AS sent, count(f."review_clicked_at") AS opened
       FROM "feedback_response" f LEFT JOIN "facility" fa ON fa."id" = f."facility" AND fa."organization" = f."organization"
       WHERE ${sql} AND f."review_token" IS NOT NULL
       GROUP BY f."facility", fa."name" ORDER BY count(*) DESC, f."facility"`,
      ...params,
    );
    const byFacility = rows.map((row) => ({ facility: row.facility, name: row.name, sent: Number(row.sent), opened: Number(row.opened) }));
    const sent = byFacility.reduce((sum, row) => sum + row.sent, 0);
    const opened = byFacility.reduce((sum, row) => sum + row.opened, 0);
    return { sent, opened, openRate: sent === 0 ? null : Math.round((opened * 100) / sent), byFacility };
  }

  /**
   * Follows a tracked review link: the survey's first opening is recorded (later ones change nothing), and the answer
   * is the review page. Null for a token no survey has.
   */
  async click(token: string): Promise<string | null> {
    const response = await this.prisma.feedbackResponse.findUnique({ where: { reviewToken: token } });
    if (!response?.reviewLink || response.deleted) return null;
    await this.prisma.feedbackResponse.updateMany({
      where: { id: response.id, reviewClickedAt: null },
      data: { reviewClickedAt: this.clock(), updatedBy: 'patient' },
    });
    return response.reviewLink;
  }

  /** The review page of a facility, else of the organization; null when neither set one. */
  private async reviewUrlOf(db: Db, organization: string, facility: string | null): Promise<string | null> {
    const links = await db.reviewLink.findMany({
      where: { organization, ref: { in: facility ? [facility, organization] : [organization] }, url: { not: null } },
    });
    return facilityOrOrganizationUrl(links, organization, facility);
  }

  /** The survey a caller may answer or comment on: one of the organization's, and a patient's own; 404 naming `field` otherwise. */
  private async surveyOf(db: Db, identity: Identity, id: string, field: string): Promise<FeedbackResponse> {
    const response = await db.feedbackResponse.findFirst({ where: { id, organization: identity.organization, deleted: false } });
    const patientOnly = identity.roles.every((role) => role === 'patient');
    if (!response || (patientOnly && response.patient !== identity.user))
      throw new HttpProblem(404, 'not-found', 'No such survey in your organization.', {
        errors: [{ field, message: 'no such survey in your organization' }],
      });
    return response;
  }

  private whereOf(identity: Identity, filters: FeedbackFilters): Prisma.FeedbackResponseWhereInput {
    const answeredAt = {
      ...(filters.from ? { gte: new Date(filters.from) } : {}),
      ...(filters.to ? { lt: new Date(filters.to) } : {}),
    };
    return {
      organization: identity.organization,
      deleted: false,
      ...(filters.facility ? { facility: filters.facility } : {}),
      ...(filters.provider ? { provider: filters.provider } : {}),
      ...(filters.category ? { category: filters.category } : {}),
      ...(filters.followUpRequired ? { followUpRequired: filters.followUpRequired === 'true' } : {}),
      ...(filters.answered === 'true' ? { score: { not: null } } : filters.answered === 'false' ? { score: null } : {}),
      ...(filters.from || filters.to ? { answeredAt } : {}),
    };
  }

  /** The SQL condition of the filters on alias f, the period read on `column`, with its parameters. */
  private sqlWhere(identity: Identity, filters: FeedbackFilters, column: 'answered_at' | 'created_at') {
    const params: unknown[] = [identity.organization];
    const parts = ['f."organization" = $1::uuid', 'NOT f."deleted"'];
    const add = (condition: (n: number) => string, value: unknown) => {
      params.push(value);
      parts.push(condition(params.length));
    };
    if (filters.from) add((n) => `f."${column}" >= $${n}::timestamptz`, filters.from);
    if (filters.to) add((n) => `f."${column}" < $${n}::timestamptz`, filters.to);
    if (filters.facility) add((n) => `f."facility" = $${n}::uuid`, filters.facility);
    if (filters.provider) add((n) => `f."provider" = $${n}::uuid`, filters.provider);
    if (filters.category) add((n) => `f."category" = $${n}::"feedback_category"`, filters.category);
    if (filters.followUpRequired) add((n) => `f."follow_up_required" = $${n}::boolean`, filters.followUpRequired === 'true');
    return { sql: parts.join(' AND '), params };
  }

  /** Answered surveys of the period counted by category, in one group or grouped by facility, provider or month. */
  private async grouped(identity: Identity, filters: FeedbackFilters, by: NpsGrouping | null) {
    await checkPlaceFilters(this.prisma, identity.organization, filters);
    const { sql, params } = this.sqlWhere(identity, { ...filters, category: undefined }, 'answered_at');
    const key =
      by === 'facility'
        ? 'f."facility"::text'
        : by === 'provider'
          ? 'f."provider"::text'
          : by === 'month'
            ? `to_char(f."answered_at" AT TIME ZONE 'UTC', 'YYYY-MM')`
            : 'NULL::text';
    const name = by === 'facility' ? 'fa."name"' : by === 'provider' ? 'p."name"' : 'NULL::text';
    const joins =
      by === 'facility'
        ? 'LEFT JOIN "facility" fa ON fa."id" = f."facility" AND fa."organization" = f."organization"'
        : by === 'provider'
          ? 'LEFT JOIN "provider" p ON p."id" = f."provider" AND p."organization" = f."organization"'
          : '';
    return this.prisma.$queryRawUnsafe<
      Array<{ key: string | null; name: string | null; answered: bigint; promoters: bigint; passives: bigint; detractors: bigint }>
    >(
      `SELECT ${key} AS key, ${name} AS name, count(*) AS answered,
              count(*) FILTER (WHERE f."category" = 'promoter') AS promoters,
              count(*) FILTER (WHERE f."category" = 'passive') AS passives,
              count(*) FILTER (WHERE f."category" = 'detractor') AS detractors
       FROM "feedback_response" f ${joins}
       WHERE ${sql} AND f."score" IS NOT NULL
       GROUP BY 1, 2 ORDER BY ${by === 'month' ? '1' : 'count(*) DESC, 2, 1'}`,
      ...params,
    );
  }
}
