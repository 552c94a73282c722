import { createEvent, reminderSentV1, type EventEnvelope } from '@pep/contracts';
import { enqueueEvents, type RawSqlClient } from '@pep/db';
import type { Prisma, PrismaClient, Reminder } from './generated/prisma/client.js';

/** Where this service's events say they come from. */
export const SOURCE = '/services/messaging';

/** The Prisma client or one of its transactions. */
export type Db = PrismaClient | Prisma.TransactionClient;

/** Writes events to the outbox inside the caller's transaction. */
export function enqueue(tx: Db, events: EventEnvelope[]): Promise<void> {
  return enqueueEvents(tx as unknown as RawSqlClient, events);
}

/** The typed client behind a consumer's transaction (the consumer hands it over as its raw-SQL surface). */
export function typed(tx: RawSqlClient): Prisma.TransactionClient {
  return tx as unknown as Prisma.TransactionClient;
}

/** `reminder.sent` for a reminder whose text the vendor took, as message `message` on `channel` at `sentAt`. */
export function reminderSentEvent(reminder: Reminder, message: string, channel: 'sms' | 'email' | 'voice', sentAt: Date): EventEnvelope {
  return createEvent(reminderSentV1, {
    source: SOURCE,
    organization: reminder.organization,
    subject: reminder.id,
    correlationId: reminder.id,
    data: {
      _id: reminder.id,
      patient: reminder.patient,
      appointment: reminder.appointment,
      message,
      channel,
      sendAt: reminder.sendAt.toISOString(),
      sentAt: sentAt.toISOString(),
    },
  });
}
