import { InProcessBus } from '@pep/bus';
import { createEvent, organizationDeletedV1, type EventEnvelope } from '@pep/contracts';
import { createTestDatabase, waitFor, type TestDatabase } from '@pep/testing';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INBOX, OUTBOX, sqlClient } from '../test/sql-client.js';
import { openDatabase, type Database } from './connection.js';
import { consumeEvents, on } from './consumer.js';
import type { RawSqlClient, TransactionalClient } from './sql-client.js';
import { UnitOfWork } from './unit-of-work.js';

const organization = '0b5c0d1e-2f3a-4b5c-8d7e-9f0a1b2c3d4e';
const deleted = (subject: string) => ({ organization, subject, data: { _id: crypto.randomUUID() } });

describe('UnitOfWork', () => {
  let testDb: TestDatabase;
  let db: Database;
  let client: TransactionalClient;
  let nudges: number;
  let work: UnitOfWork<RawSqlClient>;

  beforeEach(async () => {
    testDb = await createTestDatabase('db_unit_of_work');
    db = await openDatabase({ kind: 'postgres', url: testDb.url, poolMax: 4 });
    client = sqlClient(db);
    await client.$executeRawUnsafe(OUTBOX);
    await client.$executeRawUnsafe(INBOX);
    await client.$executeRawUnsafe('CREATE TABLE "thing" ("id" TEXT PRIMARY KEY)');
    nudges = 0;
    work = new UnitOfWork({ client, source: '/services/test', eventsCommitted: () => (nudges += 1) });
  });
  afterEach(async () => {
    await db.close();
    await testDb.drop();
  });

  const things = async () =>
    (await client.$queryRawUnsafe<Array<{ id: string }>>('SELECT "id" FROM "thing" ORDER BY "id"')).map((row) => row.id);
  const outbox = async () =>
    (await client.$queryRawUnsafe<Array<{ envelope: EventEnvelope }>>('SELECT "envelope" FROM "outbox" ORDER BY "seq"')).map(
      (row) => row.envelope,
    );
  const insert = (tx: RawSqlClient, id: string) => tx.$executeRawUnsafe('INSERT INTO "thing" ("id") VALUES ($1)', id);

  it('commits the change and its events together, stamped with the cause, and nudges the relay once after commit', async () => {
    const answer = await work.run({ correlationId: 'request-1' }, async (tx, emit) => {
      await insert(tx, 'a');
      emit(organizationDeletedV1, deleted('a'));
      emit(organizationDeletedV1, deleted('b'));
      expect(nudges).toBe(0);
      return 'done';
    });
    expect(answer).toBe('done');
    expect(nudges).toBe(1);
    expect(await things()).toEqual(['a']);
    const events = await outbox();
    expect(events.map((event) => [event.subject, event.source, event.correlationid, event.causationid])).toEqual([
      ['a', '/services/test', 'request-1', undefined],
      ['b', '/services/test', 'request-1', undefined],
    ]);
  });

  it('does not nudge the relay for a change without events', async () => {
    await work.run({ correlationId: 'request-2' }, (tx) => insert(tx, 'quiet'));
    expect(await things()).toEqual(['quiet']);
    expect(nudges).toBe(0);
  });

  it('leaves neither state nor events when the work throws', async () => {
    await expect(
      work.run({ correlationId: 'request-3' }, async (tx, emit) => {
        await insert(tx, 'lost');
        emit(organizationDeletedV1, deleted('lost'));
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(await things()).toEqual([]);
    expect(await outbox()).toEqual([]);
    expect(nudges).toBe(0);
  });

  it('joins an enclosing run: one transaction, the outer cause on every event, undone together', async () => {
    const method = (id: string) =>
      work.run({ correlationId: 'ignored-inside' }, async (tx, emit) => {
        await insert(tx, id);
        emit(organizationDeletedV1, deleted(id));
      });
    await work.run({ correlationId: 'chain', causationId: '11111111-1111-4111-8111-111111111111' }, async (tx) => {
      await insert(tx, 'outer');
      await method('inner');
    });
    expect(await things()).toEqual(['inner', 'outer']);
    expect((await outbox()).map((event) => [event.correlationid, event.causationid])).toEqual([
      ['chain', '11111111-1111-4111-8111-111111111111'],
    ]);
    expect(nudges).toBe(1);

    await expect(
      work.run({ correlationId: 'chain-2' }, async () => {
        await method('undone');
        throw new Error('outer failed after the inner change');
      }),
    ).rejects.toThrow('outer failed');
    expect(await things()).toEqual(['inner', 'outer']);
    expect(await outbox()).toHaveLength(1);
  });

  it('undoes a failed savepoint’s writes and events while the rest of the transaction commits', async () => {
    await work.run({ correlationId: 'request-4' }, async (tx, emit) => {
      await insert(tx, 'kept');
      emit(organizationDeletedV1, deleted('kept'));
      await expect(
        work.savepoint(async (inner, innerEmit) => {
          await insert(inner, 'rolled-back');
          innerEmit(organizationDeletedV1, deleted('rolled-back'));
          throw new Error('refused answer');
        }),
      ).rejects.toThrow('refused answer');
      await work.savepoint((inner) => insert(inner, 'second'));
    });
    expect(await things()).toEqual(['kept', 'second']);
    expect((await outbox()).map((event) => event.subject)).toEqual(['kept']);
  });

  it('refuses a savepoint outside a run', async () => {
    await expect(work.savepoint(async () => undefined)).rejects.toThrow('only possible inside');
  });

  it('runs a consumer’s handler in the inbox transaction: a service method joins it, its events are caused by the event, a redelivery changes nothing', async () => {
    const bus = new InProcessBus({});
    const handled: string[] = [];
    const subscription = await consumeEvents({
      bus,
      unitOfWork: work,
      logger: pino({ level: 'silent' }),
      groupId: 'test.things',
      bindings: [
        on(organizationDeletedV1, async (event) => {
          // What a route would call: its own run joins the inbox transaction.
          await work.run({ correlationId: 'route-style' }, async (tx, emit) => {
            await insert(tx, `from-${event.subject}`);
            emit(organizationDeletedV1, deleted(`echo-${event.subject}`));
          });
        }),
      ],
      afterCommit: (event) => handled.push(event.id),
    });
    try {
      const event = createEvent(organizationDeletedV1, { source: '/services/other', correlationId: 'journey', ...deleted('x') });
      const message = { topic: organizationDeletedV1.topic, key: event.subject, value: JSON.stringify(event) };
      await bus.publish([message]);
      await waitFor(() => handled.length === 1, { message: 'the event handled' });
      // The copy and then another event, on one key so they arrive in this order: once the other is handled the copy was
      // seen (a copy applied again would fail on the thing's key and hold the partition until dead-lettered).
      const other = createEvent(organizationDeletedV1, { source: '/services/other', correlationId: 'journey', ...deleted('y') });
      await bus.publish([message, { ...message, value: JSON.stringify(other) }]);
      await waitFor(() => handled.length === 2, { message: 'the other event handled' });
      expect(handled).toEqual([event.id, other.id]);
      expect(await things()).toEqual(['from-x', 'from-y']);
      const echo = (await outbox()).find((envelope) => envelope.subject === 'echo-x');
      expect(echo).toMatchObject({ correlationid: 'journey', causationid: event.id, source: '/services/test' });
      expect(await client.$queryRawUnsafe<unknown[]>('SELECT 1 FROM "inbox"')).toHaveLength(2);
    } finally {
      await subscription.stop();
      await bus.close();
    }
  });
});
