import { referralAnsweredV1, referralOutreachSentV1 } from '@pep/contracts';
import type { EventFields } from '@pep/db';
import type { z } from 'zod';
import type { Reading } from './classify.js';
import type { Db } from './events.js';
import type { Facility, PatientContact, Referral, Reminder } from './generated/prisma/client.js';
import { REFERRAL_OUTREACH } from './referral-outreach.handlers.js';

// The words that ask the clinic to call: YES (and its kin, read by classify.ts) or CALL.
const CALL = new Set(['CALL', 'CALL ME', 'LLAMAR', 'LLÁMENME']);

/**
 * Why a claimed referral outreach attempt is not sent, or null when it may go: the referral left `active` (or was
 * deleted, or never reached messaging), or the patient has no phone to text or call.
 */
export function referralSkipReason(attempt: Reminder, referral: Referral | null, contact: PatientContact | null, now: Date): string | null {
  if (!attempt.referral) return null;
  if (!referral || referral.deleted) return 'referral-deleted';
  if (referral.status !== 'active') return `referral-${referral.status}`;
  // Past its expireAt the referral is expired, whether or not patients' sweep has said so yet.
  if (referral.expireAt && referral.expireAt <= now) return 'referral-expired';
  if (contact && !contact.phone) return 'no-contact-details';
  return null;
}

/**
 * The facility as outreach names it: the front desk's number to call, else the facility's name (the patient can look
 * it up); "the clinic" when the referral names no facility.
 */
export function outreachFacility(facility: Pick<Facility, 'name' | 'phone'> | null): { name: string; phone: string } {
  return { name: facility?.name ?? 'the clinic', phone: facility?.phone ?? facility?.name ?? 'the clinic' };
}

/** referral.outreach-sent for an attempt whose message `message` the vendor took on `channel` at `sentAt`, traced by the attempt. */
export function referralOutreachSent(
  attempt: Reminder,
  message: string,
  channel: 'sms' | 'voice',
  sentAt: Date,
): EventFields<z.input<typeof referralOutreachSentV1.data>> {
  return {
    organization: attempt.organization,
    subject: attempt.referral!,
    cause: { correlationId: attempt.id },
    data: {
      referral: attempt.referral!,
      patient: attempt.patient,
      attempt: attempt.referralAttempt ?? 1,
      channel,
      message,
      sentAt: sentAt.toISOString(),
    },
  };
}

/** What an SMS reply answers when the patient's latest automated text was referral outreach. */
export interface ReferralReply {
  /** The outreach attempt (reminder) the reply answers. */
  reminder: string;
  referral: string;
  /** The reply asks to be called to schedule, and the referral still waits for it. */
  schedules: boolean;
}

/**
 * Reads a reply against the patient's latest automated text (reminders, offers and referral outreach, as replies are
 * linked everywhere): null when that text was not referral outreach. YES (or its kin) and CALL ask to be called to
 * schedule, while the referral is still `active`; any other reply (STOP, HELP, a question) answers nothing of it.
 */
export async function referralReplyOf(db: Db, contact: PatientContact, body: string, reading: Reading): Promise<ReferralReply | null> {
  const { organization } = contact;
  const latest = await db.message.findFirst({
    where: {
      organization,
      patient: contact.id,
      type: 'outbound',
      automated: true,
      key: { in: ['reminder', 'offer', REFERRAL_OUTREACH] },
    },
    orderBy: { createdAt: 'desc' },
    select: { key: true, reminder: true },
  });
  if (latest?.key !== REFERRAL_OUTREACH || !latest.reminder) return null;
  const attempt = await db.reminder.findFirst({ where: { id: latest.reminder, organization }, select: { referral: true } });
  if (!attempt?.referral) return null;
  const referral = await db.referral.findFirst({ where: { id: attempt.referral, organization, deleted: false }, select: { status: true } });
  const word = body
    .trim()
    .toUpperCase()
    .replace(/[.!?,;:'"]+$/g, '');
  const asks = reading.intent === 'confirm' || CALL.has(word);
  return { reminder: latest.reminder, referral: attempt.referral, schedules: asks && referral?.status === 'active' };
}

/** referral.answered: the patient asked to be called to schedule, by the inbound message (or call answer) `message`. */
export function referralAnswered(
  organization: string,
  patient: string,
  referral: string,
  channel: 'sms' | 'voice',
  message: string,
  receivedAt: Date,
): EventFields<z.input<typeof referralAnsweredV1.data>> {
  return {
    organization,
    subject: referral,
    data: { referral, patient, answer: 'schedule', channel, message, receivedAt: receivedAt.toISOString() },
  };
}
