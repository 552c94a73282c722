import { randomUUID } from 'node:crypto';
import { createEvent, messageFailedV1, messageSentV1, type EventEnvelope } from '@pep/contracts';
import type { Logger } from '@pep/service-kit';
import { answerLinks } from './email-links.js';
import { enqueue, SOURCE } from './events.js';
import type { Message, Prisma, PrismaClient } from './generated/prisma/client.js';
import type { SendQuota, TakenCount } from './quota.js';
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
  createdBy: string;
  correlationId: string;
  causationId?: string;
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

/** Writes done in the transaction that records a send's outcome, with the events they publish. */
export type AfterSend = (tx: Prisma.TransactionClient, message: Message, failure: SendError | null) => Promise<EventEnvelope[]>;

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

/**
 * Sends messages and keeps their record. The row is written `pending` before the vendor is called, so a status
 * callback that beats the answer finds it and a crash mid-send leaves a trace; the outcome and its event commit
 * together afterwards. The send quota is taken in the transaction that writes that row: over a limit, nothing is
 * stored or sent and {@link QuotaExceeded} is thrown.
 */
export class Outbound {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly vendors: Vendors,
    private readonly publicUrl: string,
    private readonly eventsWritten: () => void,
    private readonly logger: Logger,
    /** Signs the answer links of reminder and offer e-mails. */
    private readonly linkKey: Buffer,
    private readonly quota: SendQuota,
  ) {}

  /**
   * Sends to the given address; a vendor's refusal is recorded (undelivered, message.failed) and answered, not thrown.
   * Throws {@link QuotaExceeded} when the send quota is reached, having stored nothing.
   */
  async send(request: OutboundRequest, to: string, afterSend?: AfterSend): Promise<{ message: Message; failure: SendError | null }> {
    const id = randomUUID();
    let taken: TakenCount[] = [];
    await this.prisma.$transaction(async (tx) => {
      taken = await this.quota.take(tx, request.organization, request.patient, request.automated);
      await tx.message.create({
        data: {
        id,
        organization: request.organization,
        patient: request.patient,
        type: 'outbound',
        channel: request.channel,
        status: 'pending',
        key: request.key ?? null,
        to,
        subject: request.subject ?? null,
        text: request.text,
        language: request.language,
        automated: request.automated,
        appointment: request.appointment ?? null,
        reminder: request.reminder ?? null,
        offer: request.offer ?? null,
        createdBy: request.createdBy,
        updatedBy: request.createdBy,
      },
      });
    });
    const statusCallback = `${this.publicUrl}/api/callback/twilio/${id}`;
    let failure: SendError | null = null;
    let handed: Handed = { externalId: null, externalStatus: {} };
    try {
      handed =
        request.channel === 'sms'
          ? await this.vendors.sms(to, request.text, statusCallback)
          : request.channel === 'voice'
            ? await this.vendors.voice(to, request.text, request.language, statusCallback, this.voiceScript(request))
            : await this.vendors.email(to, request.subject ?? '', await this.withAnswerLinks(id, request));
    } catch (error) {
      failure = error instanceof SendError ? error : new SendError('internal', false);
      // Only the error's kind: a vendor library's message may quote the address.
      if (!(error instanceof SendError)) this.logger.error({ err: { name: (error as Error).name, code: (error as { code?: unknown }).code }, messageId: id }, 'sending failed unexpectedly');
    }

    const message = await this.prisma.$transaction(async (tx) => {
      // A status callback may have moved the row on already; the outcome never moves it back.
      await tx.message.updateMany({
        where: { id, status: 'pending' },
        data: failure
          ? { status: 'undelivered', skippedStatusReason: failure.reason, externalStatus: { error: failure.reason }, terminatingStateAt: new Date() }
          : { status: 'sent', externalStatus: handed.externalStatus as Prisma.InputJsonValue },
      });
      const row = await tx.message.update({ where: { id }, data: { externalId: handed.externalId, ...(handed.from ? { from: handed.from } : {}) } });
      const context = { source: SOURCE, organization: row.organization, subject: row.id, correlationId: request.correlationId, ...(request.causationId ? { causationId: request.causationId } : {}) };
      const events: EventEnvelope[] = [
        failure
          ? createEvent(messageFailedV1, { ...context, data: { ...messageEventData(row), reason: failure.reason } })
          : createEvent(messageSentV1, { ...context, data: messageEventData(row) }),
      ];
      if (failure) await this.quota.giveBack(tx, taken);
      if (afterSend) events.push(...(await afterSend(tx, row, failure)));
      await enqueue(tx, events);
      return row;
    });
    this.eventsWritten();
    this.logger.info({ messageId: id, channel: request.channel, outcome: failure ? failure.reason : 'sent', sink: handed.externalStatus['sink'] === true }, 'message sent');
    return { message, failure };
  }

  /** Where Twilio fetches what a reminder or offer call says, and where the keys pressed come back; null for calls that only say their text. */
  private voiceScript(request: OutboundRequest): string | null {
    if (request.key === 'reminder' && request.appointment) return `${this.publicUrl}/api/callback/voice/reminders`;
    if (request.key === 'offer' && request.offer) return `${this.publicUrl}/api/callback/voice/offers`;
    return null;
  }

  /**
   * A reminder or offer e-mail's text with its answer links. The record keeps the text without them: each link is a
   * credential to answer for the patient, and staff reading the message need the wording, not the credentials.
   */
  private async withAnswerLinks(id: string, request: OutboundRequest): Promise<string> {
    const links = await answerLinks(this.prisma, this.linkKey, this.publicUrl, { ...request, id });
    return links ? `${request.text}\n\n${links}` : request.text;
  }
}
