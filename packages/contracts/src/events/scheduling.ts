import { z } from 'zod';
import { defineEvent } from '../registry.js';

const PROVIDER_TOPIC = 'scheduling.provider';
const FACILITY_TOPIC = 'scheduling.facility';
const APPOINTMENT_TYPE_TOPIC = 'scheduling.appointment-type';
const APPOINTMENT_TOPIC = 'scheduling.appointment';

/** Where an appointment came from (the product's `source` values). */
export const appointmentSources = ['integrator', 'reminder', 'ui', 'waitlist', 'reschedule', 'telehealth', 'manual'] as const;
/** The states of an appointment. */
export const appointmentStatuses = ['unconfirmed', 'confirmed', 'cancelled'] as const;
/** What became of an appointment once it started, as staff record it. */
export const appointmentOutcomes = ['no-show', 'completed'] as const;

const changed = z.array(z.string()).min(1);
const deleted = z.object({ _id: z.uuid() });

/** What other services keep about a provider: names to show and say in messages, no contact details. */
const providerSnapshot = z.object({
  /** Provider id. */
  _id: z.uuid(),
  /** Display name, `firstname lastname`. */
  name: z.string(),
  /** Given name. */
  firstname: z.string(),
  /** Family name. */
  lastname: z.string(),
  /** Name to use in messages instead of `name`, when set. */
  alternativeName: z.string().nullable(),
  /** How to pronounce the name in voice calls, when set. */
  phonetic: z.string().nullable(),
  /** Whether patients may be booked with the provider. */
  schedulable: z.boolean(),
  /** Whether the provider is offered in lists and search. */
  visible: z.boolean(),
});

/** A provider was added. */
export const providerCreatedV1 = defineEvent({ type: 'provider.created', version: 1, topic: PROVIDER_TOPIC, data: providerSnapshot });

/** A provider changed; the full new snapshot and the names of the changed fields. */
export const providerUpdatedV1 = defineEvent({
  type: 'provider.updated',
  version: 1,
  topic: PROVIDER_TOPIC,
  data: providerSnapshot.extend({ changed }),
});

/** A provider was deleted (soft: existing appointments keep pointing at it). */
export const providerDeletedV1 = defineEvent({ type: 'provider.deleted', version: 1, topic: PROVIDER_TOPIC, data: deleted });

/** What other services keep about a facility: where it is, how to reach it, and the time zone its clock runs in. */
const facilitySnapshot = z.object({
  /** Facility id. */
  _id: z.uuid(),
  /** Display name. */
  name: z.string(),
  /** Name to use in messages instead of `name`, when set. */
  alternativeName: z.string().nullable(),
  /** How to pronounce the name in voice calls, when set. */
  phonetic: z.string().nullable(),
  /** Street address, when known. */
  address: z.string().nullable(),
  city: z.string().nullable(),
  state: z.string().nullable(),
  postcode: z.string().nullable(),
  country: z.string().nullable(),
  /** The front desk's phone number, when known. */
  phone: z.string().nullable(),
  /** IANA time zone appointments at this facility are told in, e.g. `America/New_York`. */
  timeZone: z.string(),
  /** Whether the facility is offered in lists and search. */
  visible: z.boolean(),
});

/** A facility was added. */
export const facilityCreatedV1 = defineEvent({ type: 'facility.created', version: 1, topic: FACILITY_TOPIC, data: facilitySnapshot });

/** A facility changed; the full new snapshot and the names of the changed fields. */
export const facilityUpdatedV1 = defineEvent({
  type: 'facility.updated',
  version: 1,
  topic: FACILITY_TOPIC,
  data: facilitySnapshot.extend({ changed }),
});

/** A facility was deleted (soft: existing appointments keep pointing at it). */
export const facilityDeletedV1 = defineEvent({ type: 'facility.deleted', version: 1, topic: FACILITY_TOPIC, data: deleted });

/** What other services keep about an appointment type. */
const appointmentTypeSnapshot = z.object({
  /** Appointment type id. */
  _id: z.uuid(),
  /** Display name. */
  name: z.string(),
  /** Name to use in messages instead of `name`, when set. */
  alternativeName: z.string().nullable(),
  /** Usual length in minutes; appointments of this type default to it. */
  duration: z.number().int().positive(),
  /** Whether the type is offered in lists and search. */
  visible: z.boolean(),
});

/** An appointment type was added. */
export const appointmentTypeCreatedV1 = defineEvent({
  type: 'appointment-type.created',
  version: 1,
  topic: APPOINTMENT_TYPE_TOPIC,
  data: appointmentTypeSnapshot,
});

