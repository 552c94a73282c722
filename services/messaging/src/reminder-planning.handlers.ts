import { randomUUID } from 'node:crypto';
import { activeTraceContext } from '@pep/bus';
import {
  appointmentCancelledV1,
  appointmentConfirmedV1,
  appointmentCreatedV1,
  appointmentDeletedV1,
  appointmentRescheduledV1,
  appointmentUpdatedV1,
  type EventEnvelope,
} from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import type { z } from 'zod';
import { on, type Db, type Tx } from './events.js';
import { planSendTime } from './send-time.js';
import { messagingSettings } from './settings.js';

/** Who planned reminders are created by: the platform, not a person. */
export const SYSTEM_USER = 'system';

type AppointmentData = z.output<typeof appointmentCreatedV1.data>;

/** The appointment read model's columns from scheduling's snapshot of it. */
export function appointmentColumns(data: AppointmentData, deleted = false) {
  return {
    patient: data.patient,
    provider: data.provider,
    facility: data.facility,
    type: data.type,
    date: new Date(data.date),
    duration: data.duration,
    status: data.status,
    timeZone: data.timeZone,
    deleted,
  };
}

/** Keeps the appointment as scheduling last described it. */
async function keepAppointment(db: Db, event: EventEnvelope<AppointmentData>, deleted = false): Promise<void> {
  const data = event.data;
  const fields = appointmentColumns(data, deleted);
  await db.appointment.upsert({
    where: { id: data._id },
    create: { id: data._id, organization: event.organization, ...fields },
    update: fields,
  });
}

/**
 * Voids the appointment's reminders not sent yet, saying why. Follow-ups are left alone: one may be about the
 * cancellation itself, and the dispatcher skips those of a deleted appointment.
 */
async function voidPlanned(db: Db, organization: string, appointment: string, reason: string): Promise<void> {
  await db.reminder.updateMany({
    where: { organization, appointment, status: { in: ['scheduled', 'blocked', 'pending'] }, deleted: false, type: { not: 'followup' } },
    data: { status: 'skipped', statusReason: reason, updatedBy: SYSTEM_USER },
  });
}

/**
 * Plans one reminder per offset of the organization's settings, in the facility's time zone and outside quiet
 * hours. Every offset gets a row, so staff can see why none went out: a time already past is `skipped`
 * (send-time-passed), and a patient who must not be contacted makes it `blocked` (do-not-contact).
 */
async function plan(db: Db, organization: string, appointment: AppointmentData, now: Date): Promise<void> {
  const settings = await messagingSettings(db, organization);
  const contact = await db.patientContact.findFirst({ where: { id: appointment.patient, organization } });
  const blocked = contact !== null && (contact.doNotContact || contact.optedOutAt !== null || contact.deleted);
  const rows = settings.reminderOffsetsHours.map((offsetHours) => {
    const planned = planSendTime({
      appointment: new Date(appointment.date),
      offsetHours,
      timeZone: appointment.timeZone,
      allowed: settings.allowed,
      now,
    });
    const sendAt = 'sendAt' in planned ? planned.sendAt : new Date(new Date(appointment.date).getTime() - offsetHours * 3_600_000);
    const [status, statusReason] =
      'skip' in planned
        ? (['skipped', planned.skip] as const)
        : blocked
          ? (['blocked', 'do-not-contact'] as const)
          : (['scheduled', null] as const);
    return {
      id: randomUUID(),
      organization,
      appointment: appointment._id,
      patient: appointment.patient,
      provider: appointment.provider,
      facility: appointment.facility,
      type: 'appointment' as const,
      offsetHours,
      sendAt,
      status,
      statusReason,
      createdBy: SYSTEM_USER,
      updatedBy: SYSTEM_USER,
    };
  });
  if (rows.length > 0) await db.reminder.createMany({ data: rows });
}

/**
 * Answers a patient whose reply the appointment's owner acted on: when the patient replied (C, or X) within the day,
 * an acknowledgement is planned to go at once, even in quiet hours since the patient just wrote. A change staff made
 * is not announced. One acknowledgement of each kind per appointment.
 */
async function acknowledgeReply(
  db: Db,
  organization: string,
  appointment: AppointmentData,
  answer: 'positive' | 'negative',
  key: string,
  now: Date,
): Promise<void> {
  const replied = await db.message.findFirst({
    where: {
      organization,
      appointment: appointment._id,
      type: 'inbound',
      classification: answer,
      createdAt: { gte: new Date(now.getTime() - 24 * 3_600_000) },
    },
    select: { id: true },
  });
  if (!replied) return;
  if ((await db.reminder.count({ where: { organization, appointment: appointment._id, messageTemplate: key } })) > 0) return;
  // The dispatcher sends it later: the trace of the reply's handling travels with the row, so the send continues it.
  const traced = activeTraceContext();
  await db.reminder.create({
    data: {
      ...(traced ? { traceparent: traced.traceparent } : {}),
      id: randomUUID(),
      organization,
      appointment: appointment._id,
      patient: appointment.patient,
      provider: appointment.provider,
      facility: appointment.facility,
      type: 'appointment',
      sendAt: now,
      forcedTime: true,
      messageTemplate: key,
      createdBy: SYSTEM_USER,
      updatedBy: SYSTEM_USER,
    },
  });
}

/** Keys of the acknowledgements of confirmations and cancellations. */
export const CONFIRMATION_ACK = 'confirmation-ack';
export const CANCELLATION_ACK = 'cancellation-ack';

/** Bindings that plan, move and void appointment reminders from scheduling's events; `clock` is now. */
export function reminderPlanningBindings(clock: () => Date): EventBinding<Tx>[] {
  return [
    on(appointmentCreatedV1, async (event, db) => {
      await keepAppointment(db, event);
      // Redelivery is stopped by the inbox; a second created event of one appointment (a replay) plans nothing twice.
      const existing = await db.reminder.count({
        where: { organization: event.organization, appointment: event.data._id, createdBy: SYSTEM_USER },
      });
      if (existing === 0 && event.data.status !== 'cancelled') await plan(db, event.organization, event.data, clock());
    }),
    on(appointmentRescheduledV1, async (event, db) => {
      await keepAppointment(db, event);
      await voidPlanned(db, event.organization, event.data._id, 'rescheduled');
      await plan(db, event.organization, event.data, clock());
    }),
    on(appointmentUpdatedV1, async (event, db) => keepAppointment(db, event)),
    on(appointmentConfirmedV1, async (event, db) => {
      await keepAppointment(db, event);
      // The product shows a reminder the patient answered as confirmed.
      await db.reminder.updateMany({
        where: { organization: event.organization, appointment: event.data._id, status: { in: ['sent', 'delivered'] } },
        data: { status: 'confirmed' },
      });
      await acknowledgeReply(db, event.organization, event.data, 'positive', CONFIRMATION_ACK, clock());
    }),
    on(appointmentCancelledV1, async (event, db) => {
      await keepAppointment(db, event);
      await voidPlanned(db, event.organization, event.data._id, 'appointment-cancelled');
      await acknowledgeReply(db, event.organization, event.data, 'negative', CANCELLATION_ACK, clock());
    }),
    on(appointmentDeletedV1, async (event, db) => {
      await keepAppointment(db, event, true);
      await voidPlanned(db, event.organization, event.data._id, 'appointment-deleted');
    }),
  ];
}
