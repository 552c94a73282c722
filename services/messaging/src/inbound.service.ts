import { randomUUID } from 'node:crypto';
import { messageSentV1, patientOptedInV1, patientOptedOutV1, referralAnsweredV1, replyReceivedV1 } from '@pep/contracts';
import type { Emit } from '@pep/db';
import type { Logger } from '@pep/service-kit';
import twilio from 'twilio';
import { classifyReply, type Reading } from './classify.js';
import type { MessagingWork } from './events.js';
import { categoryOf, type FeedbackService } from './feedback.service.js';
import type { Message, PatientContact, Prisma, PrismaClient, Reminder } from './generated/prisma/client.js';
import { messageEventData } from './outbound.js';
import { OUTCOME_UNKNOWN_REASON } from './pending-sweep.js';
import { applyConsent } from './read-models.handlers.js';
import { REFERRAL_ANSWERED } from './referral-outreach.handlers.js';
import { referralAnswered, referralReplyOf } from './referral-outreach.service.js';
import { sqlState } from './schemas.js';
import { messageUsage } from './segments.js';
import { DEFAULT_HELP_TEXT, messagingSettings } from './settings.js';
import { raiseNotification } from './notification.service.js';
import { builtIn, contextFor, render, variablesOf, wordingFor } from './templates.js';

/** The fields of Twilio's incoming-message webhook messaging reads; other vendors' replies are put in the same words. */
export interface IncomingSms {
  /** The vendor's id of the message. */
  MessageSid: string;
  From: string;
  To: string;
  Body: string;
  /** The vendor that delivered it; Twilio when absent. */
  vendor?: SmsVendor;
}

/** The SMS vendors replies arrive through. */
export type SmsVendor = 'twilio' | 'bandwidth';

/**
 * The id a reply is recorded under, unique among inbound messages: Twilio's SID as it is (`SM…`, never a colon), other
 * vendors' ids prefixed with the vendor (`bandwidth:<id>`), so one vendor's id can never pass for another's message.
 */
export function replyExternalId(sms: Pick<IncomingSms, 'MessageSid' | 'vendor'>): string {
  return !sms.vendor || sms.vendor === 'twilio' ? sms.MessageSid : `${sms.vendor}:${sms.MessageSid}`;
}

/**
 * A patient's answer to a message by another way than an SMS reply: a key pressed in a call, a link opened in an
 * e-mail. It refers to what the answered message was about.
 */
export interface Answer {
  /** The outbound message answered (the call, the e-mail). */
  answered: Message;
  /** What makes the answer one: a repeat with the same key has no second effect. */
  key: string;
  /** What the patient did (the key pressed, the link's action), kept as the reply's text. */
  text: string;
  reading: Reading;
  /** The wording key the patient was answered with; a repeat is answered with the first one. */
  outcome: string;
  /** Events the answer means besides reply.received, emitted with its record (once): `reply` is the recorded answer's id. */
  also?: (emit: Emit, reply: string, receivedAt: Date) => void;
}

/** How a score is classified: a promoter's positive, a detractor's negative. */
const SCORE_CLASSIFICATION = { promoter: 'positive', passive: 'unclassified', detractor: 'negative' } as const;

/** Who replies are recorded as written by. */
const PATIENT = 'patient';

/**
 * How a reminder's last attempt ends when the vendor took the request but its answer never came back (a dropped
 * connection): recorded as failed, though the text may have gone (ADR 0029).
 */
export const OUTCOME_UNKNOWN = ['retrying:unreachable', 'send-failed:unreachable'];

/** Why a reminder recorded as not sent became sent: the patient answered it (ADR 0029). */
export const ANSWERED_AFTER_LOST_ANSWER = 'answered-after-lost-vendor-answer';

const ackKeyOf = (reading: Reading) =>
  reading.intent === 'opt-out' ? 'stop-ack' : reading.intent === 'opt-in' ? 'start-ack' : reading.intent === 'help' ? 'help' : null;