/** An appointment type changed; the full new snapshot and the names of the changed fields. */
export const appointmentTypeUpdatedV1 = defineEvent({
  type: 'appointment-type.updated',
  version: 1,
  topic: APPOINTMENT_TYPE_TOPIC,
  data: appointmentTypeSnapshot.extend({ changed }),
});

/** An appointment type was deleted (soft: existing appointments keep pointing at it). */
export const appointmentTypeDeletedV1 = defineEvent({
  type: 'appointment-type.deleted',
  version: 1,
  topic: APPOINTMENT_TYPE_TOPIC,
  data: deleted,
});

/**
 * An appointment as messaging schedules reminders from it: ids of who, where and what, when, and the facility's
 * time zone so local times can be told and quiet hours kept without another lookup.
 */
const appointmentSnapshot = z.object({
  /** Appointment id. */
  _id: z.uuid(),
  /** Patient id (patients service). */
  patient: z.uuid(),
  /** Provider id. */
  provider: z.uuid(),
  /** Facility id. */
  facility: z.uuid(),
  /** Appointment type id; null when booked without one (a v1 client's body). */
  type: z.uuid().nullable(),
  /** Start (RFC 3339, UTC). */
  date: z.iso.datetime({ offset: true }),
  /** Length in minutes. */
  duration: z.number().int().positive(),
  status: z.enum(appointmentStatuses),
  source: z.enum(appointmentSources),
  /** IANA time zone of the facility. */
  timeZone: z.string(),
  /** The referral this appointment was booked for, when one (added within v1; older events lack it). */
  referral: z.uuid().nullable().optional(),
});

/** An appointment was booked. */
export const appointmentCreatedV1 = defineEvent({
  type: 'appointment.created',
  version: 1,
  topic: APPOINTMENT_TOPIC,
  data: appointmentSnapshot,
});

/**
 * An appointment moved in time, changed length, provider or facility; reminders planned for the old slot are void.
 * Carries the new snapshot, the changed fields and what they were before.
 */
export const appointmentRescheduledV1 = defineEvent({
  type: 'appointment.rescheduled',
  version: 1,
  topic: APPOINTMENT_TOPIC,
  data: appointmentSnapshot.extend({
    changed,
    previous: z.object({
      date: z.iso.datetime({ offset: true }),
      duration: z.number().int().positive(),
      provider: z.uuid(),
      facility: z.uuid(),
      timeZone: z.string(),
    }),
  }),
});

/** An appointment changed in a way that does not move it (its type); the new snapshot and the changed fields. */
export const appointmentUpdatedV1 = defineEvent({
  type: 'appointment.updated',
  version: 1,
  topic: APPOINTMENT_TOPIC,
  data: appointmentSnapshot.extend({ changed }),
});

/** An appointment was confirmed (by staff, or by the patient's reply). */
export const appointmentConfirmedV1 = defineEvent({
  type: 'appointment.confirmed',
  version: 1,
  topic: APPOINTMENT_TOPIC,
  data: appointmentSnapshot,
});

/** An appointment was cancelled; its slot is free again. */
export const appointmentCancelledV1 = defineEvent({
  type: 'appointment.cancelled',
  version: 1,
  topic: APPOINTMENT_TOPIC,
  data: appointmentSnapshot,
});

/** An appointment was deleted (soft); nothing more is sent about it and its slot is free again. */
export const appointmentDeletedV1 = defineEvent({
  type: 'appointment.deleted',
  version: 1,
  topic: APPOINTMENT_TOPIC,
  data: appointmentSnapshot,
});

/** An appointment with the outcome staff recorded once it had started. */
const appointmentOutcomeSnapshot = appointmentSnapshot.extend({
  /** When the outcome was recorded (RFC 3339, UTC). */
  outcomeAt: z.iso.datetime({ offset: true }),
});

/** The patient did not come to an appointment; follow-ups may invite them to book again. */
export const appointmentNoShowV1 = defineEvent({
  type: 'appointment.no-show',
  version: 1,
  topic: APPOINTMENT_TOPIC,
  data: appointmentOutcomeSnapshot,
});

/** An appointment took place; follow-ups may ask the patient about it. */
export const appointmentCompletedV1 = defineEvent({
  type: 'appointment.completed',
  version: 1,
  topic: APPOINTMENT_TOPIC,
  data: appointmentOutcomeSnapshot,
});

