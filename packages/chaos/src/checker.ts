import type { FakeSend } from '@pep/testing';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { DATABASE_OWNERS, type DatabaseOwner, type DistributedRuntime } from './runtime.js';
import { OPERATION_KINDS, type Operation, type Workload } from './workload.js';

/** One row of the report: an operation type (or a kind of work the platform does on its own) and what went wrong with it. */
export interface CountRow {
  operation: string;
  attempted: number;
  acknowledged: number;
  /** Acknowledged, but the effect never appeared. */
  lost: number;
  /**
   * One cause, two effects (two appointments for one booking, two texts for one reminder, ...), where the platform
   * could tell: its own work, and requests that carried an Idempotency-Key (or a vendor's message id). Must be 0.
   */
  duplicated: number;
  /**
   * Two effects of one request retried without an Idempotency-Key (its first answer lost): measured, not a failure,
   * since nothing tells the platform the second request is the first one again.
   */
  duplicatedWithoutKey: number;
  /** Operations sent without an Idempotency-Key (the rest carried one, or are webhooks or the platform's own work). */
  withoutKey: number;
  /** Operations that took more than one request, with a key and without one. */
  retriedWithKey: number;
  retriedWithoutKey: number;
  /** An effect no operation asked for. */
  withoutCause: number;
  /** Work accepted but never done (an outbox row never published, a due reminder never sent). */
  stuck: number;
  /** A text sent twice after the vendor's answer to the first was lost (timed out): allowed, counted apart. */
  vendorAmbiguous: number;
  /** What was counted, in words, for the rows that need it. */
  note: string;
}

/** An invariant checked at the end, with how many times it was broken. */
export interface InvariantResult {
  invariant: string;
  violations: number;
  detail: string;
}

/** Everything read back from the services, the broker and the fakes. */
export interface CheckResult {
  rows: CountRow[];
  invariants: InvariantResult[];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows read back by SQL
type Row = Record<string, any>;

async function query(url: string, sql: string, values: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return (await client.query(sql, values)).rows as Row[];
  } finally {
    await client.end();
  }
}

const row = (operation: string, note = ''): CountRow => ({
  operation,
  attempted: 0,
  acknowledged: 0,
  lost: 0,
  duplicated: 0,
  duplicatedWithoutKey: 0,
  withoutKey: 0,
  retriedWithKey: 0,
  retriedWithoutKey: 0,
  withoutCause: 0,
  stuck: 0,
  vendorAmbiguous: 0,
  note,
});

/** Counts `extra` effects of one operation in the column its Idempotency-Key (or its lack) puts them in. */
function duplicateOf(counted: CountRow, operation: Operation | undefined, extra: number): void {
  if (operation?.keyed === false) counted.duplicatedWithoutKey += extra;
  else counted.duplicated += extra;
}

/** Reasons of a message recorded undelivered without the vendor's word (its answer lost, or its sender killed mid-send). */
const OUTCOME_UNKNOWN = ['outcome-unknown', 'unreachable'];

/** The platform message id a text was sent for: the last segment of its status callback URL. */
export function messageIdOf(send: FakeSend): string | null {
  const callback = send.params['StatusCallback'];
  if (!callback) return null;
  return new URL(callback).pathname.split('/').at(-1) ?? null;
}

interface BusEvent {
  id: string;
  type: string;
  topic: string;
}

