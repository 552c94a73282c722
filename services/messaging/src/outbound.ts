import { randomUUID } from 'node:crypto';
import { contextFromTraceparent, inSpan, SpanKind, tracingEnabled } from '@pep/bus';
import { messageFailedV1, messageSentV1 } from '@pep/contracts';
import type { Emit } from '@pep/db';
import type { Logger } from '@pep/service-kit';
import { answerLinks, type LinkKeys } from './email-links.js';
import type { MessagingWork, Tx } from './events.js';
import type { Message, PrismaClient } from './generated/prisma/client.js';
import type { SendQuota, TakenCount } from './quota.js';
import { REFERRAL_OUTREACH } from './referral-outreach.handlers.js';
import { messageUsage } from './segments.js';
import { SendError, type Handed, type Vendors } from './vendors.js';

/** Channels the platform sends on. */
export type Channel = 'sms' | 'email' | 'voice';

/** One message to send to a patient. */
export interface OutboundRequest {
  organization: string;
  patient: string;
  channel: Channel;
  text: string;
  subject?: string | null;
  language: string;
  key?: string | null;
  automated: boolean;
  appointment?: string | null;
  reminder?: string | null;
  offer?: string | null;
  /** The broadcast it goes out for. */
  broadcast?: string | null;
  createdBy: string;
  /** What the message's events are traced by: the request that sent it, or its reminder. */
  correlationId: string;
  /** W3C trace context the vendor call continues (a reminder planned inside a traced change); none untraced. */
  traceparent?: string | null;
}

/** The patient's addresses. */
export interface Addresses {
  phone: string | null;
  email: string | null;
}

/** The address a channel needs, or null when the patient has none. */
export function addressFor(channel: Channel, addresses: Addresses): string | null {
  return channel === 'email' ? addresses.email : addresses.phone;
}

/** The snapshot message events carry: ids and states, never the text or the address. */
export function messageEventData(message: Message) {
  return {
    _id: message.id,
    patient: message.patient,
    channel: message.channel,
    key: message.key,
    automated: message.automated,
    appointment: message.appointment,
    reminder: message.reminder,
    offer: message.offer,
    externalId: message.externalId,
  };
}

// The longest the consent lock is held waiting for vendors' answers; the vendor clients time out before it.
const VENDOR_WAIT_MS = 60_000;

/** One message of a batch for {@link Outbound.sendMany}. */
export interface OutboundItem {
  request: OutboundRequest;
  /** The address, which the request's channel needs. */
  to: string;
}

/**
 * What became of one message of a batch: handed to the vendor (`failure` null), refused by it, or `withheld` because
 * the patient must not be contacted (any more) or is gone, found under the consent lock right before the vendor call.
 */
export interface SendOutcome {
  item: OutboundItem;
  /** The message's id; its row says the same. */
  id: string;
  externalId: string | null;
  failure: SendError | null;
  withheld: 'do-not-contact' | 'patient-deleted' | null;
}

/** Writes done in the transaction that records a batch's outcomes, and the events they emit. */
export type AfterBatch = (tx: Tx, outcomes: SendOutcome[], emit: Emit) => Promise<void>;

/** What the consent lock reads of each patient. */
interface Consent {
  id: string;
  do_not_contact: boolean;
  opted_out_at: Date | null;
  deleted: boolean;
}

/**
 * Sends messages and keeps their record. The rows are written `pending` before the vendor is called, so a status
 * callback that beats the answer finds them and a crash mid-send leaves a trace; the outcomes and their events commit
 * together afterwards. The send quota is taken in the transaction that writes those rows: over a limit, nothing is
 * stored or sent and {@link QuotaExceeded} is thrown.
 *
 * A STOP wins every race: the vendor calls start inside a transaction holding each patient's contact row `FOR SHARE`
 * (consent re-read under it), and the STOP's transaction updates that row, so it commits either before the check
 * (which then withholds the message) or after the calls have been made; never is a call started after a STOP was
 * acknowledged. The lock is held for the vendor's answer, one connection per batch, never per message.
 */
