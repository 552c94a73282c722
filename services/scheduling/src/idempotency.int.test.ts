import { randomUUID } from 'node:crypto';
import { createIdempotencyStore } from '@pep/db';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog } from '../test/fixtures.js';
import { as, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';

// The service kit's Idempotency-Key plugin and @pep/db's store, on scheduling's own Postgres database (ADR 0025).
describe('scheduling: writes sent with an Idempotency-Key have one effect', () => {
  let service: SchedulingUnderTest;
  let sql: pg.Client;
  const org = organization();
  const other = organization();
  let records: Awaited<ReturnType<typeof catalog>>;
  let theirs: Awaited<ReturnType<typeof catalog>>;
  let day = 0;

  beforeAll(async () => {
    service = await startScheduling('idempotency', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    records = await catalog(service.app, await as(org.admin));
    theirs = await catalog(service.app, await as(other.admin));
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const post = async (url: string, payload: Record<string, unknown>, key: string | undefined, caller = org.staff) =>
    service.app.inject({
      method: 'POST',
      url,
      headers: { ...(await as(caller)), ...(key !== undefined ? { 'idempotency-key': key } : {}) },
      payload,
    });
  // A fresh slot per booking, so no test's booking collides with another's.
  const nextSlot = () => new Date(Date.UTC(2030, 0, 1 + (day += 1), 15)).toISOString();
  const appointmentsOf = async (organizationId: string) =>
    (await sql.query('SELECT count(*)::int AS n FROM appointment WHERE organization = $1', [organizationId])).rows[0].n as number;
  const providersNamed = async (lastname: string) =>
    (await sql.query('SELECT count(*)::int AS n FROM provider WHERE lastname = $1', [lastname])).rows[0].n as number;
  const recordOf = async (key: string) => (await sql.query('SELECT * FROM idempotency_record WHERE key = $1', [key])).rows;

  it('answers a retried booking with the first answer, marked replayed, and books once', async () => {
    const key = randomUUID();
    const body = booking(records, nextSlot());
    const before = await appointmentsOf(org.id);
    const first = await post('/api/appointments', body, key);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await post('/api/appointments', body, key);
    expect(again.statusCode).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers['content-type']).toBe(first.headers['content-type']);
    expect(again.json()).toEqual(first.json());
    expect(await appointmentsOf(org.id)).toBe(before + 1);
    const outbox = await sql.query("SELECT count(*)::int AS n FROM outbox WHERE key = $1 AND envelope->>'type' = 'appointment.created'", [
      first.json()._id,
    ]);
    expect(outbox.rows[0].n).toBe(1);
    // The booking's transaction recorded that its effect committed, with the answer stored after it.
    expect(await recordOf(key)).toMatchObject([
      {
        organization_id: org.id,
        method: 'POST',
        path: '/api/appointments',
        status: 'completed',
        effect_committed: true,
        response_status: 200,
      },
    ]);
  });

  it('answers the key with another body or path 422 naming the header, and runs neither', async () => {
    const key = randomUUID();
    const body = booking(records, nextSlot());
    expect((await post('/api/appointments', body, key)).statusCode).toBe(200);
    const before = await appointmentsOf(org.id);
    for (const [url, payload] of [
      ['/api/appointments', { ...body, date: nextSlot() }],
      ['/api/appointments/', body],
    ] as const) {
      const reused = await post(url, payload, key);
      expect(reused.statusCode, url).toBe(422);
      expect(reused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(reused.json()).toMatchObject({ type: '/problems/idempotency-key-reused', errors: [{ field: 'headers.idempotency-key' }] });
    }
    // The same request by another user of the organization is another request too: an answer is never handed to someone else.
    expect((await post('/api/appointments', body, key, org.admin)).statusCode).toBe(422);
    expect(await appointmentsOf(org.id)).toBe(before);
  });

  it('refuses keys that are empty, too long or not printable with 400 naming the header', async () => {
    for (const key of ['', 'x'.repeat(256), 'caf\u00e9', 'tab\there']) {
      const refused = await post('/api/providers', { firstname: 'No', lastname: 'Body' }, key);
      expect(refused.statusCode, key).toBe(400);
      expect(refused.json().errors).toEqual([{ field: 'headers.idempotency-key', message: expect.any(String) }]);
    }
    expect(await providersNamed('Body')).toBe(0);
  });

  it('runs one of two simultaneous requests with one key and answers the other 409 with Retry-After', async () => {
    const key = randomUUID();
    const body = booking(records, nextSlot());
    const before = await appointmentsOf(org.id);
    // Holding back every insert into appointment keeps the first request inside its transaction while the second arrives.
    const blocker = new pg.Client({ connectionString: service.databaseUrl });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE appointment IN SHARE ROW EXCLUSIVE MODE');
      const requests = [post('/api/appointments', body, key), post('/api/appointments', body, key)];
      // The request that did not win the reservation answers at once; the winner waits on the lock until it is let go.
      const early = await Promise.race(requests);
      expect(early.statusCode, early.body).toBe(409);
      await blocker.query('COMMIT');
      const responses = await Promise.all(requests);
      const statuses = responses.map((response) => response.statusCode).sort();
      expect(statuses).toEqual([200, 409]);
      const conflict = responses.find((response) => response.statusCode === 409)!;
      expect(conflict.json()).toMatchObject({ type: '/problems/idempotency-key-in-use' });
      expect(conflict.headers['retry-after']).toBe('1');
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
    }
    expect(await appointmentsOf(org.id)).toBe(before + 1);
    // Once the first has answered, the retry gets its answer.
    const retried = await post('/api/appointments', body, key);
    expect([retried.statusCode, retried.headers['idempotent-replayed']]).toEqual([200, 'true']);
  });

  it('keeps keys per organization: another organization using the same key gets its own execution', async () => {
    const key = `shared-${randomUUID()}`;
    const mine = await post('/api/appointments', booking(records, nextSlot()), key);
    const before = await appointmentsOf(other.id);
    const theirsAnswer = await post('/api/appointments', booking(theirs, nextSlot()), key, other.staff);
    expect(theirsAnswer.statusCode).toBe(200);
    expect(theirsAnswer.headers['idempotent-replayed']).toBeUndefined();
    expect(theirsAnswer.json()._id).not.toBe(mine.json()._id);
    expect(theirsAnswer.json().organization).toBe(other.id);
    expect(await appointmentsOf(other.id)).toBe(before + 1);
    expect((await recordOf(key)).map((row) => row.organization_id).sort()).toEqual([org.id, other.id].sort());
  });

  it('forgets a key after 24 hours: the request then runs again, and expired records are purged', async () => {
    const key = randomUUID();
    const lastname = `Expiry${randomUUID().slice(0, 8)}`;
    const first = await post('/api/providers', { firstname: 'Ada', lastname }, key);
    expect((await post('/api/providers', { firstname: 'Ada', lastname }, key)).json()._id).toBe(first.json()._id);
    expect(await providersNamed(lastname)).toBe(1);
    await sql.query("UPDATE idempotency_record SET created_at = created_at - interval '25 hours' WHERE key = $1", [key]);
    const later = await post('/api/providers', { firstname: 'Ada', lastname }, key);
    expect(later.statusCode).toBe(200);
    expect(later.headers['idempotent-replayed']).toBeUndefined();
    expect(later.json()._id).not.toBe(first.json()._id);
    expect(await providersNamed(lastname)).toBe(2);

    const old = randomUUID();
    await post('/api/providers', { firstname: 'Ada', lastname: `${lastname}b` }, old);
    await sql.query("UPDATE idempotency_record SET created_at = created_at - interval '25 hours' WHERE key = $1", [old]);
    const store = createIdempotencyStore({
      $executeRawUnsafe: async (query, ...values) => (await sql.query(query, values)).rowCount ?? 0,
      $queryRawUnsafe: async <T>(query: string, ...values: unknown[]) => (await sql.query(query, values)).rows as T,
    });
    expect(await store.purgeExpired()).toBeGreaterThanOrEqual(1);
    expect(await recordOf(old)).toEqual([]);
    expect(await recordOf(key)).toHaveLength(1);
  });

  it('never runs a write again whose effect committed before its answer was stored (a crash in between)', async () => {
    const key = randomUUID();
    const body = booking(records, nextSlot());
    expect((await post('/api/appointments', body, key)).statusCode).toBe(200);
    const before = await appointmentsOf(org.id);
    // The process died after the booking committed (effect_committed set in its transaction) and before the answer was stored.
    await sql.query(
      "UPDATE idempotency_record SET status = 'in_progress', response_status = NULL, response_headers = NULL, response_body = NULL, locked_until = now() + interval '1 minute' WHERE key = $1",
      [key],
    );
    const during = await post('/api/appointments', body, key);
    expect([during.statusCode, during.json().type]).toEqual([409, '/problems/idempotency-key-in-use']);
    // Its lease over, the record is known to be orphaned: still not run again, and said so.
    await sql.query("UPDATE idempotency_record SET locked_until = now() - interval '1 second' WHERE key = $1", [key]);
    const after = await post('/api/appointments', body, key);
    expect(after.statusCode).toBe(409);
    expect(after.json()).toMatchObject({ type: '/problems/idempotency-answer-unavailable' });
    expect(await appointmentsOf(org.id)).toBe(before);
  });

  it('runs again a write whose process died before anything of it committed', async () => {
    const key = randomUUID();
    const lastname = `Orphan${randomUUID().slice(0, 8)}`;
    expect((await post('/api/providers', { firstname: 'Ada', lastname }, key)).statusCode).toBe(200);
    // As if the first process had died before its transaction: nothing committed, the lease run out.
    await sql.query('DELETE FROM provider WHERE lastname = $1', [lastname]);
    await sql.query(
      "UPDATE idempotency_record SET status = 'in_progress', effect_committed = false, response_status = NULL, locked_until = now() - interval '1 second' WHERE key = $1",
      [key],
    );
    const retried = await post('/api/providers', { firstname: 'Ada', lastname }, key);
    expect(retried.statusCode).toBe(200);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(await providersNamed(lastname)).toBe(1);
  });

  it('rolls back a slow first request whose key a retry took over after its lease, so the write happens once', async () => {
    const key = randomUUID();
    const lastname = `Slow${randomUUID().slice(0, 8)}`;
    const blocker = new pg.Client({ connectionString: service.databaseUrl });
    await blocker.connect();
    try {
      // Holding back inserts into provider keeps the first request inside its transaction.
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE provider IN SHARE ROW EXCLUSIVE MODE');
      const slow = post('/api/providers', { firstname: 'Ada', lastname }, key);
      await waitFor(async () => (await recordOf(key)).length === 1, { message: 'the key reserved' });
      // The first request's lease runs out while it still waits: a retry takes the key over.
      await sql.query("UPDATE idempotency_record SET locked_until = now() - interval '1 second' WHERE key = $1", [key]);
      const retry = post('/api/providers', { firstname: 'Ada', lastname }, key);
      await waitFor(async () => (await recordOf(key))[0]?.locked_until > new Date(), { message: 'the key taken over' });
      await blocker.query('COMMIT');
      const [first, second] = await Promise.all([slow, retry]);
      expect(first.statusCode, first.body).toBe(409);
      expect(first.json()).toMatchObject({ type: '/problems/idempotency-key-in-use' });
      expect(second.statusCode, second.body).toBe(200);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
    }
    expect(await providersNamed(lastname)).toBe(1);
  });

  it('ignores the header on reads and on requests without an identity, and documents it on every write', async () => {
    const read = await service.app.inject({
      url: '/api/providers',
      headers: { ...(await as(org.staff)), 'idempotency-key': 'x'.repeat(300) },
    });
    expect(read.statusCode).toBe(200);
    const anonymous = await service.app.inject({
      method: 'POST',
      url: '/api/providers',
      headers: { 'idempotency-key': 'anonymous-1' },
      payload: { firstname: 'A', lastname: 'B' },
    });
    expect(anonymous.statusCode).toBe(401);
    expect((await sql.query("SELECT count(*)::int AS n FROM idempotency_record WHERE key = 'anonymous-1'")).rows[0].n).toBe(0);

    const document = (await service.app.inject({ url: '/openapi.json' })).json();
    const create = document.paths['/api/appointments'].post;
    expect(create.parameters).toContainEqual(expect.objectContaining({ name: 'Idempotency-Key', in: 'header', required: false }));
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['200', '409', '422']));
    expect(document.paths['/api/appointments'].get.parameters ?? []).not.toContainEqual(
      expect.objectContaining({ name: 'Idempotency-Key' }),
    );
  });
});
