import { randomUUID } from 'node:crypto';
import { demoUserMessageRequestedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { demoSampleText } from './demo-samples.js';
import { on, type Tx } from './events.js';

/**
 * A platform admin asked (through auth) to show a sales prospect one of the platform's messages, and a reminder of it
 * is planned for now, so the dispatcher sends it like any other (durably, once, recorded in GET /api/messages). Only
 * demo organizations publish this event.
 *
 * With `patient` (a demo practice's demo patient) the sample goes to that patient only: their contact comes from the
 * patients read model (the request's address fills it only when patient.created has not arrived yet) and the text
 * is the named sample about their next appointment. Without it (requests made before demo practices) the demo user
 * becomes a contact with the address given, and the template key is used as is.
 */
export function demoMessageHandler(clock: () => Date): EventBinding<Tx> {
  return on(demoUserMessageRequestedV1, async (event, db) => {
    const { _id: user, channel, to, messageTemplate, patient } = event.data;
    const address = channel === 'sms' ? { phone: to } : { email: to };
    const names = { firstname: event.data.firstname ?? 'there', lastname: event.data.lastname ?? '' };
    const recipient = patient ?? user;
    await db.patientContact.upsert({
      where: { id: recipient },
      create: { id: recipient, organization: event.organization, ...names, ...address },
      update: patient ? {} : { ...names, ...address },
    });
    const now = clock();
    const next = patient
      ? await db.appointment.findFirst({
          where: { organization: event.organization, patient, deleted: false, status: { not: 'cancelled' }, date: { gte: now } },
          orderBy: { date: 'asc' },
          select: { id: true },
        })
      : null;
    const text = patient ? demoSampleText(messageTemplate, event.data.variant) : null;
    await db.reminder.create({
      data: {
        id: randomUUID(),
        organization: event.organization,
        patient: recipient,
        type: 'appointment',
        channel,
        sendAt: now,
        forcedTime: true,
        messageTemplate,
        ...(text ? { text } : {}),
        ...(next ? { appointment: next.id } : {}),
        createdBy: event.data.requestedBy,
        updatedBy: event.data.requestedBy,
      },
    });
  });
}