const WAITLIST_TOPIC = 'scheduling.waitlist';
const OFFER_TOPIC = 'scheduling.offer';

/** The states of a waitlist entry (the product's). */
export const waitlistStatuses = ['waiting', 'in-flight', 'offered', 'confirming', 'accepted', 'pending', 'declined'] as const;
/** The states of an offer of a freed slot. */
export const offerStatuses = ['in-progress', 'patient-found', 'patient-not-found', 'cancelled'] as const;
/** How an offer reaches patients: all at once, or one after another. */
export const offerProtocols = ['serial', 'parallel'] as const;
/** What made an offer (the product's values). */
export const offerSources = [
  'cancellation',
  'manual',
  'find-open-spots',
  'self-scheduling',
  'reschedule',
  'staff-scheduling',
  'reschedule-from-intent',
] as const;

/** A waitlist entry as others may know it: ids and states, no names or notes. */
const waitlistSnapshot = z.object({
  /** Waitlist entry id. */
  _id: z.uuid(),
  /** Patient id (patients service). */
  patient: z.uuid(),
  /** Provider asked for; null means any. */
  provider: z.uuid().nullable(),
  /** Facility asked for; null means any (or one of `facilities`). */
  facility: z.uuid().nullable(),
  /** Further acceptable facilities. */
  facilities: z.array(z.uuid()),
  /** Appointment type asked for; null means any. */
  appointmentType: z.uuid().nullable(),
  /** Order in the organization's waitlist, lower first. */
  position: z.number().int(),
  status: z.enum(waitlistStatuses),
  /** The offer the entry is part of now, if any. */
  offer: z.uuid().nullable(),
  deleted: z.boolean(),
});

/** A waitlist entry was added, changed, moved, changed state or was deleted; `changed` names what changed. */
export const waitlistEntryChangedV1 = defineEvent({
  type: 'waitlist.entry-changed',
  version: 1,
  topic: WAITLIST_TOPIC,
  data: waitlistSnapshot.extend({ changed }),
});

/**
 * A patient asked by reply (WAITLIST) to wait for another slot like `appointment`'s: `_id` is their waitlist entry for
 * that provider, facility and type, `created` false when they already had one (no second entry is made).
 */
export const waitlistRequestedV1 = defineEvent({
  type: 'waitlist.requested',
  version: 1,
  topic: WAITLIST_TOPIC,
  data: z.object({
    /** Waitlist entry id. */
    _id: z.uuid(),
    /** Patient id (patients service). */
    patient: z.uuid(),
    /** The appointment the reply referred to (usually the one just cancelled). */
    appointment: z.uuid(),
    provider: z.uuid().nullable(),
    facility: z.uuid().nullable(),
    appointmentType: z.uuid().nullable(),
    /** Whether this reply made the entry (false: the patient was already waiting for the same). */
    created: z.boolean(),
  }),
});

/** A patient an offer is (or was) made to. */
const offerPatient = z.object({
  /** Patient id (patients service). */
  patient: z.uuid(),
  /** Their waitlist entry. */
  waitlist: z.uuid(),
});

/** An offer as messaging texts it: the slot, the facility's time zone, and until when it can be accepted. */
const offerSnapshot = z.object({
  /** Offer id; replies accepting or declining refer to it. */
  _id: z.uuid(),
  provider: z.uuid(),
  facility: z.uuid(),
  appointmentType: z.uuid(),
  /** Start of the slot (RFC 3339, UTC). */
  date: z.iso.datetime({ offset: true }),
  /** Length in minutes. */
  duration: z.number().int().positive(),
  /** IANA time zone of the facility. */
  timeZone: z.string(),
  /** When the patients offered now can no longer accept. */
  expireAt: z.iso.datetime({ offset: true }),
  protocol: z.enum(offerProtocols),
  source: z.enum(offerSources),
  status: z.enum(offerStatuses),
});

/** A freed slot was offered; `offered` are the patients to text now (serial: the first one only). */
export const offerCreatedV1 = defineEvent({
  type: 'offer.created',
  version: 1,
  topic: OFFER_TOPIC,
  data: offerSnapshot.extend({ offered: z.array(offerPatient).min(1) }),
});

/** A serial offer moved on after a decline or lapse: `offered` are the patients to text now. */
export const offerExtendedV1 = defineEvent({
  type: 'offer.extended',
  version: 1,
  topic: OFFER_TOPIC,
  data: offerSnapshot.extend({ offered: z.array(offerPatient).min(1) }),
});

