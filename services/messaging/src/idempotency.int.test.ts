import { randomUUID } from 'node:crypto';
import { kafkaBrokers, startTwilioFake, type TwilioFake, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, organization, startMessaging, testClock, world, type MessagingUnderTest } from '../test/harness.js';

// A staff message retried by a client that timed out texts the patient once (ADR 0025).
describe('messaging: a message sent with an Idempotency-Key reaches the vendor once', () => {
  let service: MessagingUnderTest;
  let fake: TwilioFake;
  let sql: pg.Client;
  const org = organization();
  let records: Awaited<ReturnType<typeof world>>;

  beforeAll(async () => {
    fake = await startTwilioFake();
    service = await startMessaging('idempotency', await kafkaBrokers(), { twilio: fake, clock: testClock('2026-06-01T15:00:00Z') });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    records = await world(service.bus, org.id, { patient: { phone: '+15551230091' } });
    await waitFor(async () => (await sql.query('SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).rows.length === 1, {
      timeoutMs: 30_000,
      message: 'contact kept',
    });
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
    await fake?.close();
  });

  const send = async (payload: Record<string, unknown>, key: string) =>
    service.app.inject({ method: 'POST', url: '/api/messages', headers: { ...(await as(org.staff)), 'idempotency-key': key }, payload });
  const messagesTo = async (phone: string) =>
    (await sql.query('SELECT count(*)::int AS n FROM message WHERE "to" = $1', [phone])).rows[0].n as number;

  it('texts once however often the send is retried, answering the retries with the first answer', async () => {
    const key = randomUUID();
    const before = fake.sent.length;
    const first = await send({ patient: records.patient._id, text: 'Your results are in.' }, key);
    expect(first.statusCode, first.body).toBe(200);
    for (let retry = 0; retry < 3; retry += 1) {
      const again = await send({ patient: records.patient._id, text: 'Your results are in.' }, key);
      expect(again.statusCode).toBe(200);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.json()).toEqual(first.json());
    }
    expect(fake.sent.length - before).toBe(1);
    expect(await messagesTo('+15551230091')).toBe(1);
    // The message row committed before the vendor was called, and with it the mark that a crash must not send again.
    const [record] = (await sql.query('SELECT effect_committed, status FROM idempotency_record WHERE key = $1', [key])).rows;
    expect(record).toEqual({ effect_committed: true, status: 'completed' });
    // A new key is a new message.
    expect((await send({ patient: records.patient._id, text: 'Your results are in.' }, randomUUID())).json()._id).not.toBe(
      first.json()._id,
    );
    expect(fake.sent.length - before).toBe(2);
  });

  it('keeps no answer for a 5xx that ran nothing, so the retry runs', async () => {
    const key = randomUUID();
    const body = { patient: randomUUID(), text: 'Hello' };
    // A patient messaging has not heard of, whose owner cannot be asked: 503 with Retry-After, nothing stored or sent.
    const before = fake.sent.length;
    const unavailable = await send(body, key);
    expect(unavailable.statusCode).toBe(503);
    expect((await sql.query('SELECT 1 FROM idempotency_record WHERE key = $1', [key])).rows).toEqual([]);
    // The retry runs afresh (not replayed), as it would succeed once the patient's details arrived.
    const retried = await send(body, key);
    expect(retried.statusCode).toBe(503);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(fake.sent.length).toBe(before);
  });
});
