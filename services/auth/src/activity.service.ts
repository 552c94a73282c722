import { listEventDefinitions, type EventEnvelope } from '@pep/contracts';
import { on, type EventBinding, type RawSqlClient } from '@pep/db';
import { type Identity, notFound, pageOf, pageWindow, rootAccountOf } from '@pep/service-kit';
import type { Activity, Prisma, PrismaClient } from './generated/prisma/client.js';
import type { ActivityListQuery, ActivityResponse } from './activity.schemas.js';

/** Consumer group (and inbox name) of the feed. */
export const ACTIVITY_CONSUMER = 'auth.activities';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Status-like fields whose values are short codes, never a person's details.
const STATUS_KEYS = new Set([
  'status',
  'active',
  'deleted',
  'changed',
  'ref',
  'type',
  'doNotContact',
  'classification',
  'reason',
  'channel',
]);
const CODE = /^[\w.:-]{1,64}$/;
const ACTOR_KEYS = ['actor', 'updatedBy', 'createdBy', 'invitedBy', 'user'] as const;

const isCode = (value: unknown) =>
  typeof value === 'boolean' || typeof value === 'number' || (typeof value === 'string' && CODE.test(value));
const isId = (value: unknown) => typeof value === 'string' && UUID.test(value);

/**
 * What the feed keeps of an event's data: ids and status codes only. Anything else (names, phones, e-mails, message
 * bodies, free text) is dropped whatever the event type, so a new event type cannot leak PHI into the feed.
 */
export function summarize(data: unknown): Record<string, unknown> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return {};
  const summary: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    const list = Array.isArray(value) ? value.slice(0, 50) : null;
    if (STATUS_KEYS.has(key) && (list ? list.every(isCode) : isCode(value))) summary[key] = list ?? value;
    else if (list ? list.length > 0 && list.every(isId) : isId(value)) summary[key] = list ?? value;
  }
  return summary;
}

function actorOf(data: unknown): string | null {
  if (typeof data !== 'object' || data === null) return null;
  const record = data as Record<string, unknown>;
  const actor = ACTOR_KEYS.map((key) => record[key]).find(isId);
  return typeof actor === 'string' ? actor : null;
}

/** Records one event in the feed; the row id is the event id, so a second delivery adds nothing. */
async function record(event: EventEnvelope<unknown>, tx: RawSqlClient): Promise<void> {
  await tx.$executeRawUnsafe(
    `INSERT INTO "activity" ("id", "organization", "type", "subject", "actor", "source", "time", "summary")
     VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::timestamptz, $8::jsonb) ON CONFLICT ("id") DO NOTHING`,
    event.id,
    event.organization,
    event.type,
    event.subject,
    actorOf(event.data),
    event.source,
    event.time,
    JSON.stringify(summarize(event.data)),
  );
}

/** A binding for every event type the contracts package registers, each recorded in the feed. */
export function activityBindings(): EventBinding[] {
  return listEventDefinitions().map((definition) => on(definition, record));
}

/** The organization's activity feed: listing, filtering and read flags. */
export class ActivityService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly clock: () => Date,
  ) {}

  /** One page of the caller's organization's activities, newest first. */
  async list(identity: Identity, query: ActivityListQuery) {
    const where: Prisma.ActivityWhereInput = {
      organizationId: identity.organization,
      ...(query.type ? { type: query.type } : {}),
      ...(query.subject ? { subject: query.subject } : {}),
      ...(query.read !== undefined ? { read: query.read === 'true' } : {}),
    };
    const [rows, total] = await Promise.all([
      this.prisma.activity.findMany({ where, orderBy: [{ time: 'desc' }, { id: 'desc' }], ...pageWindow(query) }),
      this.prisma.activity.count({ where }),
    ]);
    return pageOf(rows.map(toResponse), query, total);
  }

  /** Marks an activity of the caller's organization read or unread. */
  async setRead(identity: Identity, id: string, read: boolean): Promise<ActivityResponse> {
    const existing = await this.prisma.activity.findFirst({ where: { id, organizationId: identity.organization } });
    if (!existing) throw notFound('activity');
    if (existing.read === read) return toResponse(existing);
    const updated = await this.prisma.activity.update({
      where: { id },
      data: read ? { read: true, readAt: this.clock(), readBy: identity.user } : { read: false, readAt: null, readBy: null },
    });
    return toResponse(updated);
  }
}

function toResponse(activity: Activity): ActivityResponse {
  return {
    _id: activity.id,
    organization: activity.organizationId,
    user: rootAccountOf(activity.organizationId),
    type: activity.type,
    subject: activity.subject,
    actor: activity.actor,
    source: activity.source,
    time: activity.time.toISOString(),
    summary: activity.summary as Record<string, unknown>,
    read: activity.read,
    readAt: activity.readAt?.toISOString() ?? null,
    readBy: activity.readBy,
  };
}
