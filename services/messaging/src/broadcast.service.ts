import { randomUUID } from 'node:crypto';
import { HttpProblem, type Identity, notFound, pageOf, pageWindow } from '@pep/service-kit';
import {
  BROADCAST_VARIABLES,
  type AudiencePreviewQuery,
  type BroadcastAudience,
  type BroadcastListQuery,
  type BroadcastResponse,
  type BroadcastStats,
  type BulkActionBody,
  type CreateBroadcastBody,
  type UpdateBroadcastBody,
} from './broadcast.schemas.js';
import type { Broadcast, Prisma, PrismaClient } from './generated/prisma/client.js';
import { invalidFields, recordView, type Page } from './schemas.js';
import { messagingSettings } from './settings.js';

/** The audience filter as stored and as the preview takes it. */
export type AudienceFilter = BroadcastAudience;

/**
 * SQL conditions selecting an organization's patients in an audience (`pc` = patient_contact) and their appointments
 * that put them in it (`a` = appointment), with their parameters numbered from `first`.
 */
export function audienceWhere(organization: string, audience: AudienceFilter, first: number) {
  const $ = (index: number) => `$${first + index}`;
  const byAppointment = Boolean(
    audience.facility || audience.provider || audience.appointmentType || audience.appointmentFrom || audience.appointmentTo,
  );
  const appointment =
    `a."organization" = pc."organization" AND a."patient" = pc."id" AND NOT a."deleted" AND a."status" <> 'cancelled'` +
    ` AND (${$(2)}::uuid IS NULL OR a."facility" = ${$(2)}::uuid) AND (${$(3)}::uuid IS NULL OR a."provider" = ${$(3)}::uuid)` +
    ` AND (${$(4)}::timestamptz IS NULL OR a."date" >= ${$(4)}::timestamptz) AND (${$(5)}::timestamptz IS NULL OR a."date" < ${$(5)}::timestamptz)` +
    ` AND (${$(7)}::uuid IS NULL OR a."type" = ${$(7)}::uuid)`;
  const patient =
    `pc."organization" = ${$(0)}::uuid AND NOT pc."deleted" AND pc."merged_into" IS NULL AND (${$(1)}::text IS NULL OR pc."language" = ${$(1)}::text)` +
    ` AND (${$(8)}::text[] IS NULL OR pc."tags" && ${$(8)}::text[])` +
    ` AND (NOT ${$(6)}::boolean OR EXISTS (SELECT 1 FROM "appointment" a WHERE ${appointment}))`;
  return {
    patient,
    appointment,
    params: [
      organization,
      audience.language ?? null,
      audience.facility ?? null,
      audience.provider ?? null,
      audience.appointmentFrom ?? null,
      audience.appointmentTo ?? null,
      byAppointment,
      audience.appointmentType ?? null,
      audience.tags ?? null,
    ],
  };
}

/** One recipient of a broadcast with its outcome, for the workbook. */
export interface RecipientRow {
  patient: string;
  firstname: string | null;
  lastname: string | null;
  channel: string | null;
  to: string | null;
  status: string;
  statusReason: string | null;
  sentAt: Date | null;
  messageStatus: string | null;
  replied: boolean;
}

const EMPTY_STATS: BroadcastStats = {
  total: 0,
  queued: 0,
  sent: 0,
  delivered: 0,
  failed: 0,
  skipped: 0,
  cancelled: 0,
  replied: 0,
  optedOut: 0,
};
const notChangeable = () =>
  new HttpProblem(
    409,
    'broadcast-started',
    'Only a broadcast that has not started sending can be changed (cancel it instead), and not while another change of it lands: read it again and retry.',
  );