export class Outbound {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly vendors: Vendors,
    private readonly publicUrl: string,
    private readonly work: MessagingWork,
    private readonly logger: Logger,
    /** Signs the answer links of reminder and offer e-mails. */
    private readonly linkKeys: LinkKeys,
    private readonly quota: SendQuota,
  ) {}

  /**
   * Sends to the given address; a vendor's refusal is recorded (undelivered, message.failed) and answered, not thrown.
   * Throws {@link QuotaExceeded} when the send quota is reached, having stored nothing. A patient who opted out
   * meanwhile is not sent to: the message is recorded `skipped` (do-not-contact) and answered with a failure of that reason.
   */
  async send(request: OutboundRequest, to: string): Promise<{ message: Message; failure: SendError | null }> {
    const take = async (tx: Tx) => [await this.quota.take(tx, request.organization, request.patient, request.automated)];
    const [outcome] = await this.deliver([{ request, to }], take);
    const message = await this.prisma.message.findUniqueOrThrow({ where: { id: outcome!.id } });
    return { message, failure: outcome!.failure ?? (outcome!.withheld ? new SendError(outcome!.withheld, true) : null) };
  }

  /**
   * Sends a batch of automated messages with one transaction per step, whatever its size: the quota taken and the rows
   * written together, the vendor called for all of them concurrently under the consent lock, the outcomes, `after`'s
   * writes and every event recorded together. Throws {@link QuotaExceeded} (nothing stored or sent) when the batch
   * would pass a limit; the caller then sends one by one.
   */
  sendMany(items: OutboundItem[], after?: AfterBatch): Promise<SendOutcome[]> {
    return this.deliver(
      items,
      (tx) =>
        this.quota.takeMany(
          tx,
          items.map((item) => item.request),
          true,
        ),
      after,
    );
  }

  private async deliver(items: OutboundItem[], take: (tx: Tx) => Promise<TakenCount[][]>, after?: AfterBatch): Promise<SendOutcome[]> {
    if (items.length === 0) return [];
    const ids = items.map(() => randomUUID());
    let taken: TakenCount[][] = [];
    await this.prisma.$transaction(async (tx) => {
      taken = await take(tx);
      // One statement with a column per field, not a parameter per value: a batch is hundreds of rows.
      const column = <T>(pick: (item: OutboundItem, index: number) => T) => items.map(pick);
      await tx.$executeRawUnsafe(
        `INSERT INTO "message" ("id", "organization", "patient", "type", "channel", "status", "key", "to", "subject", "text", "language", "automated",
                                "appointment", "reminder", "offer", "broadcast", "created_by", "updated_by", "created_at", "updated_at")
         SELECT id, organization, patient, 'outbound', channel::"message_channel", 'pending', key, "to", subject, text, language, automated,
                appointment, reminder, offer, broadcast, created_by, created_by, now(), now()
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::boolean[],
                     $11::uuid[], $12::uuid[], $13::uuid[], $14::text[], $15::uuid[])
           AS m(id, organization, patient, channel, key, "to", subject, text, language, automated, appointment, reminder, offer, created_by, broadcast)`,
        ids,
        column(({ request }) => request.organization),
        column(({ request }) => request.patient),
        column(({ request }) => request.channel),
        column(({ request }) => request.key ?? null),
        column(({ to }) => to),
        column(({ request }) => request.subject ?? null),
        column(({ request }) => request.text),
        column(({ request }) => request.language),
        column(({ request }) => request.automated),
        column(({ request }) => request.appointment ?? null),
        column(({ request }) => request.reminder ?? null),
        column(({ request }) => request.offer ?? null),
        column(({ request }) => request.createdBy),
        column(({ request }) => request.broadcast ?? null),
      );
    });
    // E-mails carry their answer links; made now, since nothing may wait on the database under the consent lock.
    const bodies = await Promise.all(
      items.map(({ request }, index) => (request.channel === 'email' ? this.withAnswerLinks(ids[index]!, request) : request.text)),
    );
    const handed = await this.underConsentLock(items, (item, index) => this.call(item, ids[index]!, bodies[index]!));

    const outcomes: SendOutcome[] = items.map((item, index) => {
      const result = handed[index]!;
      return {
        item,
        id: ids[index]!,
        externalId: 'handed' in result ? result.handed.externalId : null,
        failure: 'failure' in result ? result.failure : null,
        withheld: 'withheld' in result ? result.withheld : null,
      };
    });
    // One unit for the whole batch, its events written in one statement; each message's events are traced by its request.
    await this.work.run({ correlationId: items[0]!.request.correlationId }, async (tx, emit) => {
      // A status callback may have moved a row on already; the outcome never moves it back.
      const now = new Date();
      await tx.$executeRawUnsafe(
        `UPDATE "message" m SET
           "status" = CASE WHEN m."status" = 'pending' THEN k.status::"message_status" ELSE m."status" END,
           "skipped_status_reason" = CASE WHEN m."status" = 'pending' THEN k.reason ELSE m."skipped_status_reason" END,
           "external_status" = CASE WHEN m."status" = 'pending' THEN k.external::jsonb ELSE m."external_status" END,
           "terminating_state_at" = CASE WHEN m."status" = 'pending' AND k.status = 'undelivered' THEN $7::timestamptz ELSE m."terminating_state_at" END,
           "external_id" = k.external_id, "from" = COALESCE(k.sender, m."from"), "updated_at" = $7::timestamptz
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS k(id, status, reason, external, external_id, sender)
         WHERE m."id" = k.id`,
        ids,
        handed.map((result) => ('handed' in result ? 'sent' : 'withheld' in result ? 'skipped' : 'undelivered')),
        handed.map((result) => ('failure' in result ? result.failure.reason : 'withheld' in result ? result.withheld : null)),
        handed.map((result) =>
          JSON.stringify(
            'handed' in result
              ? result.handed.externalStatus
              : 'failure' in result
                ? { error: result.failure.reason }
                : { withheld: result.withheld },
          ),
        ),
        handed.map((result) => ('handed' in result ? result.handed.externalId : null)),
        handed.map((result) => ('handed' in result ? (result.handed.from ?? null) : null)),
        now,
      );
      for (const [index, outcome] of outcomes.entries()) {
        // Nothing was handed over, so it cost nothing.
        if (outcome.failure || outcome.withheld) await this.quota.giveBack(tx, taken[index] ?? []);
        if (outcome.withheld) continue;
        const { request } = outcome.item;
        const data = {
          _id: outcome.id,
          patient: request.patient,
          channel: request.channel,
          key: request.key ?? null,
          automated: request.automated,
          appointment: request.appointment ?? null,
          reminder: request.reminder ?? null,
          offer: request.offer ?? null,
          externalId: outcome.externalId,
        };
        const context = { organization: request.organization, subject: outcome.id, cause: { correlationId: request.correlationId } };
        if (outcome.failure) emit(messageFailedV1, { ...context, data: { ...data, reason: outcome.failure.reason } });
        else emit(messageSentV1, { ...context, data: { ...data, ...messageUsage(request.channel, request.text) } });
      }
      if (after) await after(tx, outcomes, emit);
    });
    for (const [index, outcome] of outcomes.entries()) {
      const result = handed[index]!;
      this.logger.info(
        {
          messageId: outcome.id,
          channel: outcome.item.request.channel,
          outcome: outcome.withheld ?? outcome.failure?.reason ?? 'sent',
          sink: 'handed' in result && result.handed.externalStatus['sink'] === true,
        },
        'message sent',
      );
    }
    return outcomes;
  }

  /**
   * Calls the vendor for every item whose patient may still be contacted, inside one transaction that holds their
   * contact rows `FOR SHARE` until every call has been answered. A transaction the database aborts after the calls
   * began is never run again (that would send twice): the calls' answers stand.
   */
  private async underConsentLock<T>(
    items: OutboundItem[],
    call: (item: OutboundItem, index: number) => Promise<T>,
  ): Promise<Array<T | { withheld: 'do-not-contact' | 'patient-deleted' }>> {
    let calls: Promise<Array<T | { withheld: 'do-not-contact' | 'patient-deleted' }>> | null = null;
    const patients = [...new Set(items.map((item) => item.request.patient))].sort();
    try {
      await this.prisma.$transaction(
        async (tx) => {
          if (calls) return;
          const rows = await tx.$queryRawUnsafe<Consent[]>(
            `SELECT "id", "do_not_contact", "opted_out_at", "deleted" FROM "patient_contact" WHERE "id" = ANY($1::uuid[]) ORDER BY "id" FOR SHARE`,
            patients,
          );
          const consent = new Map(rows.map((row) => [row.id, row]));
          calls = Promise.all(
            items.map((item, index) => {
              const row = consent.get(item.request.patient);
              if (!row || row.deleted) return { withheld: 'patient-deleted' as const };
              if (row.do_not_contact || row.opted_out_at) return { withheld: 'do-not-contact' as const };
              return call(item, index);
            }),
          );
          await calls;
        },
        { timeout: VENDOR_WAIT_MS },
      );
    } catch (error) {
      if (!calls) throw error;
      this.logger.warn(
        { err: { message: (error as Error).message } },
        'consent lock ended before the vendor answered; recording the answers',
      );
    }
    return calls!;
  }

  /** One vendor call; a refusal is answered, not thrown. */
  private async call(item: OutboundItem, id: string, body: string): Promise<{ handed: Handed } | { failure: SendError }> {
    const { traceparent } = item.request;
    if (!tracingEnabled() || !traceparent) return this.callVendor(item, id, body);
    // Under the trace that planned the message, so the vendor's CLIENT span joins it (a reply's acknowledgement).
    const attributes = { 'messaging.message.id': id, 'pep.channel': item.request.channel };
    return inSpan(
      `send ${item.request.channel}`,
      { kind: SpanKind.INTERNAL, parent: contextFromTraceparent(traceparent), attributes },
      () => this.callVendor(item, id, body),
    );
  }

  private async callVendor(item: OutboundItem, id: string, body: string): Promise<{ handed: Handed } | { failure: SendError }> {
    const { request, to } = item;
    const statusCallback = `${this.publicUrl}/api/callback/twilio/${id}`;
    try {
      const handed =
        request.channel === 'sms'
          ? await this.vendors.sms(to, request.text, statusCallback)
          : request.channel === 'voice'
            ? await this.vendors.voice(to, request.text, request.language, statusCallback, this.voiceScript(request))
            : await this.vendors.email(to, request.subject ?? '', body);
      return { handed };
    } catch (error) {
      // Only the error's kind: a vendor library's message may quote the address.
      if (!(error instanceof SendError))
        this.logger.error(
          { err: { name: (error as Error).name, code: (error as { code?: unknown }).code }, messageId: id },
          'sending failed unexpectedly',
        );
      return { failure: error instanceof SendError ? error : new SendError('internal', false) };
    }
  }

  /** Where Twilio fetches what a reminder or offer call says, and where the keys pressed come back; null for calls that only say their text. */
  private voiceScript(request: OutboundRequest): string | null {
    if (request.key === 'reminder' && request.appointment) return `${this.publicUrl}/api/callback/voice/reminders`;
    if (request.key === 'offer' && request.offer) return `${this.publicUrl}/api/callback/voice/offers`;
    if (request.key === REFERRAL_OUTREACH && request.reminder) return `${this.publicUrl}/api/callback/voice/referrals`;
    return null;
  }

  /**
   * A reminder or offer e-mail's text with its answer links. The record keeps the text without them: each link is a
   * credential to answer for the patient, and staff reading the message need the wording, not the credentials.
   */
  private async withAnswerLinks(id: string, request: OutboundRequest): Promise<string> {
    const links = await answerLinks(this.prisma, this.linkKeys, this.publicUrl, { ...request, id });
    return links ? `${request.text}\n\n${links}` : request.text;
  }
}