/** Every event on the run's topics, the dead-letter topics' contents, and the lag of the groups that are live. */
async function readBroker(
  runtime: DistributedRuntime,
): Promise<{ events: BusEvent[]; deadLetters: Map<string, string[]>; lag: Map<string, number> }> {
  const kafka = new Kafka({ clientId: 'chaos-checker', brokers: runtime.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(runtime.topicPrefix) && !topic.startsWith('__'));
    const highs = new Map<string, Array<{ partition: number; high: number; low: number }>>();
    for (const topic of topics) {
      highs.set(
        topic,
        (await admin.fetchTopicOffsets(topic)).map((offset) => ({
          partition: offset.partition,
          high: Number(offset.high),
          low: Number(offset.low),
        })),
      );
    }
    const events: BusEvent[] = [];
    const deadLetters = new Map<string, string[]>();
    const total = [...highs.values()].flat().reduce((sum, offset) => sum + (offset.high - offset.low), 0);
    if (total > 0) {
      const consumer = kafka.consumer({ groupId: `chaos-checker-${Date.now()}` });
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: true });
      let seen = 0;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => resolve(), 60_000);
        consumer
          .run({
            eachMessage: async ({ topic, message }) => {
              seen += 1;
              if (topic.endsWith('.dlq')) {
                const reason = message.headers?.['x-dlq-error']?.toString() ?? 'no reason given';
                deadLetters.set(topic, [...(deadLetters.get(topic) ?? []), reason]);
              } else {
                try {
                  const envelope = JSON.parse(message.value?.toString() ?? '{}') as { id?: string; type?: string };
                  if (envelope.id && envelope.type) events.push({ id: envelope.id, type: envelope.type, topic });
                } catch {
                  // Not an event envelope: nothing of ours.
                }
              }
              if (seen >= total) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
      await consumer.disconnect();
    }
    const lag = new Map<string, number>();
    const groups = (await admin.listGroups()).groups.map((group) => group.groupId).filter((group) => group.startsWith(runtime.topicPrefix));
    const described = groups.length > 0 ? (await admin.describeGroups(groups)).groups : [];
    for (const group of described) {
      // A killed gateway replica leaves an empty group behind; only groups with live members must have caught up.
      if (group.state !== 'Stable') continue;
      const offsets = await admin.fetchOffsets({ groupId: group.groupId });
      let behind = 0;
      for (const topic of offsets) {
        for (const partition of topic.partitions) {
          const high = highs.get(topic.topic)?.find((offset) => offset.partition === partition.partition);
          if (!high) continue;
          const committed = Number(partition.offset);
          behind += committed < 0 ? high.high - high.low : high.high - committed;
        }
      }
      lag.set(group.groupId.slice(runtime.topicPrefix.length), behind);
    }
    return { events, deadLetters, lag };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads everything back (every service's database, the broker, the Twilio fake) and counts, per operation type, the
 * acknowledged-but-lost, duplicated, uncaused and stuck effects, and checks the run's invariants.
 */
export async function check(runtime: DistributedRuntime, workload: Workload, platformNow: Date): Promise<CheckResult> {
  const db = runtime.databases;
  const ops = (kind: Operation['kind']) => workload.operations.filter((operation) => operation.kind === kind);
  const rows = new Map<string, CountRow>(OPERATION_KINDS.map((kind) => [kind, row(kind)]));
  for (const operation of workload.operations) {
    const counted = rows.get(operation.kind)!;
    counted.attempted += 1;
    if (operation.acknowledged) counted.acknowledged += 1;
    if (operation.keyed === false) counted.withoutKey += 1;
    if (operation.attempts > 1 && operation.keyed === false) counted.retriedWithoutKey += 1;
    else if (operation.attempts > 1) counted.retriedWithKey += 1;
  }
  const ours = [...workload.patients.values()];
  const allPhones = new Set(
    workload.operations.filter((operation) => operation.kind === 'patient.create').map((operation) => operation.data['phone'] as string),
  );

  // Patients.
  const patients = await query(db.patients, `SELECT id, phone, do_not_contact FROM patient WHERE deleted_at IS NULL`);
  const patientById = new Map(patients.map((patient) => [patient['id'] as string, patient]));
  const created = rows.get('patient.create')!;
  for (const operation of ops('patient.create'))
    if (operation.acknowledged && !patientById.has(operation.data['answer']['_id'] as string)) created.lost += 1;
  const byPhone = new Map<string, number>();
  for (const patient of patients) byPhone.set(patient['phone'] as string, (byPhone.get(patient['phone'] as string) ?? 0) + 1);
  const creationByPhone = new Map(ops('patient.create').map((operation) => [operation.data['phone'] as string, operation]));
  for (const [phone, count] of byPhone) {
    if (allPhones.has(phone) && count > 1) duplicateOf(created, creationByPhone.get(phone), count - 1);
    if (!allPhones.has(phone)) created.withoutCause += count;
  }

  // Appointments and offers.
  const appointments = await query(
    db.scheduling,
    `SELECT id, patient, provider, date, end_at, status::text AS status, source::text AS source, deleted, allow_overlap FROM appointment`,
  );
  const appointmentById = new Map(appointments.map((appointment) => [appointment['id'] as string, appointment]));
  const live = appointments.filter((appointment) => !appointment['deleted'] && appointment['status'] !== 'cancelled');
  const offers = await query(
    db.scheduling,
    `SELECT id, provider, date, status::text AS status, patient_found, used_for_appointment, from_appointment FROM offer WHERE deleted = false`,
  );
  const recipients = await query(db.scheduling, `SELECT offer, patient, status::text AS status FROM offer_recipient`);
  const booking = rows.get('appointment.book')!;
  for (const operation of ops('appointment.book'))
    if (operation.acknowledged && !appointmentById.has(operation.data['answer']['_id'] as string)) booking.lost += 1;
  const attemptKeys = new Set(
    workload.bookingAttempts.map((attempt) => `${attempt.patient}|${attempt.provider}|${new Date(attempt.date).toISOString()}`),
  );
  const usedForOffer = new Set(offers.map((offer) => offer['used_for_appointment'] as string | null).filter(Boolean));
  const liveByBooking = new Map<string, number>();
  for (const appointment of appointments) {
    const key = `${appointment['patient']}|${appointment['provider']}|${(appointment['date'] as Date).toISOString()}`;
    if (appointment['source'] === 'waitlist') {
      if (!usedForOffer.has(appointment['id'] as string)) booking.withoutCause += 1;
    } else if (!attemptKeys.has(key)) booking.withoutCause += 1;
    if (!appointment['deleted']) liveByBooking.set(key, (liveByBooking.get(key) ?? 0) + 1);
  }
  const bookingByKey = new Map(
    ops('appointment.book').map((operation) => [
      `${operation.data['patient']}|${operation.data['provider']}|${new Date(operation.data['date'] as string).toISOString()}`,
      operation,
    ]),
  );
  for (const [key, count] of liveByBooking) if (count > 1) duplicateOf(booking, bookingByKey.get(key), count - 1);
  const cancelling = rows.get('appointment.cancel')!;
  for (const operation of ops('appointment.cancel')) {
    if (operation.acknowledged && appointmentById.get(operation.data['appointment'] as string)?.['status'] !== 'cancelled')
      cancelling.lost += 1;
  }

  // Waitlist entries.
  const waitlists = await query(db.scheduling, `SELECT id, patient, provider FROM waitlist WHERE deleted = false`);
  const waitlistIds = new Set(waitlists.map((entry) => entry['id'] as string));
  const waitlisting = rows.get('waitlist.add')!;
  for (const operation of ops('waitlist.add'))
    if (operation.acknowledged && !waitlistIds.has(operation.data['answer']['_id'] as string)) waitlisting.lost += 1;
  const entriesByKey = new Map<string, number>();
  for (const entry of waitlists)
    entriesByKey.set(`${entry['patient']}|${entry['provider']}`, (entriesByKey.get(`${entry['patient']}|${entry['provider']}`) ?? 0) + 1);
  for (const count of entriesByKey.values()) if (count > 1) waitlisting.duplicated += count - 1;

  // Messaging: inbound replies, outbound texts, reminders.
  const messages = await query(
    db.messaging,
    `SELECT id, patient, type::text AS type, channel::text AS channel, status::text AS status, skipped_status_reason, external_id, reminder, offer, key, "to", text FROM message WHERE deleted = false`,
  );
  const messageById = new Map(messages.map((message) => [message['id'] as string, message]));
  const inboundBySid = new Map<string, number>();
  for (const message of messages)
    if (message['type'] === 'inbound' && message['external_id'])
      inboundBySid.set(message['external_id'] as string, (inboundBySid.get(message['external_id'] as string) ?? 0) + 1);
  // A reply from a number messaging had not learnt yet is kept apart, and its STOP applied once the patient arrives (ADR 0029).
  for (const reply of await query(db.messaging, `SELECT external_id FROM unmatched_reply`)) {
    inboundBySid.set(reply['external_id'] as string, (inboundBySid.get(reply['external_id'] as string) ?? 0) + 1);
  }
  const unrecorded = new Map<string, number>();
  const afterAmbiguous = new Map<string, number>();
  for (const kind of ['reply.C', 'reply.X', 'reply.STOP', 'reply.YES'] as const) {
    const counted = rows.get(kind)!;
    for (const operation of ops(kind)) {
      const recorded = inboundBySid.get(operation.data['messageSid'] as string) ?? 0;
      if (recorded > 1) counted.duplicated += recorded - 1;
      if (!operation.acknowledged) continue;
      if (recorded === 0) {
        counted.lost += 1;
        unrecorded.set(kind, (unrecorded.get(kind) ?? 0) + 1);
        continue;
      }
      const appointment = operation.data['appointment'] ? appointmentById.get(operation.data['appointment'] as string) : undefined;
      const missed =
        (kind === 'reply.C' && appointment && appointment['status'] !== 'confirmed') ||
        (kind === 'reply.X' && appointment && appointment['status'] !== 'cancelled');
      if (missed) {
        counted.lost += 1;
        // Telling apart the replies to a text the vendor took without confirming (its call timed out, a retry pending).
        const ambiguous = workload
          .textsTo(operation.data['phone'] as string)
          .some((send) => send.unconfirmed && send.at < operation.startedAt);
        if (ambiguous) afterAmbiguous.set(kind, (afterAmbiguous.get(kind) ?? 0) + 1);
      }
      if (kind === 'reply.STOP' && patientById.get(operation.data['patient'] as string)?.['do_not_contact'] !== true) counted.lost += 1;
    }
  }
  const staff = rows.get('message.send')!;
  for (const operation of ops('message.send')) {
    const answer = operation.data['answer'] as { _id?: string; status?: string } | undefined;
    if (!operation.acknowledged || !answer?._id) continue;
    const message = messageById.get(answer._id);
    if (!message) staff.lost += 1;
    // Acknowledged as sent: the vendor must have taken it.
    else if (answer.status === 'sent' && !(runtime.twilio?.sent ?? []).some((send) => send.sid === message['external_id'])) staff.lost += 1;
  }
  const references = new Map<string, number>();
  for (const message of messages) {
    const reference = /\(ref ([0-9a-f]{8})\)/.exec((message['text'] as string | null) ?? '')?.[1];
    if (reference && message['type'] === 'outbound') references.set(reference, (references.get(reference) ?? 0) + 1);
  }
  for (const operation of ops('message.send')) {
    const recorded = references.get(operation.data['reference'] as string) ?? 0;
    if (recorded > 1) duplicateOf(staff, operation, recorded - 1);
  }
  staff.note =
    'lost: acknowledged as sent, but no record or no vendor send; duplicated: one request, two messages (without key: a retried POST the platform cannot tell from a new one)';
  const unrecordedNote = (kind: string) =>
    (unrecorded.get(kind) ? ` (${unrecorded.get(kind)} without inbound record)` : '') +
    (afterAmbiguous.get(kind) ? ` (${afterAmbiguous.get(kind)} answered a text whose vendor call had timed out)` : '');
  rows.get('reply.C')!.note = `lost: no inbound record, or the appointment not confirmed${unrecordedNote('reply.C')}`;
  rows.get('reply.X')!.note = `lost: no inbound record, or the appointment not cancelled${unrecordedNote('reply.X')}`;
  rows.get('reply.STOP')!.note = `lost: no inbound record, or the patient not do-not-contact${unrecordedNote('reply.STOP')}`;

  const sends = (runtime.twilio?.sent ?? []).filter((send) => send.kind === 'message');
  const sendsByMessage = new Map<string, FakeSend[]>();
  const text = row(
    'text (vendor send)',
    'without cause: a send with no message record; lost: a message recorded sent the vendor never took; vendor-ambiguous: also messages settled as outcome-unknown (their sender killed mid-send)',
  );
  // Messages recorded undelivered without the vendor's word: the vendor may have taken them, so a second send of what
  // they carried is the price of never sending zero times, not a duplicate.
  const unknownOutcome = new Set(
    messages
      .filter(
        (message) =>
          message['status'] === 'undelivered' && OUTCOME_UNKNOWN.includes((message['skipped_status_reason'] as string | null) ?? ''),
      )
      .map((message) => message['id'] as string),
  );
  for (const send of sends) {
    text.attempted += 1;
    if (!send.unconfirmed) text.acknowledged += 1;
    const id = messageIdOf(send);
    if (!id || !messageById.has(id)) {
      text.withoutCause += 1;
      continue;
    }
    sendsByMessage.set(id, [...(sendsByMessage.get(id) ?? []), send]);
  }
  const sids = new Set(sends.map((send) => send.sid));
  for (const message of messages) {
    if (message['type'] !== 'outbound' || message['channel'] !== 'sms') continue;
    if (message['status'] === 'pending') text.stuck += 1;
    if (message['skipped_status_reason'] === 'outcome-unknown') text.vendorAmbiguous += 1;
    if (
      (message['status'] === 'sent' || message['status'] === 'delivered') &&
      message['external_id'] &&
      !sids.has(message['external_id'] as string)
    )
      text.lost += 1;
  }
  // Two vendor sends for one message, or for one reminder, or two offer texts of one offer to one patient.
  const duplicates = (groups: Map<string, FakeSend[]>, counted: CountRow) => {
    for (const group of groups.values()) {
      if (group.length < 2) continue;
      if (group.some((send) => send.unconfirmed || unknownOutcome.has(messageIdOf(send) ?? '')))
        counted.vendorAmbiguous += group.length - 1;
      else counted.duplicated += group.length - 1;
    }
  };
  duplicates(sendsByMessage, text);

  const reminders = await query(
    db.messaging,
    `SELECT id, status::text AS status, status_reason, send_at, retry_at, appointment FROM reminder WHERE deleted = false`,
  );
  const reminder = row(
    'reminder or automated text (due)',
    'attempted: due by the final clock; stuck: due and not sent, skipped or blocked',
  );
  const sendsByReminder = new Map<string, FakeSend[]>();
  for (const [id, group] of sendsByMessage) {
    const owner = messageById.get(id)?.['reminder'] as string | null;
    if (owner) sendsByReminder.set(owner, [...(sendsByReminder.get(owner) ?? []), ...group]);
  }
  const outcomes = new Map<string, number>();
  for (const due of reminders) {
    if ((due['send_at'] as Date).getTime() > platformNow.getTime()) continue;
    reminder.attempted += 1;
    const waiting = ['scheduled', 'pending', 'queued'].includes(due['status'] as string);
    const retrying = due['retry_at'] && (due['retry_at'] as Date).getTime() > platformNow.getTime();
    if (waiting && !retrying) reminder.stuck += 1;
    else reminder.acknowledged += 1;
    const outcome = `${due['status']}${due['status_reason'] ? ` (${due['status_reason']})` : ''}`;
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  reminder.note += `; outcomes: ${[...outcomes].map(([outcome, n]) => `${outcome} ${n}`).join(', ')}`;
  duplicates(sendsByReminder, reminder);
  const offerTexts = new Map<string, FakeSend[]>();
  for (const [id, group] of sendsByMessage) {
    const message = messageById.get(id)!;
    if (message['offer'] && message['key']) {
      const key = `${message['offer']}|${message['patient']}|${message['key']}`;
      offerTexts.set(key, [...(offerTexts.get(key) ?? []), ...group]);
    }
  }
  const offerRow = row('offer texts', 'duplicated: one offer texted twice (same wording) to one patient');
  offerRow.attempted = offerTexts.size;
  offerRow.acknowledged = offerTexts.size;
  duplicates(offerTexts, offerRow);

  // Delivery reports delivered twice and out of order.
  const reports = rows.get('status.out-of-order')!;
  const deliveredEvents = await query(
    db.messaging,
    `SELECT envelope->>'subject' AS message, count(*)::int AS n FROM outbox WHERE envelope->>'type' = 'message.delivered' GROUP BY 1`,
  );
  const deliveredCount = new Map(deliveredEvents.map((event) => [event['message'] as string, event['n'] as number]));
  for (const operation of ops('status.out-of-order')) {
    const count = deliveredCount.get(operation.data['message'] as string) ?? 0;
    if (count > 1) reports.duplicated += count - 1;
    if (operation.acknowledged && messageById.get(operation.data['message'] as string)?.['status'] !== 'delivered') reports.lost += 1;
  }
  reports.note = 'delivered, sent, delivered: lost if not delivered at the end; duplicated: more than one message.delivered';

  // Events: outbox relays, inboxes, dead letters.
  const broker = await readBroker(runtime);
  const events = row(
    'event (outbox → topic → inbox)',
    'stuck: outbox rows never published; lost: an event of a type a consumer handles missing from its inbox',
  );
  events.attempted = broker.events.length;
  const typeById = new Map(broker.events.map((event) => [event.id, event.type]));
  const inboxDetail: string[] = [];
  for (const owner of DATABASE_OWNERS) {
    const [pending] = await query(db[owner], `SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`);
    events.stuck += pending?.['n'] as number;
    const inbox = await query(db[owner], `SELECT consumer, event_id FROM inbox`);
    const byConsumer = new Map<string, Set<string>>();
    for (const entry of inbox)
      byConsumer.set(
        entry['consumer'] as string,
        (byConsumer.get(entry['consumer'] as string) ?? new Set()).add(entry['event_id'] as string),
      );
    for (const [consumer, handled] of byConsumer) {
      const types = new Set([...handled].map((id) => typeById.get(id)).filter((type): type is string => Boolean(type)));
      const missing = broker.events.filter((event) => types.has(event.type) && !handled.has(event.id));
      const unique = new Set(missing.map((event) => event.id)).size;
      events.lost += unique;
      if (unique > 0) inboxDetail.push(`${owner}/${consumer}: ${unique} missing`);
    }
  }
  events.acknowledged = broker.events.length;

  const billing = row('billing usage', 'not counted yet: billing does not meter texting yet');
  // What the operations that were not acknowledged got last (0: no answer), so a row's gap can be read.
  for (const [kind, counted] of rows) {
    const statuses = new Map<number, number>();
    for (const operation of ops(kind as Operation['kind']))
      if (!operation.acknowledged) statuses.set(operation.status, (statuses.get(operation.status) ?? 0) + 1);
    if (statuses.size > 0)
      counted.note += `${counted.note ? '; ' : ''}not acknowledged: ${[...statuses].map(([status, n]) => `${status} ×${n}`).join(', ')}`;
  }

  // Invariants.
  const invariants: InvariantResult[] = [];
  let overlaps = 0;
  const byProvider = new Map<string, Row[]>();
  for (const appointment of live)
    byProvider.set(appointment['provider'] as string, [...(byProvider.get(appointment['provider'] as string) ?? []), appointment]);
  for (const list of byProvider.values()) {
    for (let a = 0; a < list.length; a++) {
      for (let b = a + 1; b < list.length; b++) {
        const [x, y] = [list[a]!, list[b]!];
        if (x['allow_overlap'] || y['allow_overlap']) continue;
        if ((x['date'] as Date) < (y['end_at'] as Date) && (y['date'] as Date) < (x['end_at'] as Date)) overlaps += 1;
      }
    }
  }
  invariants.push({ invariant: 'no provider double-booked', violations: overlaps, detail: `${live.length} live appointments` });

  let offerViolations = 0;
  const offerDetail: string[] = [];
  const yes = rows.get('reply.YES')!;
  for (const scenario of workload.offers) {
    const offer = offers.find((candidate) => candidate['provider'] === scenario.provider);
    const winners = live.filter((appointment) => appointment['provider'] === scenario.provider && appointment['source'] === 'waitlist');
    const accepted = offer
      ? recipients.filter((recipient) => recipient['offer'] === offer['id'] && recipient['status'] === 'accepted').length
      : 0;
    if (winners.length > 1 || accepted > 1) {
      offerViolations += 1;
      yes.duplicated += Math.max(winners.length, accepted) - 1;
      offerDetail.push(`${winners.length} winners`);
    }
    if (scenario.yes.length > 0 && (!offer || offer['status'] !== 'patient-found' || winners.length !== 1)) {
      offerViolations += 1;
      yes.lost += 1;
      offerDetail.push(`offer ${offer?.['status'] ?? 'missing'} after ${scenario.yes.length} acknowledged YES`);
    }
  }
  yes.note = `lost: YES acknowledged but the offer has no single winner; duplicated: more than one winner${unrecordedNote('reply.YES')}`;
  invariants.push({
    invariant: 'every answered offer closed with at most one winner',
    violations: offerViolations,
    detail: offerDetail.join('; ') || `${workload.offers.length} offers`,
  });

  let afterStop = 0;
  const stopRow = rows.get('reply.STOP')!;
  const keyOf = (send: FakeSend) => messageById.get(messageIdOf(send) ?? '')?.['key'] as string | undefined;
  for (const patient of ours) {
    if (patient.stoppedAt === undefined) continue;
    const after = workload.textsTo(patient.phone).filter((send) => send.at > patient.stoppedAt!);
    // The one confirmation of the opt-out is owed to the patient; anything else after it is a violation.
    afterStop += after.filter((send) => keyOf(send) !== 'stop-ack').length;
    const confirmations = workload.textsTo(patient.phone).filter((send) => keyOf(send) === 'stop-ack');
    if (confirmations.length > 1) {
      if (confirmations.some((send) => send.unconfirmed)) stopRow.vendorAmbiguous += confirmations.length - 1;
      else stopRow.duplicated += confirmations.length - 1;
    }
  }
  invariants.push({
    invariant: 'STOP honoured: nothing sent after it',
    violations: afterStop,
    detail: `${ours.filter((patient) => patient.stoppedAt !== undefined).length} patients stopped`,
  });

  const laggards = [...broker.lag].filter(([, behind]) => behind > 0);
  invariants.push({
    invariant: "every consumer's inbox covers its topics (and live groups caught up)",
    violations: events.lost + laggards.reduce((sum, [, behind]) => sum + behind, 0),
    detail:
      [...inboxDetail, ...laggards.map(([group, behind]) => `${group}: ${behind} behind`)].join('; ') || `${broker.lag.size} live groups`,
  });
  const deadLettered = [...broker.deadLetters].reduce((sum, [, reasons]) => sum + reasons.length, 0);
  invariants.push({
    invariant: 'dead-letter topics empty',
    violations: deadLettered,
    detail: [...broker.deadLetters]
      .map(
        ([topic, reasons]) =>
          `${topic.slice(runtime.topicPrefix.length)}: ${reasons.length} (${[...new Set(reasons)].join(' | ').slice(0, 200)})`,
      )
      .join('; '),
  });

  return { rows: [...rows.values(), text, reminder, offerRow, events, billing], invariants };
}

/** The databases' names, for the report. */
export function databaseNames(runtime: DistributedRuntime): Record<DatabaseOwner, string> {
  return Object.fromEntries(DATABASE_OWNERS.map((owner) => [owner, new URL(runtime.databases[owner]).pathname.slice(1)])) as Record<
    DatabaseOwner,
    string
  >;
}
