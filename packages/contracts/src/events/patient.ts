import { z } from 'zod';
import { defineEvent } from '../registry.js';

const TOPIC = 'patients.patient';

/** Contact-free snapshot of a patient that other services keep as a read model. */
const patientSnapshot = z.object({
  /** Patient id. */
  _id: z.uuid(),
  /** Given name. */
  firstname: z.string(),
  /** Family name. */
  lastname: z.string(),
  /** Mobile phone in E.164, when known. */
  phone: z.string().nullable(),
  /** E-mail address, when known. */
  email: z.string().nullable(),
  /** Date of birth (YYYY-MM-DD), when known. */
  dateOfBirth: z.string().nullable(),
  /** Whether the patient must not be contacted on any channel. */
  doNotContact: z.boolean(),
  /** Middle name, when known (added within v1; older events lack it). */
  middlename: z.string().nullable().optional(),
  /** Preferred language for messages, ISO 639-1 (added within v1). */
  language: z.string().optional(),
  /** Id of the patient in the clinic's EHR, when known (added within v1). */
  externalId: z.string().nullable().optional(),
  /** Staff user ids following the patient (added within v1). */
  subscribers: z.array(z.string()).optional(),
  /** Staff's short labels of the patient, e.g. for a broadcast's audience (added within v1; older events lack it). */
  tags: z.array(z.string()).optional(),
});

/** A patient record was created. */
export const patientCreatedV1 = defineEvent({ type: 'patient.created', version: 1, topic: TOPIC, data: patientSnapshot });

/** A patient record changed; carries the full new snapshot and the names of changed fields. */
export const patientUpdatedV1 = defineEvent({
  type: 'patient.updated',
  version: 1,
  topic: TOPIC,
  data: patientSnapshot.extend({ changed: z.array(z.string()).min(1) }),
});

/** A patient record was deleted (soft): it leaves lists and search, and others should stop contacting it. */
export const patientDeletedV1 = defineEvent({
  type: 'patient.deleted',
  version: 1,
  topic: TOPIC,
  data: z.object({
    /** The deleted patient's id. */
    _id: z.uuid(),
  }),
});

/**
 * Two records of one person were merged: `merged` now points at `survivor` and leaves lists and search.
 * Services holding rows of the merged patient (appointments, messages) re-point them to the survivor.
 * Keyed by the merged patient, so it follows that patient's earlier events.
 */
export const patientMergedV1 = defineEvent({
  type: 'patient.merged',
  version: 1,
  topic: TOPIC,
  data: z.object({
    /** The record that remains. */
    survivor: z.uuid(),
    /** The record merged into the survivor. */
    merged: z.uuid(),
  }),
});

/** Channels a patient may be reached on. */
export const contactChannels = ['sms', 'voice', 'email'] as const;

/**
 * How a patient may be contacted changed: do-not-contact was set or cleared, the language changed, or the
 * channels the patient can be reached on changed. Messaging keeps its consent read model from this.
 */
export const patientContactPreferencesChangedV1 = defineEvent({
  type: 'patient.contact-preferences-changed',
  version: 1,
  topic: TOPIC,
  data: z.object({
    /** Patient id. */
    _id: z.uuid(),
    /** Whether nothing may be sent to the patient on any channel. */
    doNotContact: z.boolean(),
    /** Why, as staff recorded it. */
    doNotContactMessage: z.string().nullable(),
    /** Preferred language for messages, ISO 639-1. */
    language: z.string(),
    /** Channels messages may use now: none while do-not-contact is set; otherwise those the patient has details for. */
    channels: z.array(z.enum(contactChannels)),
  }),
});