const twiml = (reply: string | null) => {
  const response = new twilio.twiml.MessagingResponse();
  if (reply) response.message(reply);
  return response.toString();
};

/**
 * Patients' SMS replies. Each is recorded once (the vendor's message id is unique), read, and published as
 * reply.received about the appointment of the patient's latest reminder handed to the vendor (ADR 0029); a reply from
 * a number no patient has is kept apart ({@link InboundService.receiveUnmatched}). The owner of the appointment decides
 * what it means. STOP and START change consent here at once; STOP, START and HELP are answered in the webhook's
 * own response (TwiML), so a webhook delivered twice answers the second time with nothing. Keys pressed in calls
 * and links opened in e-mails are recorded and published the same way ({@link InboundService.answer}), about the
 * message they answer rather than the latest one.
 */
export class InboundService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: MessagingWork,
    /** Now; answers' links expire against it. */
    readonly clock: () => Date,
    private readonly logger: Logger,
    /** NPS surveys: a score answering one is recorded there. */
    private readonly feedback: FeedbackService | null = null,
  ) {}

  /**
   * Records and answers one incoming SMS; answers TwiML. Only Twilio reads the answer: for another vendor the
   * acknowledgement (STOP, START, HELP) is recorded as skipped, since nothing carries it back yet.
   */
  async receive(sms: IncomingSms, correlationId: string): Promise<string> {
    const externalId = replyExternalId(sms);
    const inResponse = !sms.vendor || sms.vendor === 'twilio';
    if (await this.prisma.message.findFirst({ where: { externalId, type: 'inbound' }, select: { id: true } })) return twiml(null);
    if (await this.prisma.unmatchedReply.findUnique({ where: { externalId }, select: { id: true } })) return twiml(null);
    const contact = await this.sender(sms.From);
    if (!contact) return this.receiveUnmatched(sms, externalId, inResponse);
    const { organization } = contact;
    const now = this.clock();
    const read = classifyReply(sms.Body, contact.optedOutAt !== null);
    // A reply to referral outreach (the latest text was one) answers neither an offer nor an appointment reminder.
    // A score answering a survey (the latest text was one) is nothing else: its 1 or 2 confirms or cancels nothing.
    const survey = this.feedback ? await this.feedback.replyOf(this.prisma, contact, sms.Body) : null;
    const referral = survey ? null : await referralReplyOf(this.prisma, contact, sms.Body, read);
    const offer = referral || survey ? null : await this.openOffer(contact, now);
    // A yes or no to a text offering a slot answers the offer; otherwise it answers the latest appointment reminder.
    const reading: Reading = survey
      ? { intent: 'other', classification: SCORE_CLASSIFICATION[categoryOf(survey.score)], keyword: String(survey.score) }
      : offer && read.intent === 'confirm'
        ? { ...read, intent: 'accept-offer' as const }
        : offer && read.intent === 'cancel'
          ? { ...read, intent: 'decline-offer' as const }
          : read;
    // WAITLIST asks about the appointment last written about (the cancellation's invitation), even while an offer is open.
    const answered = (offer && reading.intent !== 'waitlist') || referral || survey ? null : await this.answeredReminder(contact);
    // A reply to a broadcast waits for staff (there is no inbox yet); a STOP, START or HELP is answered on its own.
    const broadcast = offer || referral || survey || ackKeyOf(read) ? null : await this.answeredBroadcast(contact);
    const reminder = answered?.reminder ?? null;
    const ackKey = ackKeyOf(reading) ?? (referral?.schedules ? REFERRAL_ANSWERED : null);
    let ack: string | null = null;
    if (ackKey) {
      const settings = await messagingSettings(this.prisma, organization);
      const wording = await wordingFor(this.prisma, organization, ackKey, contact.language);
      const variables = variablesOf(
        await contextFor(
          this.prisma,
          organization,
          { patient: contact.id, appointment: reminder?.appointment ?? null, help: settings.helpText },
          [wording?.text],
        ),
        contact.language,
      );
      ack = wording ? render(wording.text, variables) : null;
    }
    let scored = false;
    try {
      await this.work.run({ correlationId }, async (tx, emit) => {
        const reply = await tx.message.create({
          data: {
            id: randomUUID(),
            organization,
            patient: contact.id,
            type: 'inbound',
            // Stamped by the service clock, which the acknowledgement of the answer is planned by.
            createdAt: now,
            channel: 'sms',
            status: 'delivered',
            from: sms.From,
            to: sms.To,
            text: sms.Body,
            language: contact.language,
            externalId,
            ...(inResponse ? {} : { externalStatus: { vendor: sms.vendor, messageId: sms.MessageSid } }),
            classification: reading.classification === 'recognized-keywords' ? 'recognized_keywords' : reading.classification,
            appointment: survey?.response.appointment ?? reminder?.appointment ?? null,
            reminder: offer?.reminder ?? referral?.reminder ?? survey?.response.reminder ?? reminder?.id ?? null,
            offer: offer?.id ?? null,
            createdBy: PATIENT,
            updatedBy: PATIENT,
          },
        });
        emit(replyReceivedV1, {
          organization,
          subject: contact.id,
          data: {
            _id: reply.id,
            patient: contact.id,
            channel: 'sms',
            classification: reading.classification,
            intent: reading.intent,
            receivedAt: now.toISOString(),
            appointment: survey?.response.appointment ?? reminder?.appointment ?? null,
            reminder: offer?.reminder ?? referral?.reminder ?? survey?.response.reminder ?? reminder?.id ?? null,
            offer: offer?.id ?? null,
          },
        });
        if (broadcast)
          await raiseNotification(tx, {
            organization,
            type: 'broadcast.reply',
            ref: 'message',
            refId: reply.id,
            patient: contact.id,
            title: 'Reply to a broadcast',
            body: `A patient replied to the broadcast “${broadcast.title}”.`,
          });
        // Recorded with the reply, whose vendor id is unique: a webhook delivered twice asks once.
        if (referral?.schedules)
          emit(referralAnsweredV1, referralAnswered(organization, contact.id, referral.referral, 'sms', reply.id, now));
        // Likewise scored once; a survey already answered keeps its first score.
        if (survey)
          scored = (
            await this.feedback!.recordScore(
              tx,
              survey.response,
              { score: survey.score, channel: 'sms', reply: reply.id, by: PATIENT },
              now,
            )
          ).recorded;
        if (answered?.lostAnswer) {
          // The reply proves the text arrived: the reminder went, and is not sent again (unless a sender holds it now).
          await tx.reminder.updateMany({
            where: { id: answered.reminder.id, status: { in: ['scheduled', 'skipped'] }, statusReason: { in: OUTCOME_UNKNOWN } },
            data: {
              status: 'sent',
              statusReason: ANSWERED_AFTER_LOST_ANSWER,
              sentAt: now,
              message: answered.lostAnswer,
              retryAt: null,
              updatedBy: PATIENT,
            },
          });
        }
        if (reading.intent === 'opt-out' || reading.intent === 'opt-in') {
          const optingOut = reading.intent === 'opt-out';
          await tx.patientContact.update({
            where: { id: contact.id },
            data: { optedOutAt: optingOut ? (contact.optedOutAt ?? now) : null },
          });
          await applyConsent(tx, organization, contact.id, now);
          // A number that spoke before any patient was known at it now says otherwise: patients learnt there later
          // follow this word; those who already had the earlier one keep what they have.
          await tx.numberConsent.updateMany({
            where: { phone: sms.From },
            data: { optedOut: optingOut, keyword: reading.keyword ?? '', changedAt: now, appliedTo: { push: contact.id } },
          });
          const data = { _id: contact.id, channel: 'sms' as const, keyword: reading.keyword ?? '' };
          emit(optingOut ? patientOptedOutV1 : patientOptedInV1, { organization, subject: contact.id, data });
        }
        if (ack) {
          // The answer travels in the webhook's response; its record says so instead of naming a vendor id.
          const answer = await tx.message.create({
            data: {
              id: randomUUID(),
              organization,
              patient: contact.id,
              type: 'outbound',
              channel: 'sms',
              status: inResponse ? 'sent' : 'skipped',
              ...(inResponse ? {} : { skippedStatusReason: 'no-reply-channel' }),
              key: ackKey,
              from: sms.To,
              to: sms.From,
              text: ack,
              language: contact.language,
              externalStatus: inResponse ? { twiml: true, inReplyTo: sms.MessageSid } : { vendor: sms.vendor, inReplyTo: sms.MessageSid },
              automated: true,
              appointment: reminder?.appointment ?? null,
              createdBy: PATIENT,
              updatedBy: PATIENT,
            },
          });
          if (inResponse) {
            emit(messageSentV1, { organization, subject: answer.id, data: { ...messageEventData(answer), ...messageUsage('sms', ack) } });
          }
        }
      });
    } catch (error) {
      // The same webhook, delivered twice at once: the other delivery recorded it.
      if (sqlState(error) === '23505' || (error as { code?: string }).code === 'P2002') return twiml(null);
      throw error;
    }
    // The answer the score earns is planned due now.
    if (scored) this.feedback?.wake();
    this.logger.info(
      { messageSid: sms.MessageSid, vendor: sms.vendor ?? 'twilio', intent: reading.intent, classification: reading.classification },
      'reply received',
    );
    return twiml(ack);
  }

  /**
   * A reply from a number no patient has in messaging yet: recorded so it is not lost, STOP, START and HELP answered
   * in the built-in English wording (no organization or language is known), STOP and START kept for the number and
   * applied to the patients messaging learns there later (read-models.handlers.ts). Anything else answers nothing we sent.
   */
  private async receiveUnmatched(sms: IncomingSms, externalId: string, inResponse: boolean): Promise<string> {
    const now = this.clock();
    const consent = await this.prisma.numberConsent.findUnique({ where: { phone: sms.From } });
    const reading = classifyReply(sms.Body, consent?.optedOut ?? false);
    const ackKey = ackKeyOf(reading);
    const wording = ackKey ? builtIn(ackKey, 'en') : null;
    const ack = wording ? render(wording.text, variablesOf({ help: DEFAULT_HELP_TEXT }, 'en')) : null;
    try {
      await this.prisma.$transaction(async (tx) => {
        await tx.unmatchedReply.create({
          data: {
            id: randomUUID(),
            externalId,
            from: sms.From,
            to: sms.To,
            text: sms.Body,
            classification: reading.classification === 'recognized-keywords' ? 'recognized_keywords' : reading.classification,
            intent: reading.intent,
            receivedAt: now,
          },
        });
        if (reading.intent === 'opt-out' || reading.intent === 'opt-in') {
          const word = { optedOut: reading.intent === 'opt-out', keyword: reading.keyword ?? '', changedAt: now, appliedTo: [] };
          await tx.numberConsent.upsert({ where: { phone: sms.From }, create: { phone: sms.From, ...word }, update: word });
        }
      });
    } catch (error) {
      if (sqlState(error) === '23505' || (error as { code?: string }).code === 'P2002') return twiml(null);
      throw error;
    }
    this.logger.info(
      { messageSid: sms.MessageSid, vendor: sms.vendor ?? 'twilio', intent: reading.intent, classification: reading.classification },
      'reply from a number no patient has: recorded',
    );
    return twiml(inResponse ? ack : null);
  }

  /** The broadcast a reply answers: the patient's latest automated text was one. Null otherwise. */
  private async answeredBroadcast(contact: PatientContact): Promise<{ id: string; title: string } | null> {
    const latest = await this.prisma.message.findFirst({
      where: { organization: contact.organization, patient: contact.id, type: 'outbound', automated: true, deleted: false },
      orderBy: { createdAt: 'desc' },
      select: { broadcast: true },
    });
    if (!latest?.broadcast) return null;
    return this.prisma.broadcast.findFirst({
      where: { id: latest.broadcast, organization: contact.organization },
      select: { id: true, title: true },
    });
  }

  /**
   * The reminder an SMS reply answers: the latest one handed to the vendor, sent or with an attempt whose outcome is
   * unknown (the vendor's answer was lost, or its sender died mid-send); `lostAnswer` names the message of the latter.
   */
  private async answeredReminder(contact: PatientContact): Promise<{ reminder: Reminder; lostAnswer: string | null } | null> {
    const mine = {
      organization: contact.organization,
      patient: contact.id,
      appointment: { not: null },
      // A survey about a past visit asks nothing of the appointment: later replies answer its reminders.
      type: { not: 'feedback' },
      deleted: false,
    } satisfies Prisma.ReminderWhereInput;
    const [sent, unknown, crashed] = await Promise.all([
      this.prisma.reminder.findFirst({
        where: { ...mine, status: { in: ['sent', 'delivered', 'confirmed'] } },
        orderBy: { sentAt: 'desc' },
      }),
      this.prisma.reminder.findFirst({
        where: { ...mine, status: { in: ['scheduled', 'queued', 'skipped'] }, statusReason: { in: OUTCOME_UNKNOWN } },
        orderBy: { updatedAt: 'desc' },
      }),
      // A text whose sender died mid-send (ADR 0031): its message pending, or settled as outcome-unknown.
      this.prisma.message.findFirst({
        where: {
          organization: contact.organization,
          patient: contact.id,
          type: 'outbound',
          reminder: { not: null },
          deleted: false,
          OR: [{ status: 'pending' }, { status: 'undelivered', skippedStatusReason: OUTCOME_UNKNOWN_REASON }],
        },
        orderBy: { createdAt: 'desc' },
        select: { id: true, reminder: true, createdAt: true },
      }),
    ]);
    let lost: { reminder: Reminder; message: { id: string; createdAt: Date } } | null = null;
    if (unknown) {
      const message = await this.prisma.message.findFirst({
        where: { reminder: unknown.id, type: 'outbound' },
        orderBy: { createdAt: 'desc' },
        select: { id: true, createdAt: true },
      });
      if (message) lost = { reminder: unknown, message };
    }
    if (crashed && (!lost || crashed.createdAt > lost.message.createdAt)) {
      // Only while its reminder has not gone since (claimed again, or waiting for its retry).
      const owner = await this.prisma.reminder.findFirst({
        where: { ...mine, id: crashed.reminder!, status: { in: ['scheduled', 'queued'] } },
      });
      if (owner) lost = { reminder: owner, message: crashed };
    }
    if (!lost) return sent ? { reminder: sent, lostAnswer: null } : null;
    // Messages are stamped by one clock (the database's), reminders' sentAt by the service's: compare the messages.
    const sentMessage = sent?.message
      ? await this.prisma.message.findFirst({ where: { id: sent.message }, select: { createdAt: true } })
      : null;
    if (sent && (!sentMessage || sentMessage.createdAt > lost.message.createdAt)) return { reminder: sent, lostAnswer: null };
    return { reminder: lost.reminder, lostAnswer: lost.message.id };
  }

  /**
   * Records an answer that is not an SMS and publishes it as reply.received about what the answered message was
   * about, once per key. Answers the wording key the patient is to be answered with: the first answer's on a repeat.
   */
  async answer(answer: Answer, correlationId: string): Promise<{ outcome: string }> {
    const recorded = () =>
      this.prisma.message.findFirst({ where: { externalId: answer.key, type: 'inbound' }, select: { externalStatus: true } });
    const repeat = (row: { externalStatus: unknown }) => ({
      outcome: String((row.externalStatus as { outcome?: unknown } | null)?.outcome ?? answer.outcome),
    });
    const earlier = await recorded();
    if (earlier) return repeat(earlier);
    const { answered } = answer;
    const now = this.clock();
    const refs = { appointment: answered.appointment, reminder: answered.reminder, offer: answered.offer };
    try {
      await this.work.run({ correlationId }, async (tx, emit) => {
        const reply = await tx.message.create({
          data: {
            id: randomUUID(),
            organization: answered.organization,
            patient: answered.patient,
            type: 'inbound',
            // Stamped by the service clock, which the acknowledgement of the answer is planned by.
            createdAt: now,
            channel: answered.channel,
            status: 'delivered',
            from: answered.to,
            to: answered.from,
            text: answer.text,
            language: answered.language,
            externalId: answer.key,
            externalStatus: { outcome: answer.outcome, inReplyTo: answered.id },
            classification: answer.reading.classification === 'recognized-keywords' ? 'recognized_keywords' : answer.reading.classification,
            ...refs,
            createdBy: PATIENT,
            updatedBy: PATIENT,
          },
        });
        emit(replyReceivedV1, {
          organization: answered.organization,
          subject: answered.patient,
          data: {
            _id: reply.id,
            patient: answered.patient,
            channel: answered.channel,
            classification: answer.reading.classification,
            intent: answer.reading.intent,
            receivedAt: now.toISOString(),
            ...refs,
          },
        });
        answer.also?.(emit, reply.id, now);
      });
    } catch (error) {
      // The same answer, delivered twice at once: the other delivery recorded it.
      if (sqlState(error) === '23505' || (error as { code?: string }).code === 'P2002')
        return repeat((await recorded()) ?? { externalStatus: null });
      throw error;
    }
    this.logger.info({ messageId: answered.id, channel: answered.channel, intent: answer.reading.intent }, 'answer received');
    return { outcome: answer.outcome };
  }

  /** Whether the offer a message was about can still be taken, as far as messaging has heard. */
  async offerOpen(message: Message): Promise<boolean> {
    if (!message.offer) return false;
    const offer = await this.prisma.offer.findFirst({ where: { id: message.offer, organization: message.organization } });
    return offer !== null && offer.status === 'in-progress' && offer.expireAt > this.clock();
  }

  /** The offer the patient's latest automated text was about, while it is still open; null otherwise. */
  private async openOffer(contact: PatientContact, now: Date): Promise<{ id: string; reminder: string | null } | null> {
    const latest = await this.prisma.message.findFirst({
      where: {
        organization: contact.organization,
        patient: contact.id,
        type: 'outbound',
        automated: true,
        key: { in: ['reminder', 'offer'] },
      },
      orderBy: { createdAt: 'desc' },
      select: { key: true, offer: true, reminder: true },
    });
    if (!latest || latest.key !== 'offer' || !latest.offer) return null;
    const offer = await this.prisma.offer.findFirst({ where: { id: latest.offer, organization: contact.organization } });
    if (!offer || offer.status !== 'in-progress' || offer.expireAt <= now) return null;
    return { id: offer.id, reminder: latest.reminder };
  }

  /** The patient a number belongs to: the one last written to at it (one number may be several patients'), else its holder. */
  private async sender(phone: string): Promise<PatientContact | null> {
    const last = await this.prisma.message.findFirst({
      where: { type: 'outbound', to: phone, deleted: false },
      orderBy: { createdAt: 'desc' },
      select: { patient: true, organization: true },
    });
    if (last) {
      // Only while the number is still theirs: a patient who changed numbers must not be answered for by whoever
      // holds the old one now.
      const contact = await this.prisma.patientContact.findFirst({
        where: { id: last.patient, organization: last.organization, phone, deleted: false },
      });
      if (contact) return contact;
    }
    return this.prisma.patientContact.findFirst({ where: { phone, deleted: false }, orderBy: { updatedAt: 'desc' } });
  }
}
