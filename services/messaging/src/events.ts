import { reminderSentV1 } from '@pep/contracts';
import { handlersOn, type EventFields, type UnitOfWork } from '@pep/db';
import type { z } from 'zod';
import type { Prisma, PrismaClient, Reminder } from './generated/prisma/client.js';

/** The messaging service's transaction client. */
export type Tx = Prisma.TransactionClient;

/** The messaging service's unit of work: state and its events in one transaction. */
export type MessagingWork = UnitOfWork<Tx>;

/** Binds a handler that uses this service's models to the event it consumes. */
export const on = handlersOn<Tx>();

/** The Prisma client or one of its transactions. */
export type Db = PrismaClient | Prisma.TransactionClient;

/**
 * `reminder.sent` for a reminder whose text the vendor took, as message `message` on `channel` at `sentAt`: traced by
 * the reminder's id, as every send of it is.
 */
export function reminderSent(
  reminder: Reminder,
  message: string,
  channel: 'sms' | 'email' | 'voice',
  sentAt: Date,
): EventFields<z.input<typeof reminderSentV1.data>> {
  return {
    organization: reminder.organization,
    subject: reminder.id,
    cause: { correlationId: reminder.id },
    data: {
      _id: reminder.id,
      patient: reminder.patient,
      appointment: reminder.appointment,
      message,
      channel,
      sendAt: reminder.sendAt.toISOString(),
      sentAt: sentAt.toISOString(),
    },
  };
}
