import {
  appointmentCancelledV1,
  appointmentCreatedV1,
  appointmentDeletedV1,
  appointmentRescheduledV1,
  appointmentUpdatedV1,
  offerAcceptedV1,
  patientMergedV1,
  referralAnsweredV1,
  referralOutreachSentV1,
  referralUpdatedV1,
  type ReferralStatus,
} from '@pep/contracts';
import type { Emit, EventBinding } from '@pep/db';
import { on, type Tx } from './events.js';
import type { Prisma, Referral } from './generated/prisma/client.js';
import { canMove, changeStatus, OPEN_STATUSES, onTimeOrLate, referralSnapshot } from './referral-status.js';

// The referral pipeline as other services' events drive it: scheduling's bookings schedule a referral and its
// cancellations reopen it; messaging's outreach counts attempts and a patient's answer asks staff to call. Every status
// change goes through changeStatus, so each is checked by the state machine and published once; the inbox makes a
// redelivered event a no-op, and a handler that meets a concurrent change (409) is retried on fresh rows.

const SCHEDULED: readonly ReferralStatus[] = ['scheduled', 'scheduled-late'];

/** A referral named by a booking may also be one that expired: booked after all, it becomes `scheduled-late`. */
const NAMEABLE: readonly ReferralStatus[] = [...OPEN_STATUSES, 'expired'];

/** The slot an appointment (or an accepted offer) books, as a referral is matched against it. */
interface Booking {
  organization: string;
  patient: string;
  provider: string;
  type: string | null;
  date: Date;
  appointment: string;
  /** When it was booked: decides `scheduled` or `scheduled-late` and becomes the referral's scheduledAt. */
  bookedAt: Date;
}

/** The record a patient id now stands for: its survivor when it was merged away. */
async function survivorOf(tx: Tx, organization: string, patient: string): Promise<string> {
  const row = await tx.patient.findFirst({ where: { id: patient, organization }, select: { mergedInto: true } });
  return row?.mergedInto ?? patient;
}

/**
 * The patient's oldest open referral the booking satisfies: same patient, the referral's provider and appointment
 * type when it names them, and the appointment on or after its startOn and before its expireAt.
 */
