import type { Db } from './events.js';

// Class of the two-key advisory locks below ("BK"); the two-key form never meets the migrator's one-key lock.
const PROVIDER_HOURS = 0x424b;
const HOUR = 3_600_000;

/**
 * Takes, until the transaction ends, the locks of the hours of a provider's schedule that [start, end) touches, in
 * time order; call it right before writing an appointment there. Bookings that could overlap share an hour, so they
 * insert one after another: each meets the committed winner in the no-overlap constraint at once and answers 409,
 * instead of the losers inserting together and waiting on each other until Postgres' deadlock check (1 s) aborts them,
 * which held every pooled connection through a 200-way race until transactions could no longer start (503). Bookings
 * of other hours go on side by side. The constraint still decides who wins.
 */
export async function lockProviderHours(tx: Db, provider: string, start: Date, end: Date): Promise<void> {
  const first = Math.floor(start.getTime() / HOUR);
  const last = Math.floor((Math.max(end.getTime(), start.getTime() + 1) - 1) / HOUR);
  // generate_series counts up, so every transaction takes the hours it shares with another in the same order.
  await tx.$executeRawUnsafe(
    `SELECT pg_advisory_xact_lock($1::int, hashtext($2::text || ':' || hour)) FROM generate_series($3::bigint, $4::bigint) AS hour`,
    PROVIDER_HOURS,
    provider,
    first,
    last,
  );
}
