import { randomUUID } from 'node:crypto';
import { appointmentCancelledV1, appointmentCompletedV1, appointmentCreatedV1, appointmentNoShowV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { DateTime } from 'luxon';
import type { z } from 'zod';
import { on, type Tx } from './events.js';
import type { FeedbackService } from './feedback.service.js';
import type { FollowupTrigger } from './followup.schemas.js';
import { UNSENT_FOLLOWUP } from './followup.service.js';
import type { Appointment, FollowupRule } from './generated/prisma/client.js';
import { appointmentColumns, SYSTEM_USER } from './reminder-planning.handlers.js';
import { nextAllowed, type AllowedHours } from './send-time.js';
import { messagingSettings } from './settings.js';

/** Template key of a follow-up text; its wording is the rule's, kept on the reminder. */
export const FOLLOWUP_TEXT = 'followup';

type AppointmentData = z.output<typeof appointmentCancelledV1.data>;

/**
 * When a follow-up goes: `delayDays` calendar days after the event in the facility's zone at the local `sendTime`
 * (a time already past on the event's own day goes the next day), else the event's time plus the days and
 * `delayHours`; never before now, and moved out of quiet hours.
 */
export function followupTime(input: {
  at: Date;
  delayDays: number;
  delayHours: number;
  sendTime: string | null;
  timeZone: string;
  allowed: AllowedHours;
  now: Date;
}): Date {
  const start = DateTime.fromJSDate(input.at, { zone: input.timeZone });
  let planned: DateTime;
  if (input.sendTime) {
    const [hour, minute] = input.sendTime.split(':').map(Number) as [number, number];
    planned = start.plus({ days: input.delayDays }).set({ hour, minute, second: 0, millisecond: 0 });
    if (planned <= start) planned = planned.plus({ days: 1 });
  } else {
    planned = start.plus({ days: input.delayDays, hours: input.delayHours });
  }
  const due = planned.toJSDate().getTime() < input.now.getTime() ? input.now : planned.toJSDate();
  return nextAllowed(due, input.timeZone, input.allowed);
}

/** Whether a rule's conditions (facilities, providers, types; empty for any) admit the appointment. */
export function ruleApplies(rule: Pick<FollowupRule, 'facilities' | 'providers' | 'types'>, appointment: AppointmentData): boolean {
  const admits = (allowed: string[], value: string | null | undefined) => allowed.length === 0 || (!!value && allowed.includes(value));
  return (
    admits(rule.facilities, appointment.facility) && admits(rule.providers, appointment.provider) && admits(rule.types, appointment.type)
  );
}

/** The appointment as the survey reads it, from the event (the read model is another consumer's and may trail it). */
function visitOf(organization: string, data: AppointmentData): Appointment {
  return { id: data._id, organization, ...appointmentColumns(data), updatedAt: new Date() };
}

/**
 * Plans one follow-up per active rule of the trigger whose conditions admit the appointment, unless that rule already
 * planned one for it (a redelivered or repeated event has one effect). A `text` rule plans a `followup` reminder with
 * its wording; a `feedback` rule asks the NPS survey ({@link FeedbackService.requestFeedback}) and holds it until the
 * rule's time.
 */
async function plan(
  tx: Tx,
  feedback: FeedbackService,
  organization: string,
  trigger: FollowupTrigger,
  appointment: AppointmentData,
  at: Date,
  now: Date,
): Promise<void> {
  const rules = (await tx.followupRule.findMany({ where: { organization, trigger, active: true, deleted: false } })).filter((rule) =>
    ruleApplies(rule, appointment),
  );
  if (rules.length === 0) return;
  // Cancelled without rebooking: a patient already booked again (as far as messaging heard) is not asked to.
  if (trigger === 'cancelled') {
    const rebooked = await tx.appointment.findFirst({
      where: {
        organization,
        patient: appointment.patient,
        id: { not: appointment._id },
        deleted: false,
        status: { not: 'cancelled' },
        date: { gt: now },
      },
      select: { id: true },
    });
    if (rebooked) return;
  }
  const settings = await messagingSettings(tx, organization);
  const facility = await tx.facility.findFirst({ where: { id: appointment.facility, organization } });
  const timeZone = facility?.timeZone ?? appointment.timeZone;
  for (const rule of rules) {
    const planned = await tx.reminder.findFirst({ where: { followupRule: rule.id, appointment: appointment._id }, select: { id: true } });
    if (planned) continue;
    const sendAt = followupTime({ ...rule, at, timeZone, allowed: settings.allowed, now });
    if (rule.action === 'feedback') {
      // One survey per visit: a visit already asked about (by another rule, or by hand) is not asked again.
      const asked = await tx.feedbackResponse.findFirst({ where: { organization, appointment: appointment._id }, select: { id: true } });
      if (asked) continue;
      const survey = await feedback.requestFeedback(tx, visitOf(organization, appointment));
      if (survey?.reminder) await tx.reminder.updateMany({ where: { id: survey.reminder }, data: { sendAt, followupRule: rule.id } });
      continue;
    }
    await tx.reminder.create({
      data: {
        id: randomUUID(),
        organization,
        appointment: appointment._id,
        patient: appointment.patient,
        provider: appointment.provider,
        facility: appointment.facility,
        type: 'followup',
        sendAt,
        messageTemplate: FOLLOWUP_TEXT,
        text: rule.text,
        followupRule: rule.id,
        createdBy: SYSTEM_USER,
        updatedBy: SYSTEM_USER,
      },
    });
  }
}

/**
 * Bindings that plan follow-ups from scheduling's appointment events: a no-show or completed outcome (timed from when
 * it was recorded) and a cancellation (timed from the event); a new booking of the patient drops the cancellation
 * follow-ups not sent yet. `clock` is now.
 */
export function followupBindings(clock: () => Date, feedback: FeedbackService): EventBinding<Tx>[] {
  return [
    on(appointmentNoShowV1, async (event, tx) => {
      await plan(tx, feedback, event.organization, 'no-show', event.data, new Date(event.data.outcomeAt), clock());
    }),
    on(appointmentCompletedV1, async (event, tx) => {
      await plan(tx, feedback, event.organization, 'completed', event.data, new Date(event.data.outcomeAt), clock());
    }),
    on(appointmentCancelledV1, async (event, tx) => {
      await plan(tx, feedback, event.organization, 'cancelled', event.data, new Date(event.time), clock());
    }),
    on(appointmentCreatedV1, async (event, tx) => {
      const rules = await tx.followupRule.findMany({
        where: { organization: event.organization, trigger: 'cancelled' },
        select: { id: true },
      });
      if (rules.length === 0) return;
      await tx.reminder.updateMany({
        where: {
          organization: event.organization,
          patient: event.data.patient,
          followupRule: { in: rules.map((rule) => rule.id) },
          status: { in: [...UNSENT_FOLLOWUP] },
        },
        data: { status: 'skipped', statusReason: 'rebooked', updatedBy: SYSTEM_USER },
      });
    }),
  ];
}
