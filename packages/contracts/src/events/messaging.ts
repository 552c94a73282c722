import { z } from 'zod';
import { defineEvent } from '../registry.js';

const MESSAGE_TOPIC = 'messaging.message';
const REPLY_TOPIC = 'messaging.reply';
const CONSENT_TOPIC = 'messaging.consent';
const REMINDER_TOPIC = 'messaging.reminder';

/** Channels messaging sends and receives on. */
export const messageChannels = ['sms', 'email', 'voice'] as const;

/** How a reply was read: the product's classifications. */
export const replyClassifications = ['positive', 'negative', 'irregular', 'recognized-keywords', 'unclassified'] as const;

/** What a patient's reply asks for; `waitlist` asks to wait for another slot like the appointment it refers to. */
export const replyIntents = [
  'confirm',
  'cancel',
  'accept-offer',
  'decline-offer',
  'opt-out',
  'opt-in',
  'help',
  'other',
  'waitlist',
] as const;

/** What a message was sent about, when it was sent about something. */
const messageRefs = z.object({
  /** Appointment the message is about (scheduling). */
  appointment: z.uuid().nullable(),
  /** Reminder that sent it. */
  reminder: z.uuid().nullable(),
  /** Offer of a freed slot it carries (scheduling). */
  offer: z.uuid().nullable(),
});

/**
 * An outbound message as others may know it: ids, channel, states and what it is about. Never its text or the
 * address it went to: those are PHI and stay in messaging.
 */
const messageSnapshot = z
  .object({
    /** Message id. */
    _id: z.uuid(),
    /** Patient it went to. */
    patient: z.uuid(),
    channel: z.enum(messageChannels),
    /** Template key it was rendered from, when it was. */
    key: z.string().nullable(),
    /** Whether the platform sent it on its own (reminders, acknowledgements) rather than a person. */
    automated: z.boolean(),
  })
  .extend(messageRefs.shape);

/**
 * A message left the platform: handed to the SMS/voice vendor or the mail server (or the development sink). `segments`
 * and `voiceMinutes` were added later and are optional, so events written before them still parse; a consumer counts a
 * text or call that lacks them as one.
 */
export const messageSentV1 = defineEvent({
  type: 'message.sent',
  version: 1,
  topic: MESSAGE_TOPIC,
  data: messageSnapshot.extend({
    /** Vendor's id of the message (Twilio SID, mail Message-ID), when it gave one. */
    externalId: z.string().nullable(),
    /** SMS only: the segments the text is billed as (GSM-7 160/153 characters, else UCS-2 70/67). */
    segments: z.number().int().positive().optional(),
    /** Voice only: the minutes the call is billed as (1 per call: the duration is not known when it is placed). */
    voiceMinutes: z.number().int().positive().optional(),
  }),
});

/** The vendor reported the message delivered to the patient's device. */
export const messageDeliveredV1 = defineEvent({
  type: 'message.delivered',
  version: 1,
  topic: MESSAGE_TOPIC,
  data: messageSnapshot.extend({ externalId: z.string().nullable() }),
});

/** The message could not be sent or delivered; `reason` is the vendor's status or error code, never content. */
export const messageFailedV1 = defineEvent({
  type: 'message.failed',
  version: 1,
  topic: MESSAGE_TOPIC,
  data: messageSnapshot.extend({
    externalId: z.string().nullable(),
    /** `undelivered`, `failed`, or the sending error's code. */
    reason: z.string(),
  }),
});

/**
 * A patient replied. Keyed by the patient, so one patient's replies stay in order (a C followed by an X).
 * The owner of what the reply refers to decides what it means: scheduling confirms or cancels, takes or releases an offer.
 */
export const replyReceivedV1 = defineEvent({
  type: 'reply.received',
  version: 1,
  topic: REPLY_TOPIC,
  data: z
    .object({
      /** Id of the inbound message. */
      _id: z.uuid(),
      /** Patient who replied. */
      patient: z.uuid(),
      channel: z.enum(messageChannels),
      classification: z.enum(replyClassifications),
      intent: z.enum(replyIntents),
      /** When the vendor received it. */
      receivedAt: z.iso.datetime({ offset: true }),
    })
    .extend(messageRefs.shape),
});

/** A patient asked for no more messages (STOP and its synonyms); nothing more is sent until they opt in. */
export const patientOptedOutV1 = defineEvent({
  type: 'patient.opted-out',
  version: 1,
  topic: CONSENT_TOPIC,
  data: z.object({
    /** Patient id. */
    _id: z.uuid(),
    channel: z.enum(messageChannels),
    /** The keyword the patient sent, upper-cased (STOP, UNSUBSCRIBE…). */
    keyword: z.string(),
  }),
});

/** A patient who had opted out asked to receive messages again (START and its synonyms). */
export const patientOptedInV1 = defineEvent({
  type: 'patient.opted-in',
  version: 1,
  topic: CONSENT_TOPIC,
  data: z.object({ _id: z.uuid(), channel: z.enum(messageChannels), keyword: z.string() }),
});

/** A reminder of an appointment went out; the message carries the rest. */
export const reminderSentV1 = defineEvent({
  type: 'reminder.sent',
  version: 1,
  topic: REMINDER_TOPIC,
  data: z.object({
    /** Reminder id. */
    _id: z.uuid(),
    patient: z.uuid(),
    /** Appointment it reminds of. */
    appointment: z.uuid().nullable(),
    /** Message it was sent as. */
    message: z.uuid(),
    channel: z.enum(messageChannels),
    /** When it was due. */
    sendAt: z.iso.datetime({ offset: true }),
    /** When it went out. */
    sentAt: z.iso.datetime({ offset: true }),
  }),
});
