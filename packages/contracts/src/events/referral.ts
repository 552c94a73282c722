import { z } from 'zod';
import { defineEvent } from '../registry.js';

const REFERRAL_TOPIC = 'patients.referral';
const OUTREACH_TOPIC = 'messaging.referral-outreach';

/** A referral's states, as the product names them (`-late`: after the referral's `expireAt`). */
export const referralStatuses = [
  'pending',
  'active',
  'called',
  'called-late',
  'scheduled',
  'scheduled-late',
  'incomplete',
  'expired',
  'cancelled',
  'closed',
] as const;
export type ReferralStatus = (typeof referralStatuses)[number];

/** Why a referral was rejected, cancelled or closed. */
export const referralStatusReasons = ['patient-cancelled', 'invalid-insurance', 'missing-data', 'other'] as const;

/** Where a referral came from. */
export const referralSources = ['upload', 'patient-referral-form', 'ui', 'integrator', 'followup', 'manual'] as const;

/** A referral as other services act on it: ids, state and dates; no notes or free text (they may hold PHI). */
const referralSnapshot = z.object({
  /** Referral id. */
  _id: z.uuid(),
  /** The referred patient (patients service). */
  patient: z.uuid(),
  /** Facility the patient is referred to, when set. */
  facility: z.uuid().nullable(),
  /** Provider of the clinic the patient is referred to, when set. */
  provider: z.uuid().nullable(),
  /** Appointment type to book, when set. */
  appointmentType: z.uuid().nullable(),
  /** The outside provider who referred the patient, when known. */
  referringProvider: z.uuid().nullable(),
  status: z.enum(referralStatuses),
  source: z.enum(referralSources),
  /** When outreach may start (RFC 3339). */
  startOn: z.iso.datetime({ offset: true }),
  /** When the referral lapses unless scheduled (RFC 3339); null when it does not. */
  expireAt: z.iso.datetime({ offset: true }).nullable(),
  /** Outreach attempts sent so far. */
  attempt: z.number().int().min(0),
});
export type ReferralSnapshot = z.infer<typeof referralSnapshot>;

/** A referral was received (status `pending`, or `active` when the organization approves referrals automatically). */
export const referralCreatedV1 = defineEvent({ type: 'referral.created', version: 1, topic: REFERRAL_TOPIC, data: referralSnapshot });

/** A referral's fields changed without a change of status; carries the new snapshot and the changed fields. */
export const referralUpdatedV1 = defineEvent({
  type: 'referral.updated',
  version: 1,
  topic: REFERRAL_TOPIC,
  data: referralSnapshot.extend({ changed: z.array(z.string()).min(1) }),
});

/** A referral moved from one status to another; carries the new snapshot, the status it left and why. */
export const referralStatusChangedV1 = defineEvent({
  type: 'referral.status-changed',
  version: 1,
  topic: REFERRAL_TOPIC,
  data: referralSnapshot.extend({
    /** The status the referral left. */
    previousStatus: z.enum(referralStatuses),
    /** Why, for a rejection, cancellation or closure. */
    statusReason: z.enum(referralStatusReasons).nullable(),
    /** The appointment that scheduled the referral, when scheduled. */
    scheduledByAppointment: z.uuid().nullable(),
    /** The waitlist offer whose acceptance scheduled it, when so. */
    scheduledByOffer: z.uuid().nullable(),
  }),
});

/** A referral was deleted (soft): outreach for it stops. */
export const referralDeletedV1 = defineEvent({
  type: 'referral.deleted',
  version: 1,
  topic: REFERRAL_TOPIC,
  data: z.object({
    /** The deleted referral's id. */
    _id: z.uuid(),
    /** Its patient. */
    patient: z.uuid(),
  }),
});

/** Channels referral outreach goes out on. */
export const referralOutreachChannels = ['sms', 'voice'] as const;

/** Messaging sent one outreach attempt for a referral (patients keeps `attempt` and `lastAttemptSentAt` from it). */
export const referralOutreachSentV1 = defineEvent({
  type: 'referral.outreach-sent',
  version: 1,
  topic: OUTREACH_TOPIC,
  data: z.object({
    /** The referral reached out for. */
    referral: z.uuid(),
    /** Its patient. */
    patient: z.uuid(),
    /** Which attempt this was, from 1. */
    attempt: z.number().int().min(1),
    channel: z.enum(referralOutreachChannels),
    /** Messaging's message id. */
    message: z.uuid(),
    /** When it was handed to the vendor (RFC 3339). */
    sentAt: z.iso.datetime({ offset: true }),
  }),
});

/** What a patient's answer to referral outreach asks for. */
export const referralAnswers = ['schedule'] as const;

/** The patient answered referral outreach asking to be scheduled (YES or CALL by text, or 1 on the phone). */
export const referralAnsweredV1 = defineEvent({
  type: 'referral.answered',
  version: 1,
  topic: OUTREACH_TOPIC,
  data: z.object({
    /** The referral answered. */
    referral: z.uuid(),
    /** Its patient. */
    patient: z.uuid(),
    answer: z.enum(referralAnswers),
    channel: z.enum(referralOutreachChannels),
    /** Messaging's id of the inbound message (or call). */
    message: z.uuid(),
    /** When the answer arrived (RFC 3339). */
    receivedAt: z.iso.datetime({ offset: true }),
  }),
});