function matchOpenReferral(tx: Tx, booking: Booking): Promise<Referral | null> {
  const where: Prisma.ReferralWhereInput = {
    organization: booking.organization,
    patientId: booking.patient,
    deletedAt: null,
    status: { in: [...OPEN_STATUSES] },
    startOn: { lte: booking.date },
    AND: [
      { OR: [{ provider: null }, { provider: booking.provider }] },
      booking.type ? { OR: [{ appointmentType: null }, { appointmentType: booking.type }] } : { appointmentType: null },
      { OR: [{ expireAt: null }, { expireAt: { gt: booking.date } }] },
    ],
  };
  return tx.referral.findFirst({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
}

/** The referral a booking names, when it is the patient's and may still be scheduled; null otherwise. */
async function namedReferral(tx: Tx, booking: Booking, id: string | null | undefined): Promise<Referral | null> {
  if (!id) return null;
  const referral = await tx.referral.findFirst({ where: { id, organization: booking.organization, deletedAt: null } });
  if (!referral || referral.patientId !== booking.patient) return null;
  return NAMEABLE.includes(referral.status as ReferralStatus) ? referral : null;
}

/** Moves a referral to scheduled (or scheduled-late when booked after its expireAt), naming what booked it. */
async function schedule(tx: Tx, emit: Emit, referral: Referral, booking: Booking, offer?: string): Promise<void> {
  const to = onTimeOrLate(referral, booking.bookedAt, 'scheduled');
  if (!canMove(referral.status as ReferralStatus, to)) return;
  await changeStatus(tx, emit, referral, {
    to,
    by: null,
    fields: {
      scheduledAt: booking.bookedAt,
      scheduledByAppointment: booking.appointment,
      ...(offer ? { scheduledByOffer: offer, acceptedAt: booking.bookedAt } : {}),
      // The call the patient asked for ended in a booking: the staff follow-up is done.
      ...(referral.processedReferralFollowup === 'pending' ? { processedReferralFollowup: 'success' } : {}),
    },
  });
}

/** Whether a referral is already scheduled by this appointment (a second event about the same booking). */
async function scheduledBy(tx: Tx, organization: string, appointment: string): Promise<Referral | null> {
  return tx.referral.findFirst({
    where: { organization, scheduledByAppointment: appointment, deletedAt: null, status: { in: [...SCHEDULED] } },
  });
}

/**
 * Links a booking to a referral: the one it names when that one may be scheduled, else the patient's oldest open
 * referral it satisfies. A referral already scheduled (by this booking or another) is left alone.
 */
async function linkBooking(tx: Tx, emit: Emit, booking: Booking, named: string | null | undefined): Promise<void> {
  if (await scheduledBy(tx, booking.organization, booking.appointment)) return;
  const referral = (await namedReferral(tx, booking, named)) ?? (await matchOpenReferral(tx, booking));
  if (referral) await schedule(tx, emit, referral, booking);
}

/**
 * The referrals an appointment scheduled go back to outreach (`active`), or to `expired` once past their expireAt,
 * and no longer name the booking; `except` keeps one (the referral an updated appointment now names).
 */
async function reopen(tx: Tx, emit: Emit, organization: string, appointment: string, now: Date, except?: string | null): Promise<void> {
  const scheduled = await tx.referral.findMany({
    where: {
      organization,
      scheduledByAppointment: appointment,
      deletedAt: null,
      status: { in: [...SCHEDULED] },
      ...(except ? { id: { not: except } } : {}),
    },
    orderBy: { id: 'asc' },
  });
  for (const referral of scheduled) {
    await changeStatus(tx, emit, referral, {
      to: referral.expireAt && referral.expireAt <= now ? 'expired' : 'active',
      by: null,
      fields: { scheduledAt: null, scheduledByAppointment: null, scheduledByOffer: null, acceptedAt: null },
    });
  }
}

/** Publishes referral.updated for fields written without a change of status. */
function updated(emit: Emit, referral: Referral, changed: string[]): void {
  emit(referralUpdatedV1, {
    organization: referral.organization,
    subject: referral.id,
    data: { ...referralSnapshot(referral), changed },
  });
}

/** Locks a live referral of the organization for the rest of the transaction and answers it; null when there is none. */
async function lockedReferral(tx: Tx, organization: string, id: string): Promise<Referral | null> {
  await tx.$executeRawUnsafe('SELECT 1 FROM "referral" WHERE "id" = $1::uuid AND "organization" = $2::uuid FOR UPDATE', id, organization);
  return tx.referral.findFirst({ where: { id, organization, deletedAt: null } });
}

/** The consumer bindings of the referral pipeline; `clock` dates bookings and tells whether a reopened referral has expired. */
export function referralPipelineBindings(clock: () => Date): EventBinding<Tx>[] {
  // When something happened, on the service's clock: the event's time (real time) moved by as much as the clock is
  // ahead of real time. In production that is the event's time itself; on a moved clock (the sandbox, end-to-end tests)
  // a booking is judged late or on time against expireAt dates that clock wrote.
  const onClock = (time: string) => new Date(new Date(time).getTime() + (clock().getTime() - Date.now()));

  const bookingOf = async (
    tx: Tx,
    organization: string,
    data: { _id: string; patient: string; provider: string; type: string | null; date: string },
    time: string,
  ): Promise<Booking> => ({
    organization,
    patient: await survivorOf(tx, organization, data.patient),
    provider: data.provider,
    type: data.type,
    date: new Date(data.date),
    appointment: data._id,
    bookedAt: onClock(time),
  });

  /** An appointment that now names another referral frees the one it scheduled and schedules the one it names. */
  const referralChanged = async (
    tx: Tx,
    emit: Emit,
    organization: string,
    data: { _id: string; patient: string; provider: string; type: string | null; date: string; referral?: string | null | undefined },
    time: string,
  ) => {
    await reopen(tx, emit, organization, data._id, clock(), data.referral);
    const booking = await bookingOf(tx, organization, data, time);
    if (await scheduledBy(tx, organization, data._id)) return;
    const referral = await namedReferral(tx, booking, data.referral);
    if (referral) await schedule(tx, emit, referral, booking);
  };

  return [
    on(appointmentCreatedV1, async (event, tx, emit) => {
      await linkBooking(tx, emit, await bookingOf(tx, event.organization, event.data, event.time), event.data.referral);
    }),
    on(appointmentUpdatedV1, async (event, tx, emit) => {
      if (event.data.changed.includes('referral')) await referralChanged(tx, emit, event.organization, event.data, event.time);
    }),
    on(appointmentRescheduledV1, async (event, tx, emit) => {
      if (event.data.changed.includes('referral')) await referralChanged(tx, emit, event.organization, event.data, event.time);
    }),

    // A waitlist offer's acceptance books through scheduling's booking core, whose appointment.created travels on
    // another topic and may arrive before or after this: whichever comes first schedules the referral, and this one
    // names the offer on it.
    on(offerAcceptedV1, async (event, tx, emit) => {
      const { organization, data } = event;
      const acceptedAt = onClock(event.time);
      const linked = await scheduledBy(tx, organization, data.appointment);
      if (linked) {
        if (linked.scheduledByOffer === data._id) return;
        const written = await tx.referral.update({
          where: { id: linked.id },
          data: { scheduledByOffer: data._id, acceptedAt },
        });
        updated(emit, written, ['scheduledByOffer', 'acceptedAt']);
        return;
      }
      const booking: Booking = {
        organization,
        patient: await survivorOf(tx, organization, data.patient),
        provider: data.provider,
        type: data.appointmentType,
        date: new Date(data.date),
        appointment: data.appointment,
        bookedAt: acceptedAt,
      };
      const referral = await matchOpenReferral(tx, booking);
      if (referral) await schedule(tx, emit, referral, booking, data._id);
    }),

    on(appointmentCancelledV1, async (event, tx, emit) => reopen(tx, emit, event.organization, event.data._id, clock())),
    on(appointmentDeletedV1, async (event, tx, emit) => reopen(tx, emit, event.organization, event.data._id, clock())),

    // Attempts only grow: an older or repeated report changes nothing and publishes nothing.
    on(referralOutreachSentV1, async (event, tx, emit) => {
      const referral = await lockedReferral(tx, event.organization, event.data.referral);
      if (!referral) return;
      const sentAt = new Date(event.data.sentAt);
      const changed = [
        ...(event.data.attempt > referral.attempt ? ['attempt'] : []),
        ...(!referral.lastAttemptSentAt || sentAt > referral.lastAttemptSentAt ? ['lastAttemptSentAt'] : []),
      ];
      if (changed.length === 0) return;
      const written = await tx.referral.update({
        where: { id: referral.id },
        data: {
          attempt: Math.max(referral.attempt, event.data.attempt),
          ...(changed.includes('lastAttemptSentAt') ? { lastAttemptSentAt: sentAt } : {}),
        },
      });
      updated(emit, written, changed);
    }),

    // The patient asked to be scheduled: staff call them back, so the referral is `called` and its follow-up pending
    // until staff record how it went. Only an active referral is reached out to; an answer to one that moved on since
    // (scheduled, closed) changes nothing.
    on(referralAnsweredV1, async (event, tx, emit) => {
      const referral = await lockedReferral(tx, event.organization, event.data.referral);
      if (!referral || referral.status !== 'active') return;
      const receivedAt = new Date(event.data.receivedAt);
      await changeStatus(tx, emit, referral, {
        to: onTimeOrLate(referral, receivedAt, 'called'),
        by: null,
        fields: { calledAt: receivedAt, processedReferralFollowup: 'pending' },
      });
    }),

    // Referrals follow their patient into the survivor, as appointments and the journey do.
    on(patientMergedV1, async (event, tx, emit) => {
      const { organization } = event;
      const { merged, survivor } = event.data;
      const moved = await tx.referral.findMany({ where: { organization, patientId: merged }, select: { id: true } });
      if (moved.length === 0) return;
      await tx.referral.updateMany({ where: { organization, patientId: merged }, data: { patientId: survivor } });
      const live = await tx.referral.findMany({
        where: { id: { in: moved.map((row) => row.id) }, deletedAt: null },
        orderBy: { id: 'asc' },
      });
      for (const referral of live) updated(emit, referral, ['patient']);
    }),
  ];
}
