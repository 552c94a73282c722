import { randomUUID } from 'node:crypto';
import {
  appointmentCancelledV1,
  appointmentCreatedV1,
  appointmentDeletedV1,
  availabilityBookedV1,
  availabilityOpenedV1,
} from '@pep/contracts';
import type { Emit } from '@pep/db';
import { HttpProblem, notFound } from '@pep/service-kit';
import { BOOKABLE, effectiveStatus, stateOf } from './availability-status.js';
import type { Db, SchedulingWork } from './events.js';
import type { Appointment, Offer } from './generated/prisma/client.js';
import { allowsDoubleBooking } from './organization-setting.js';
import { invalidFields, sqlState } from './schemas.js';
import { appointmentSnapshot, availabilitySnapshot, type LocatedAvailability } from './views.js';

// The one place a slot is booked, cancelled, offered, taken or released. Appointments, availabilities and offers call
// these inside their own units of work, so the provider-hour lock, the no-overlap answer, the availability that follows
// the appointment and the events of each step are written once. The events' correlation and causation come from the
// unit of work.

/** Who changes a slot: the user the rows name as their last writer. */
export interface ChangeContext {
  user: string;
}

/** A {@link ChangeContext} acting for one organization. */
export interface Actor extends ChangeContext {
  organization: string;
}

/** An appointment with the time zone of its facility, which every event about it carries. */
export type LocatedAppointment = Appointment & { facility: { timeZone: string } };

/** What a booking writes: the slot, the patient, and how the appointment starts out. */
export interface NewAppointment {
  patient: string;
  provider: string;
  facility: string;
  type: string | null;
  date: Date;
  duration: number;
  source: Appointment['source'];
  status: Appointment['status'];
  /** The referral (patients service) it is booked for, when one. */
  referral?: string | null;
}

/** Why a slot became available, as availability.opened tells it. */
export type OpenReason = 'created' | 'appointment-cancelled' | 'offer-ended' | 'released';

/** Includes the facility's time zone with an appointment or availability. */
export const withTimeZone = { facility: { select: { timeZone: true } } } as const;

/** The 409 of a booking that meets the provider busy. */
export const slotTaken = () => new HttpProblem(409, 'slot-taken', 'The provider already has an appointment at that time.');

const unavailable = (detail: string) => new HttpProblem(409, 'availability-unavailable', detail);

// ---- the provider-hour lock ------------------------------------------------------------------------------------

// Class of the two-key advisory locks below ("BK"); the two-key form never meets the migrator's one-key lock.
const PROVIDER_HOURS = 0x424b;
const HOUR = 3_600_000;

/**
 * Takes, until the transaction ends, the locks of the hours of a provider's schedule that [start, end) touches, in
 * time order; {@link bookAppointment} takes them right before writing an appointment there. Bookings that could
 * overlap share an hour, so they insert one after another: each meets the committed winner in the no-overlap
 * constraint at once and answers 409, instead of the losers inserting together and waiting on each other until
 * Postgres' deadlock check (1 s) aborts them, which held every pooled connection through a 200-way race until
 * transactions could no longer start (503). Bookings of other hours go on side by side. The constraint still decides
 * who wins.
 */
export async function lockProviderHours(tx: Db, provider: string, start: Date, end: Date): Promise<void> {
  const first = Math.floor(start.getTime() / HOUR);
  const last = Math.floor((Math.max(end.getTime(), start.getTime() + 1) - 1) / HOUR);
  // generate_series counts up, so every transaction takes the hours it shares with another in the same order.
  await tx.$executeRawUnsafe(
    `SELECT pg_advisory_xact_lock($1::int, hashtext($2::text || ':' || hour)) FROM generate_series($3::bigint, $4::bigint) AS hour`,
    PROVIDER_HOURS,
    provider,
    first,
    last,
  );
}

// ---- appointments ----------------------------------------------------------------------------------------------