/**
 * A patient took the slot. `appointment` is the booking made for them; `awaitingApproval` is true when the
 * organization has the front office approve accepted offers first (the slot is held by that booking meanwhile).
 */
export const offerAcceptedV1 = defineEvent({
  type: 'offer.accepted',
  version: 1,
  topic: OFFER_TOPIC,
  data: offerSnapshot.extend({ patient: z.uuid(), waitlist: z.uuid(), appointment: z.uuid(), awaitingApproval: z.boolean() }),
});

/** The front office approved an acceptance it held (`offer.accepted` with `awaitingApproval`): the booking stands. */
export const offerApprovedV1 = defineEvent({
  type: 'offer.approved',
  version: 1,
  topic: OFFER_TOPIC,
  data: offerSnapshot.extend({ patient: z.uuid(), waitlist: z.uuid(), appointment: z.uuid() }),
});

/** The front office declined an acceptance it held: the patient does not get the slot; `appointment` was their held booking, now cancelled. */
export const offerRejectedV1 = defineEvent({
  type: 'offer.rejected',
  version: 1,
  topic: OFFER_TOPIC,
  data: offerSnapshot.extend({ patient: z.uuid(), waitlist: z.uuid(), appointment: z.uuid().nullable() }),
});

/** Nobody accepted before the offer lapsed; `patients` were offered it and are waiting again. */
export const offerExpiredV1 = defineEvent({
  type: 'offer.expired',
  version: 1,
  topic: OFFER_TOPIC,
  data: offerSnapshot.extend({ patients: z.array(offerPatient) }),
});

/**
 * An offer is over for the patients listed: the slot was taken by someone else (`patient-found`), the offer was
 * cancelled, the slot was booked another way, or everyone offered declined (`patient-not-found`, nobody to tell).
 * Messaging tells `patients` the slot is gone.
 */
export const offerClosedV1 = defineEvent({
  type: 'offer.closed',
  version: 1,
  topic: OFFER_TOPIC,
  data: offerSnapshot.extend({
    reason: z.enum(['patient-found', 'cancelled', 'slot-booked', 'patient-not-found']),
    patients: z.array(offerPatient),
  }),
});

const AVAILABILITY_TOPIC = 'scheduling.availability';

/** The states of an availability (the product's). */
export const availabilityStatuses = [
  'available',
  'booked-pending',
  'offered',
  'booked',
  'booked-by-integrator',
  'booked-by-offer',
  'expired',
] as const;

/** An availability (a bookable slot of a provider) as others may know it. */
const availabilitySnapshot = z.object({
  /** Availability id. */
  _id: z.uuid(),
  provider: z.uuid(),
  facility: z.uuid(),
  /** The appointment type the slot is for; null means any type that fits. */
  appointmentType: z.uuid().nullable(),
  /** Start of the slot (RFC 3339, UTC). */
  date: z.iso.datetime({ offset: true }),
  /** Length in minutes. */
  duration: z.number().int().positive(),
  /** End of the slot (RFC 3339, UTC). */
  endDate: z.iso.datetime({ offset: true }),
  /** IANA time zone of the facility, so local times can be told. */
  timeZone: z.string(),
  status: z.enum(availabilityStatuses),
  /** The offer the slot is offered in or was taken through, if any. */
  offer: z.uuid().nullable(),
  /** The slot's id in the system it was synced from, if any. */
  externalId: z.string().nullable(),
});

/**
 * A slot became available: it was added, the appointment holding it was cancelled, deleted or moved away, the offer
 * of it ended without a patient, or staff released a hold. `reason` says which.
 */
export const availabilityOpenedV1 = defineEvent({
  type: 'availability.opened',
  version: 1,
  topic: AVAILABILITY_TOPIC,
  data: availabilitySnapshot.extend({ reason: z.enum(['created', 'appointment-cancelled', 'offer-ended', 'released']) }),
});

/**
 * A slot was booked: for a patient by staff (`booked`), by the patient who accepted an offer of it
 * (`booked-by-offer`), or in the integrated system (`booked-by-integrator`, no appointment here).
 */
export const availabilityBookedV1 = defineEvent({
  type: 'availability.booked',
  version: 1,
  topic: AVAILABILITY_TOPIC,
  data: availabilitySnapshot.extend({
    /** The appointment booked into the slot; null when it was booked in the integrated system. */
    appointment: z.uuid().nullable(),
    /** Patient id (patients service); null when it was booked in the integrated system. */
    patient: z.uuid().nullable(),
  }),
});