/** Broadcasts: one text to many patients (issue 14), reviewed, previewed, cancelled; sending is the broadcast sender's. */
export class BroadcastService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly clock: () => Date,
    /** Called after a broadcast may have become due, so the sender starts it now rather than at its next poll. */
    private readonly due: () => void,
  ) {}

  /** One page of the organization's broadcasts, newest first. */
  async list(identity: Identity, query: BroadcastListQuery): Promise<Page<BroadcastResponse>> {
    const where = whereOf(identity.organization, query);
    const [rows, total] = await Promise.all([
      this.prisma.broadcast.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.broadcast.count({ where }),
    ]);
    return pageOf(await this.withStats(rows), query, total);
  }

  /** How many of the organization's broadcasts match. */
  async count(identity: Identity, query: Omit<BroadcastListQuery, 'page' | 'limit'>): Promise<{ count: number }> {
    return { count: await this.prisma.broadcast.count({ where: whereOf(identity.organization, query) }) };
  }

  /** A broadcast of the caller's organization with its live stats; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<BroadcastResponse> {
    const [view] = await this.withStats([await this.own(identity, id)]);
    return view!;
  }

  /** Who an audience reaches: how many, and one page of them (names only, and whether they may be contacted). */
  async preview(identity: Identity, query: AudiencePreviewQuery) {
    await this.checkReferences(identity, query, [], 'querystring', []);
    const where = audienceWhere(identity.organization, query, 1);
    const [rows, [count]] = await Promise.all([
      this.prisma.$queryRawUnsafe<Array<{ id: string; firstname: string; lastname: string; language: string; reachable: boolean }>>(
        `SELECT pc."id", pc."firstname", pc."lastname", pc."language", NOT pc."do_not_contact" AND pc."opted_out_at" IS NULL AS "reachable"
         FROM "patient_contact" pc WHERE ${where.patient} ORDER BY pc."lastname", pc."firstname", pc."id" OFFSET $10 LIMIT $11`,
        ...where.params,
        (query.page - 1) * query.limit,
        query.limit,
      ),
      this.prisma.$queryRawUnsafe<Array<{ total: number }>>(
        `SELECT count(*)::int AS "total" FROM "patient_contact" pc WHERE ${where.patient}`,
        ...where.params,
      ),
    ]);
    const patients = rows.map((row) => ({
      _id: row.id,
      firstname: row.firstname,
      lastname: row.lastname,
      language: row.language,
      reachable: row.reachable,
    }));
    return pageOf(patients, query, count?.total ?? 0);
  }

  /**
   * Creates a broadcast. Its references (audience facility and provider, the uploaded patients) must be the
   * organization's, else 400 naming the field; it needs a second user's approval when the organization says so.
   */
  async create(identity: Identity, body: CreateBroadcastBody): Promise<BroadcastResponse> {
    checkVariables(body.message, 'body.message');
    const listed = body.patients ?? body.recipients?.map((row) => row.patient) ?? [];
    const patients = [...new Set(listed)];
    await this.checkReferences(identity, body.audience, patients, 'body', listed, body.patients ? 'patients' : 'recipients');
    const settings = await messagingSettings(this.prisma, identity.organization);
    const broadcast = await this.prisma.broadcast.create({
      data: {
        id: randomUUID(),
        organization: identity.organization,
        title: body.title,
        type: body.type,
        message: body.message,
        channels: body.channels ?? ['sms'],
        audience: body.type === 'scheduled' ? (body.audience ?? {}) : undefined,
        patients,
        sendAt: new Date(body.sendAt),
        throttle: body.configuration?.throttle ?? true,
        reviewRequired: settings.broadcastReviewRequired,
        createdBy: identity.user,
        updatedBy: identity.user,
      },
    });
    if (this.startsNow(broadcast)) this.due();
    return this.get(identity, broadcast.id);
  }

  /** Changes a broadcast that has not started, or approves it (`review.status: approved`, by another user than its creator). */
  async update(identity: Identity, id: string, body: UpdateBroadcastBody): Promise<BroadcastResponse> {
    if (body.message) checkVariables(body.message, 'body.message');
    if (body.audience) await this.checkReferences(identity, body.audience, [], 'body', []);
    const current = await this.own(identity, id);
    if (body.audience && current.type !== 'scheduled')
      throw invalidFields([{ field: 'body.audience', message: 'only for type scheduled' }]);
    const data: Prisma.BroadcastUpdateManyMutationInput = { updatedBy: identity.user };
    if (body.title !== undefined) data.title = body.title;
    if (body.message !== undefined) data.message = body.message;
    if (body.channels !== undefined) data.channels = body.channels;
    if (body.audience !== undefined) data.audience = body.audience;
    if (body.sendAt !== undefined) data.sendAt = new Date(body.sendAt);
    if (body.configuration?.throttle !== undefined) data.throttle = body.configuration.throttle;
    // What was approved is what goes: a change of what is sent, to whom or when withdraws an approval.
    const contentChanged = [body.message, body.channels, body.audience, body.sendAt].some((field) => field !== undefined);
    if (contentChanged && current.approvedAt) Object.assign(data, { approvedBy: null, approvedAt: null });
    if (body.review) {
      approvable(identity, current);
      Object.assign(data, { approvedBy: identity.user, approvedAt: this.clock() });
    }
    // Applies only while no sender has started it, nor anyone else changed it, since it was read.
    const changed = await this.prisma.broadcast.updateMany({
      where: {
        id,
        organization: identity.organization,
        deleted: false,
        processingStatus: 'pre_processing',
        cancelledAt: null,
        updatedAt: current.updatedAt,
      },
      data,
    });
    if (changed.count === 0) throw notChangeable();
    const updated = await this.own(identity, id);
    if (this.startsNow(updated)) this.due();
    return this.get(identity, id);
  }

  /** Deletes a broadcast softly; what it has not sent yet never goes. */
  async remove(identity: Identity, id: string): Promise<BroadcastResponse> {
    await this.own(identity, id);
    const view = await this.prisma.$transaction(async (tx) => {
      await this.stopSending(tx, identity, [id], 'deleted');
      await tx.broadcast.update({ where: { id }, data: { deleted: true, updatedBy: identity.user } });
      return tx.broadcast.findUniqueOrThrow({ where: { id } });
    });
    const [answer] = await this.withStats([view]);
    return answer!;
  }

  /**
   * One action on many broadcasts, all or none: every id must be the organization's (404 naming the id otherwise), and
   * one that cannot take the action (approving one's own, sending one not approved, changing one already done)
   * answers 409 naming it, changing nothing.
   */
  async bulk(identity: Identity, body: BulkActionBody): Promise<{ response: BroadcastResponse[] }> {
    const ids = [...new Set(body.ids)];
    const rows = await this.prisma.$transaction(async (tx) => {
      const found = await tx.broadcast.findMany({ where: { id: { in: ids }, organization: identity.organization, deleted: false } });
      const missing = ids.find((id) => !found.some((row) => row.id === id));
      if (missing)
        throw new HttpProblem(404, 'not-found', 'broadcast not found', {
          errors: [{ field: 'body.ids', message: `no broadcast ${missing} in your organization` }],
        });
      const now = this.clock();
      for (const broadcast of found) {
        if (body.action === 'approve') approvable(identity, broadcast);
        if (body.action === 'send') {
          if (broadcast.reviewRequired && !broadcast.approvedAt)
            throw new HttpProblem(
              409,
              'broadcast-not-approved',
              `Broadcast ${broadcast.id} needs a second user's approval before it sends.`,
            );
        }
        if (
          (body.action === 'approve' || body.action === 'send') &&
          (broadcast.processingStatus !== 'pre_processing' || broadcast.cancelledAt)
        )
          throw new HttpProblem(409, 'broadcast-started', `Broadcast ${broadcast.id} has started or was cancelled.`);
      }
      const where = { id: { in: ids }, organization: identity.organization };
      // Written only over the state just checked: a cancel, a sender's start or another approval in between wins, and
      // this action answers 409 with nothing changed (the transaction rolls back).
      const unchanged = {
        ...where,
        deleted: false,
        processingStatus: 'pre_processing' as const,
        cancelledAt: null,
        updatedAt: { in: found.map((row) => row.updatedAt) },
      };
      const changedMeanwhile = () =>
        new HttpProblem(409, 'broadcast-changed', 'A broadcast changed while this action ran: read them again and retry.');
      if (body.action === 'approve' || body.action === 'send') {
        const data =
          body.action === 'approve'
            ? { approvedBy: identity.user, approvedAt: now, updatedBy: identity.user }
            : { sendAt: now, updatedBy: identity.user };
        const written = await tx.broadcast.updateMany({
          where: { ...unchanged, ...(body.action === 'approve' ? { approvedAt: null } : {}) },
          data,
        });
        if (written.count !== ids.length) throw changedMeanwhile();
      }
      if (body.action === 'cancel' || body.action === 'delete') {
        await this.stopSending(tx, identity, ids, body.action === 'cancel' ? 'cancelled' : 'deleted');
        if (body.action === 'delete') await tx.broadcast.updateMany({ where, data: { deleted: true, updatedBy: identity.user } });
      }
      return tx.broadcast.findMany({ where, orderBy: { createdAt: 'desc' } });
    });
    if (body.action !== 'cancel' && body.action !== 'delete' && rows.some((row) => this.startsNow(row))) this.due();
    return { response: await this.withStats(rows) };
  }

  /** Every recipient of a broadcast of the organization with their outcome, a page at a time (the workbook). */
  async *recipients(identity: Identity, id: string): AsyncGenerator<RecipientRow[]> {
    await this.own(identity, id);
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const rows = await this.prisma.$queryRawUnsafe<Array<RecipientRow & { id: string }>>(
        `SELECT r."id", r."patient", pc."firstname", pc."lastname", r."channel"::text AS "channel", m."to", r."status"::text AS "status",
                r."status_reason" AS "statusReason", r."sent_at" AS "sentAt", m."status"::text AS "messageStatus",
                (r."sent_at" IS NOT NULL AND EXISTS (SELECT 1 FROM "message" i WHERE i."organization" = r."organization" AND i."patient" = r."patient"
                   AND i."type" = 'inbound' AND i."created_at" >= r."sent_at")) AS "replied"
         FROM "broadcast_recipient" r
         LEFT JOIN "patient_contact" pc ON pc."id" = r."patient" AND pc."organization" = r."organization"
         LEFT JOIN "message" m ON m."id" = r."message"
         WHERE r."broadcast" = $1::uuid AND r."id" > $2::uuid ORDER BY r."id" LIMIT 1000`,
        id,
        after,
      );
      if (rows.length === 0) return;
      yield rows;
      after = rows[rows.length - 1]!.id;
      if (rows.length < 1000) return;
    }
  }

  /** Live counts of the broadcasts' recipients, from their rows and their messages. */
  async stats(ids: string[]): Promise<Map<string, BroadcastStats>> {
    if (ids.length === 0) return new Map();
    const rows = await this.prisma.$queryRawUnsafe<Array<BroadcastStats & { broadcast: string }>>(
      `SELECT r."broadcast", count(*)::int AS "total",
         count(*) FILTER (WHERE r."status" IN ('queued', 'claimed'))::int AS "queued",
         count(*) FILTER (WHERE r."status" = 'sent' AND m."status" IS DISTINCT FROM 'undelivered')::int AS "sent",
         count(*) FILTER (WHERE r."status" = 'sent' AND m."status" IN ('delivered', 'opened'))::int AS "delivered",
         count(*) FILTER (WHERE r."status" = 'failed' OR (r."status" = 'sent' AND m."status" = 'undelivered'))::int AS "failed",
         count(*) FILTER (WHERE r."status" IN ('skipped', 'blocked'))::int AS "skipped",
         count(*) FILTER (WHERE r."status" = 'cancelled')::int AS "cancelled",
         count(*) FILTER (WHERE r."status" = 'sent' AND EXISTS (SELECT 1 FROM "message" i WHERE i."organization" = r."organization"
           AND i."patient" = r."patient" AND i."type" = 'inbound' AND i."created_at" >= r."sent_at"))::int AS "replied",
         count(*) FILTER (WHERE r."status" = 'sent' AND pc."opted_out_at" >= r."sent_at")::int AS "optedOut"
       FROM "broadcast_recipient" r
       LEFT JOIN "message" m ON m."id" = r."message"
       LEFT JOIN "patient_contact" pc ON pc."id" = r."patient"
       WHERE r."broadcast" = ANY($1::uuid[]) GROUP BY r."broadcast"`,
      ids,
    );
    return new Map(rows.map(({ broadcast, ...stats }) => [broadcast, stats]));
  }

  private async withStats(rows: Broadcast[]): Promise<BroadcastResponse[]> {
    const stats = await this.stats(rows.map((row) => row.id));
    return rows.map((row) => toBroadcastResponse(row, stats.get(row.id) ?? EMPTY_STATS));
  }

  /** Marks the broadcasts cancelled and every recipient not yet claimed `cancelled`; one being sent right now finishes. */
  private async stopSending(tx: Prisma.TransactionClient, identity: Identity, ids: string[], reason: 'cancelled' | 'deleted') {
    await tx.broadcast.updateMany({
      where: {
        id: { in: ids },
        organization: identity.organization,
        cancelledAt: null,
        processingStatus: { in: ['pre_processing', 'sending_messages'] },
      },
      data: { cancelledAt: this.clock(), cancelledBy: identity.user, updatedBy: identity.user },
    });
    await tx.broadcastRecipient.updateMany({
      where: { broadcast: { in: ids }, organization: identity.organization, status: 'queued' },
      data: { status: 'cancelled', statusReason: reason },
    });
  }

  private startsNow(broadcast: Broadcast): boolean {
    return broadcast.sendAt <= this.clock() && (!broadcast.reviewRequired || broadcast.approvedAt !== null);
  }

  /**
   * 404 naming the fields whose ids are not the organization's: the audience's facility and provider (`in` the body's
   * audience or the query), and the uploaded patients, which messaging must know (their contact is what it sends to).
   */
  private async checkReferences(
    identity: Identity,
    audience: AudienceFilter | undefined,
    patients: string[],
    where: 'body' | 'querystring',
    listed: string[],
    listName: 'patients' | 'recipients' = 'patients',
  ): Promise<void> {
    const organization = identity.organization;
    const [facility, provider, known] = await Promise.all([
      audience?.facility ? this.prisma.facility.findFirst({ where: { id: audience.facility, organization, deleted: false } }) : null,
      audience?.provider ? this.prisma.provider.findFirst({ where: { id: audience.provider, organization, deleted: false } }) : null,
      patients.length > 0
        ? this.prisma.patientContact.findMany({ where: { id: { in: patients }, organization, deleted: false }, select: { id: true } })
        : [],
    ]);
    const errors: Array<{ field: string; message: string }> = [];
    const prefix = where === 'body' ? 'body.audience' : 'querystring';
    if (audience?.facility && !facility) errors.push({ field: `${prefix}.facility`, message: 'no such facility in your organization' });
    if (audience?.provider && !provider) errors.push({ field: `${prefix}.provider`, message: 'no such provider in your organization' });
    const ids = new Set(known.map((row) => row.id));
    const unknown = listed.flatMap((patient, index) => (ids.has(patient) ? [] : [index]));
    if (unknown.length > 0)
      errors.push({
        field: `body.${listName}`,
        message: `no such patient in your organization (entries ${unknown.slice(0, 20).join(', ')}${unknown.length > 20 ? ', …' : ''})`,
      });
    if (errors.length > 0) throw new HttpProblem(404, 'not-found', 'not found', { errors });
  }

  private async own(identity: Identity, id: string): Promise<Broadcast> {
    const broadcast = await this.prisma.broadcast.findFirst({ where: { id, organization: identity.organization, deleted: false } });
    if (!broadcast) throw notFound('broadcast');
    return broadcast;
  }
}