/**
 * Books an appointment under the provider-hour lock and stages appointment.created. The exclusion constraint decides
 * whether the provider is free: when it is not, this throws {@link slotTaken} (409) and the transaction is spent, so
 * a caller that must go on uses {@link tryBookAppointment}.
 */
export async function bookAppointment(tx: Db, emit: Emit, actor: Actor, booking: NewAppointment, timeZone: string): Promise<Appointment> {
  const endAt = endOf(booking.date, booking.duration);
  await lockProviderHours(tx, booking.provider, booking.date, endAt);
  let appointment: Appointment;
  try {
    appointment = await tx.appointment.create({
      data: {
        id: randomUUID(),
        organization: actor.organization,
        patient: booking.patient,
        providerId: booking.provider,
        facilityId: booking.facility,
        typeId: booking.type,
        date: booking.date,
        duration: booking.duration,
        endAt,
        source: booking.source,
        status: booking.status,
        allowOverlap: await allowsDoubleBooking(tx, actor.organization),
        referral: booking.referral ?? null,
        createdBy: actor.user,
        updatedBy: actor.user,
      },
    });
  } catch (error) {
    if (sqlState(error) === '23P01') throw slotTaken();
    throw error;
  }
  emit(appointmentCreatedV1, {
    organization: actor.organization,
    subject: appointment.id,
    data: appointmentSnapshot(appointment, timeZone),
  });
  return appointment;
}

/**
 * {@link bookAppointment} under a savepoint of the running unit of work: null when the provider is busy then, with only
 * the booking (and its event) undone, so the transaction goes on (an offer is closed in the same transaction when its
 * slot was booked another way).
 */
export async function tryBookAppointment(
  work: SchedulingWork,
  actor: Actor,
  booking: NewAppointment,
  timeZone: string,
): Promise<Appointment | null> {
  try {
    return await work.savepoint((tx, emit) => bookAppointment(tx, emit, actor, booking, timeZone));
  } catch (error) {
    if (!(error instanceof HttpProblem && error.slug === 'slot-taken')) throw error;
    return null;
  }
}

/** Cancels a live appointment, staging appointment.cancelled, and gives back the availability it was booked into. */
export async function cancelAppointment(
  tx: Db,
  emit: Emit,
  actor: ChangeContext,
  appointment: Pick<Appointment, 'id'>,
): Promise<LocatedAppointment> {
  const cancelled = await tx.appointment.update({
    where: { id: appointment.id },
    data: { status: 'cancelled', updatedBy: actor.user },
    include: withTimeZone,
  });
  emit(appointmentCancelledV1, {
    organization: cancelled.organization,
    subject: cancelled.id,
    data: appointmentSnapshot(cancelled, cancelled.facility.timeZone),
  });
  await reopenSlotOf(tx, emit, cancelled, actor);
  return cancelled;
}

/** Deletes an appointment softly, staging appointment.deleted, and gives back the availability it was booked into. */
export async function deleteAppointment(
  tx: Db,
  emit: Emit,
  actor: ChangeContext,
  appointment: Pick<Appointment, 'id'>,
): Promise<LocatedAppointment> {
  const deleted = await tx.appointment.update({
    where: { id: appointment.id },
    data: { deleted: true, updatedBy: actor.user },
    include: withTimeZone,
  });
  emit(appointmentDeletedV1, {
    organization: deleted.organization,
    subject: deleted.id,
    data: appointmentSnapshot(deleted, deleted.facility.timeZone),
  });
  await reopenSlotOf(tx, emit, deleted, actor);
  return deleted;
}

/** Whether the provider has a live appointment overlapping the slot that does not allow overlap (so it cannot be offered). */
export async function providerBusy(
  db: Db,
  slot: { organization: string; provider: string; date: Date; duration: number },
): Promise<boolean> {
  const busy = await db.appointment.findFirst({
    where: {
      organization: slot.organization,
      providerId: slot.provider,
      deleted: false,
      status: { not: 'cancelled' },
      allowOverlap: false,
      date: { lt: endOf(slot.date, slot.duration) },
      endAt: { gt: slot.date },
    },
    select: { id: true },
  });
  return busy !== null;
}

