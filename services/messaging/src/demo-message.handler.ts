import { randomUUID } from 'node:crypto';
import { demoUserMessageRequestedV1 } from '@pep/contracts';
import { on, type EventBinding } from '@pep/db';
import { typed } from './events.js';

/**
 * A platform admin asked (through auth) to show a sales prospect one of the platform's messages: the demo user
 * becomes a contact of their demo organization, with the address the sample goes to, and a reminder of that template
 * is planned for now, so the dispatcher sends it like any other (durably, once, recorded in GET /api/messages).
 * Only demo organizations publish this event.
 */
export function demoMessageHandler(clock: () => Date): EventBinding {
  return on(demoUserMessageRequestedV1, async (event, tx) => {
    const db = typed(tx);
    const { _id: user, channel, to, messageTemplate } = event.data;
    const address = channel === 'sms' ? { phone: to } : { email: to };
    const names = { firstname: event.data.firstname ?? 'there', lastname: event.data.lastname ?? '' };
    await db.patientContact.upsert({
      where: { id: user },
      create: { id: user, organization: event.organization, ...names, ...address },
      update: { ...names, ...address },
    });
    await db.reminder.create({
      data: {
        id: randomUUID(),
        organization: event.organization,
        patient: user,
        type: 'appointment',
        channel,
        sendAt: clock(),
        forcedTime: true,
        messageTemplate,
        createdBy: event.data.requestedBy,
        updatedBy: event.data.requestedBy,
      },
    });
  });
}
