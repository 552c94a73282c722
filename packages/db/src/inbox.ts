import type { RawSqlClient, TransactionalClient } from './sql-client.js';

/** Whether an event's effect was applied now or had been applied before. */
export type InboxOutcome = 'handled' | 'duplicate';

/**
 * Applies an event's effect at most once per consumer: the event id is recorded in the same
 * transaction as the effect, so a redelivered event finds its id and changes nothing, and a
 * failed effect leaves no record so the event is retried.
 */
export async function handleOnce(
  prisma: TransactionalClient,
  consumer: string,
  eventId: string,
  effect: (tx: RawSqlClient) => Promise<void>,
): Promise<InboxOutcome> {
  return prisma.$transaction(async (tx) => {
    const inserted = await tx.$executeRawUnsafe(
      'INSERT INTO "inbox" ("event_id", "consumer") VALUES ($1::uuid, $2) ON CONFLICT DO NOTHING',
      eventId,
      consumer,
    );
    if (inserted === 0) return 'duplicate';
    await effect(tx);
    return 'handled';
  });
}