// ---- availabilities --------------------------------------------------------------------------------------------

/** What booking an availability asks beyond its slot. */
export interface AvailabilityBooking {
  patient: string;
  /** Required when the availability is for any type; must match it otherwise. */
  appointmentType?: string | undefined;
  source?: Appointment['source'] | undefined;
  status?: Appointment['status'] | undefined;
}

/**
 * Books an availability for a patient: the appointment is booked as {@link bookAppointment} books any, and the
 * availability marked booked, in the caller's transaction. The availability's row lock serializes bookings of one
 * slot, so of simultaneous bookings exactly one wins and the others find it booked (409). A slot that is not
 * bookable (offered, booked, expired, locked) answers 409 and nothing changes.
 */
export async function bookAvailability(
  tx: Db,
  emit: Emit,
  actor: Actor,
  id: string,
  booking: AvailabilityBooking,
  now: Date,
): Promise<LocatedAvailability> {
  const current = await ownAvailability(tx, actor.organization, id, true);
  const state = effectiveStatus(stateOf(current.status), current.date, now);
  if (!BOOKABLE.has(state)) throw unavailable(`The availability is ${state}, not available.`);
  if (current.locked) throw unavailable('The availability is locked.');
  const live = { organization: actor.organization, deleted: false };
  const [provider, facility] = await Promise.all([
    tx.provider.findFirst({ where: { ...live, id: current.providerId } }),
    tx.facility.findFirst({ where: { ...live, id: current.facilityId } }),
  ]);
  if (!provider?.schedulable || !facility) throw unavailable('The provider is not schedulable or the facility was deleted.');
  if (current.appointmentTypeId && booking.appointmentType && booking.appointmentType !== current.appointmentTypeId) {
    throw invalidFields([{ field: 'body.appointmentType', message: 'the availability is for another appointment type' }]);
  }
  const type = current.appointmentTypeId ?? booking.appointmentType;
  if (!type) throw invalidFields([{ field: 'body.appointmentType', message: 'required: the availability is for any type' }]);
  const appointment = await bookAppointment(
    tx,
    emit,
    actor,
    {
      patient: booking.patient,
      provider: current.providerId,
      facility: current.facilityId,
      type,
      date: current.date,
      duration: current.duration,
      source: booking.source ?? 'ui',
      status: booking.status ?? 'unconfirmed',
    },
    current.facility.timeZone,
  );
  const row = await tx.availability.update({
    where: { id },
    data: { status: 'booked', appointmentId: appointment.id, offerId: null, updatedBy: actor.user },
    include: withTimeZone,
  });
  slotBooked(emit, row, appointment);
  return row;
}

/** Reopens the slot an appointment held, when it was cancelled, deleted or moved away; nothing when it held none. */
export async function reopenSlotOf(
  tx: Db,
  emit: Emit,
  appointment: Pick<Appointment, 'id' | 'organization'>,
  context: ChangeContext,
): Promise<void> {
  const held = await tx.availability.findMany({
    where: { organization: appointment.organization, appointmentId: appointment.id, status: { in: ['booked', 'booked-by-offer'] } },
    select: { id: true },
  });
  for (const { id } of held) {
    const row = await tx.availability.update({
      where: { id },
      data: { status: 'available', appointmentId: null, offerId: null, updatedBy: context.user },
      include: withTimeZone,
    });
    // A slot staff locked is available again but not open, so it is not announced as opened.
    if (!row.locked) slotOpened(emit, row, 'appointment-cancelled');
  }
}

// ---- offers ----------------------------------------------------------------------------------------------------

/**
 * Whether a slot may be offered as far as its availability goes: there is none (a freed appointment outside any
 * published availability), or it is available and not locked. A slot held for someone (booked-pending), booked
 * elsewhere (an EHR), locked by staff or already offered must not be offered again. Locks the rows it reads, so a
 * booking and an offer of one slot cannot both pass.
 */
