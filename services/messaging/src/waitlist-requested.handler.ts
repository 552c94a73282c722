import { randomUUID } from 'node:crypto';
import { waitlistRequestedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { on, type Db, type Tx } from './events.js';
import type { Reminder } from './generated/prisma/client.js';
import { SYSTEM_USER } from './reminder-planning.handlers.js';

/** The text after a cancellation's acknowledgement inviting the patient to reply WAITLIST. */
export const WAITLIST_INVITE = 'waitlist-invite';
/** The answer to a WAITLIST reply scheduling acted on. */
export const WAITLIST_JOINED = 'waitlist-joined';

/**
 * Plans the WAITLIST invitation once the acknowledgement of a cancellation `ack` has gone by text, in the transaction
 * recording that send: planned only then, so it can never reach the patient before the acknowledgement does. By SMS
 * only, since only a text can be answered with a keyword; once per appointment.
 */
export async function planWaitlistInvite(db: Db, ack: Reminder, sentAt: Date): Promise<void> {
  if (!ack.appointment) return;
  if (
    (await db.reminder.count({
      where: { organization: ack.organization, appointment: ack.appointment, messageTemplate: WAITLIST_INVITE },
    })) > 0
  )
    return;
  await db.reminder.create({
    data: {
      id: randomUUID(),
      organization: ack.organization,
      appointment: ack.appointment,
      patient: ack.patient,
      provider: ack.provider,
      facility: ack.facility,
      type: 'appointment',
      channel: 'sms',
      sendAt: sentAt,
      // The patient just wrote; the invitation completes that answer.
      forcedTime: true,
      messageTemplate: WAITLIST_INVITE,
      createdBy: SYSTEM_USER,
      updatedBy: SYSTEM_USER,
    },
  });
}

/**
 * Answers a WAITLIST reply once scheduling, which owns waitlists, has put the patient on one (or found them there
 * already): a text naming the provider and facility, at once. One per reply event; the inbox stops a redelivery.
 */
export function waitlistRequestedHandler(clock: () => Date): EventBinding<Tx> {
  return on(waitlistRequestedV1, async (event, db) => {
    const appointment = await db.appointment.findFirst({ where: { id: event.data.appointment, organization: event.organization } });
    await db.reminder.create({
      data: {
        id: randomUUID(),
        organization: event.organization,
        appointment: event.data.appointment,
        patient: event.data.patient,
        provider: event.data.provider ?? appointment?.provider ?? null,
        facility: event.data.facility ?? appointment?.facility ?? null,
        type: 'appointment',
        channel: 'sms',
        sendAt: clock(),
        forcedTime: true,
        messageTemplate: WAITLIST_JOINED,
        createdBy: SYSTEM_USER,
        updatedBy: SYSTEM_USER,
      },
    });
  });
}
