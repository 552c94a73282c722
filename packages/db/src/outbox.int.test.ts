import { InProcessBus } from '@pep/bus';
import { createEvent, organizationDeletedV1 } from '@pep/contracts';
import { createTestDatabase, waitFor, type TestDatabase } from '@pep/testing';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from './connection.js';
import { enqueueEvents, OutboxRelay } from './outbox.js';
import type { TransactionalClient } from './sql-client.js';
import { OUTBOX, sqlClient } from '../test/sql-client.js';

/** A relay that can run something right after a batch, before it decides whether to wait. */
class ObservedRelay extends OutboxRelay {
  batches = 0;
  afterNextBatch: (() => Promise<void>) | null = null;

  override async publishBatch(): Promise<number> {
    const published = await super.publishBatch();
    this.batches++;
    const after = this.afterNextBatch;
    this.afterNextBatch = null;
    await after?.();
    return published;
  }
}

describe('OutboxRelay', () => {
  let testDb: TestDatabase;
  let db: Database;
  let client: TransactionalClient;

  beforeEach(async () => {
    testDb = await createTestDatabase('db_outbox');
    db = await openDatabase({ kind: 'postgres', url: testDb.url, poolMax: 4 });
    client = sqlClient(db);
    await client.$executeRawUnsafe(OUTBOX);
  });
  afterEach(async () => {
    await db.close();
    await testDb.drop();
  });

  const commitEvent = async () => {
    const event = createEvent(organizationDeletedV1, {
      source: 'test',
      organization: crypto.randomUUID(),
      subject: crypto.randomUUID(),
      data: { _id: crypto.randomUUID() },
    });
    await client.$transaction((tx) => enqueueEvents(tx, [event]));
    return event.id;
  };
  const published = async (id: string) =>
    (
      await client.$queryRawUnsafe<Array<{ published: boolean }>>(
        'SELECT "published_at" IS NOT NULL AS "published" FROM "outbox" WHERE "id" = $1::uuid',
        id,
      )
    )[0]?.published;

  it('publishes an event committed while a batch is out at once, even when its last wait ended by the clock', async () => {
    const bus = new InProcessBus({});
    const relay = new ObservedRelay({ prisma: client, bus, logger: pino({ level: 'silent' }), pollIntervalMs: 50 });
    relay.start();
    try {
      // Nothing to publish and no notify(): every wait so far ended by its timer.
      await waitFor(() => relay.batches >= 2, { message: 'two idle polls' });
      let committed = '';
      relay.afterNextBatch = async () => {
        // From here on the relay would sleep for an hour: only the notify below can make it publish.
        Object.assign(relay, { pollIntervalMs: 3_600_000 });
        committed = await commitEvent();
        relay.notify();
      };
      await waitFor(() => committed, { message: 'the event committed during a batch' });
      await waitFor(() => published(committed), { message: 'the event published without waiting for the next poll' });
      expect(await relay.pendingCount()).toBe(0);
    } finally {
      await relay.stop();
      await bus.close();
    }
  });

  it('reports the backlog and the age of its oldest event until the relay publishes them', async () => {
    const bus = new InProcessBus({});
    const relay = new OutboxRelay({ prisma: client, bus, logger: pino({ level: 'silent' }), pollIntervalMs: 3_600_000 });
    try {
      expect(await relay.pendingCount()).toBe(0);
      expect(await relay.oldestPendingAgeSeconds()).toBe(0);
      const oldest = await commitEvent();
      await commitEvent();
      // The oldest waited ten minutes (a broker away that long), the other just now.
      await client.$executeRawUnsafe(`UPDATE "outbox" SET "created_at" = now() - interval '10 minutes' WHERE "id" = $1::uuid`, oldest);
      expect(await relay.pendingCount()).toBe(2);
      const age = await relay.oldestPendingAgeSeconds();
      expect(age).toBeGreaterThanOrEqual(600);
      expect(age).toBeLessThan(660);

      expect(await relay.flush(10_000)).toBe(true);
      expect(await relay.pendingCount()).toBe(0);
      expect(await relay.oldestPendingAgeSeconds()).toBe(0);
    } finally {
      await relay.stop();
      await bus.close();
    }
  });
});