export async function slotOfferable(tx: Db, slot: { organization: string; provider: string; date: Date }): Promise<boolean> {
  const rows = await tx.$queryRawUnsafe<Array<{ status: string; locked: boolean }>>(
    `SELECT "status"::text AS "status", "locked" FROM "availability"
      WHERE "organization" = $1::uuid AND "provider" = $2::uuid AND "date" = $3::timestamptz AND NOT "deleted"
      ORDER BY "id" FOR UPDATE`,
    slot.organization,
    slot.provider,
    slot.date,
  );
  return rows.every((row) => row.status === 'available' && !row.locked);
}

/** Holds the availability of an offer's slot (same provider and start, available, unlocked) as offered in that offer. */
export async function holdSlotForOffer(
  tx: Db,
  offer: Pick<Offer, 'id' | 'organization' | 'providerId' | 'date'>,
  context: ChangeContext,
): Promise<void> {
  await tx.availability.updateMany({
    where: {
      organization: offer.organization,
      providerId: offer.providerId,
      date: offer.date,
      deleted: false,
      locked: false,
      status: 'available',
    },
    data: { status: 'offered', offerId: offer.id, updatedBy: context.user },
  });
}

/** The patient who accepted an offer got its slot: the availability offered in it is booked-by-offer. */
export async function takeOfferedSlot(
  tx: Db,
  emit: Emit,
  offer: Pick<Offer, 'id'>,
  appointment: Appointment,
  context: ChangeContext,
): Promise<void> {
  const taken = await tx.availability.updateManyAndReturn({
    where: { offerId: offer.id, status: 'offered' },
    data: { status: 'booked-by-offer', appointmentId: appointment.id, updatedBy: context.user },
    include: withTimeZone,
  });
  for (const row of taken) slotBooked(emit, row, appointment);
}

/** An offer ended without a patient (or was cancelled): the availability offered in it is available again. */
export async function releaseOfferedSlot(tx: Db, emit: Emit, offer: Pick<Offer, 'id'>, context: ChangeContext): Promise<void> {
  const released = await tx.availability.updateManyAndReturn({
    where: { offerId: offer.id, status: 'offered' },
    data: { status: 'available', offerId: null, updatedBy: context.user },
    include: withTimeZone,
  });
  for (const row of released) slotOpened(emit, row, 'offer-ended');
}

// ---- shared ----------------------------------------------------------------------------------------------------

/** The organization's live availability with its facility's zone, locked for the transaction when asked; 404 otherwise. */
export async function ownAvailability(db: Db, organization: string, id: string, lock = false): Promise<LocatedAvailability> {
  if (lock)
    await db.$executeRawUnsafe(
      'SELECT 1 FROM "availability" WHERE "id" = $1::uuid AND "organization" = $2::uuid FOR UPDATE',
      id,
      organization,
    );
  const availability = await db.availability.findFirst({ where: { id, organization, deleted: false }, include: withTimeZone });
  if (!availability) throw notFound('availability');
  return availability;
}

/** Emits availability.opened of a slot, saying why it opened. */
export function slotOpened(emit: Emit, row: LocatedAvailability, reason: OpenReason): void {
  emit(availabilityOpenedV1, { organization: row.organization, subject: row.id, data: { ...availabilitySnapshot(row), reason } });
}

/** Emits availability.booked of a slot, naming the appointment and patient when this service booked it. */
export function slotBooked(emit: Emit, row: LocatedAvailability, appointment: Appointment | null): void {
  emit(availabilityBookedV1, {
    organization: row.organization,
    subject: row.id,
    data: { ...availabilitySnapshot(row), appointment: appointment?.id ?? null, patient: appointment?.patient ?? null },
  });
}

/** The end of a slot of `minutes` starting at `date`. */
export function endOf(date: Date, minutes: number): Date {
  return new Date(date.getTime() + minutes * 60_000);
}