/** Refuses a template variable a broadcast cannot fill, naming the field. */
function checkVariables(message: string, field: string): void {
  const known = new Set<string>(BROADCAST_VARIABLES);
  const unknown = [...message.matchAll(/\{\{\s*([\w.]+)\s*\}\}/g)].map((match) => match[1]!).filter((name) => !known.has(name));
  if (unknown.length > 0)
    throw invalidFields([{ field, message: `unknown template variable ${unknown[0]}; use ${BROADCAST_VARIABLES.join(', ')}` }]);
}

/** A broadcast may be approved by another user than its creator, while it needs approval and has none. */
function approvable(identity: Identity, broadcast: Broadcast): void {
  if (broadcast.createdBy === identity.user)
    throw new HttpProblem(403, 'own-broadcast', `Broadcast ${broadcast.id} must be approved by another user than the one who created it.`);
  if (broadcast.approvedAt) throw new HttpProblem(409, 'broadcast-approved', `Broadcast ${broadcast.id} is already approved.`);
}

function whereOf(organization: string, filters: Omit<BroadcastListQuery, 'page' | 'limit'>): Prisma.BroadcastWhereInput {
  return {
    organization,
    deleted: false,
    ...(filters.type ? { type: filters.type } : {}),
    ...(filters.processingStatus ? { processingStatus: filters.processingStatus.replace(/-/g, '_') as Broadcast['processingStatus'] } : {}),
  };
}

/** A broadcast as the API shows it. */
export function toBroadcastResponse(row: Broadcast, stats: BroadcastStats): BroadcastResponse {
  return {
    ...recordView(row),
    title: row.title,
    type: row.type as BroadcastResponse['type'],
    message: row.message,
    channels: row.channels.filter((channel): channel is 'sms' | 'email' => channel !== 'voice'),
    audience: (row.audience as BroadcastAudience | null) ?? null,
    patients: row.patients,
    sendAt: row.sendAt.toISOString(),
    sentAt: row.sentAt?.toISOString() ?? null,
    configuration: { throttle: row.throttle },
    review: {
      required: row.reviewRequired,
      status: !row.reviewRequired ? 'not-required' : row.approvedAt ? 'approved' : 'pending',
      approver: row.approvedBy,
      approvedAt: row.approvedAt?.toISOString() ?? null,
    },
    processingStatus: row.processingStatus.replace(/_/g, '-') as BroadcastResponse['processingStatus'],
    cancelledAt: row.cancelledAt?.toISOString() ?? null,
    rowCount: row.rowCount,
    stats,
  };
}
