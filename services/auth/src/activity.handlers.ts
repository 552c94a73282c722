import { listEventDefinitions, type EventEnvelope } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { on, type Tx } from './events.js';

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
async function record(event: EventEnvelope<unknown>, tx: Tx): Promise<void> {
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
export function activityBindings(): EventBinding<Tx>[] {
  return listEventDefinitions().map((definition) => on(definition, record));
}
