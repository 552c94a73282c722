import type { RawSqlClient } from './sql-client.js';

/**
 * Records that `consumer` handled `eventId`, inside the transaction that applies the event's effect: true the first
 * time, false when it was recorded before (a redelivery, whose effect must not be applied again). A failed effect rolls
 * the record back with it, so the event is retried.
 */
export async function recordOnce(tx: RawSqlClient, consumer: string, eventId: string): Promise<boolean> {
  const inserted = await tx.$executeRawUnsafe(
    'INSERT INTO "inbox" ("event_id", "consumer") VALUES ($1::uuid, $2) ON CONFLICT DO NOTHING',
    eventId,
    consumer,
  );
  return inserted > 0;
}
