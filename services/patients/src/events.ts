import type { EventEnvelope } from '@pep/contracts';
import { enqueueEvents, type RawSqlClient } from '@pep/db';
import type { Db } from './patient.repository.js';

/** Where this service's events say they come from. */
export const SOURCE = '/services/patients';

/** Writes events to the outbox inside the caller's transaction. */
export function enqueue(tx: Db, events: EventEnvelope[]): Promise<void> {
  return enqueueEvents(tx as unknown as RawSqlClient, events);
}
