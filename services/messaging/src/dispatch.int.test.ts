import { kafkaBrokers, startTwilioFake, waitFor, type TwilioFake } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, observe, organization, startMessaging, testClock, world, type MessagingUnderTest } from '../test/harness.js';

describe('messaging service: the reminder dispatcher', () => {
  let brokers: string[];
  let fake: TwilioFake;
  const started: MessagingUnderTest[] = [];
  const pools = new Map<string, pg.Pool>();
  const sql = (service: MessagingUnderTest) => {
    if (!pools.has(service.databaseUrl)) pools.set(service.databaseUrl, new pg.Pool({ connectionString: service.databaseUrl, max: 2 }));
    return pools.get(service.databaseUrl)!;
  };

  beforeAll(async () => {
    brokers = await kafkaBrokers();
    fake = await startTwilioFake();
  });
  afterAll(async () => {
    await Promise.all([...pools.values()].map((pool) => pool.end()));
    // Replicas first: the first instance owns (and drops) the database.
    for (const service of started.reverse()) await service.close();
    await fake?.close();
  });

  const start = async (...args: Parameters<typeof startMessaging>) => {
    const service = await startMessaging(...args);
    started.push(service);
    return service;
  };
  const contactKept = (service: MessagingUnderTest, patient: string) =>
    waitFor(async () => (await sql(service).query('SELECT 1 FROM patient_contact WHERE id = $1', [patient])).rows.length === 1, {
      timeoutMs: 30_000,
      message: 'contact kept',
    });
  const plan = async (service: MessagingUnderTest, headers: Record<string, string>, patient: string, sendAt: string, text: string) => {
    const response = await service.app.inject({ method: 'POST', url: '/api/reminders', headers, payload: { patient, sendAt, text } });
    expect(response.statusCode, response.body).toBe(200);
    return response.json()._id as string;
  };
  const sendsOf = (text: string) => fake.sent.filter((send) => send.params['Body'] === text);

  it('never sends one reminder twice from two replicas on one database, and sends every one', async () => {
    const clock = testClock('2026-05-01T14:00:00Z');
    // Small batches, so both replicas get some of the 40.
    const first = await start('dispatch-replicas', brokers, { twilio: fake, clock, dispatcher: { batchSize: 10 } });
    const second = await start('dispatch-replicas-2', brokers, { twilio: fake, replicaOf: first, dispatcher: { batchSize: 10 } });
    const org = organization();
    const headers = await as(org.staff);
    const records = await world(first.bus, org.id);
    await contactKept(first, records.patient._id);
    const texts = Array.from({ length: 40 }, (_, index) => `replica test ${index}`);
    for (const text of texts) await plan(first, headers, records.patient._id, '2026-05-01T13:00:00Z', text);

    fake.latencyMs = 20;
    try {
      const drain = async (service: MessagingUnderTest) => {
        let claimed = 0;
        for (let round = 0; round < 20; round++) {
          const now = await service.dispatcher.runOnce();
          if (now === 0) break;
          claimed += now;
        }
        return claimed;
      };
      const [byFirst, bySecond] = await Promise.all([drain(first), drain(second)]);
      expect(byFirst + bySecond).toBe(40);
      // Both took part, so the claims really competed.
      expect(byFirst).toBeGreaterThan(0);
      expect(bySecond).toBeGreaterThan(0);
    } finally {
      fake.latencyMs = 0;
    }
    for (const text of texts) expect(sendsOf(text), text).toHaveLength(1);
    const { rows } = await sql(first).query('SELECT status, count(*)::int AS n FROM reminder WHERE organization = $1 GROUP BY status', [
      org.id,
    ]);
    expect(rows).toEqual([{ status: 'sent', n: 40 }]);
    const messages = await sql(first).query('SELECT count(*)::int AS n FROM message WHERE organization = $1', [org.id]);
    expect(messages.rows[0].n).toBe(40);
  });

  it('sends a reminder that fell due while the service was down once it is back, polling on its own', async () => {
    const clock = testClock('2026-05-02T12:00:00Z');
    const before = await start('dispatch-outage', brokers, { twilio: fake, clock });
    const org = organization();
    const records = await world(before.bus, org.id);
    await contactKept(before, records.patient._id);
    const id = await plan(before, await as(org.staff), records.patient._id, '2026-05-02T15:00:00Z', 'sent after the outage');
    await before.stop();

    // Down from 12:00 to 16:00; the reminder fell due at 15:00 (11:00 in New York).
    clock.set('2026-05-02T16:00:00Z');
    const after = await start('dispatch-outage-after', brokers, {
      twilio: fake,
      clock,
      databaseUrl: before.databaseUrl,
      topicPrefix: before.topicPrefix,
      dispatchIntervalMs: 200,
    });
    const headers = await as(org.staff);
    const reminder = await waitFor(
      async () => {
        const current = (await after.app.inject({ url: `/api/reminders/${id}`, headers })).json();
        return current.status === 'sent' ? current : null;
      },
      { timeoutMs: 15_000, message: 'sent after the restart' },
    );
    expect(reminder).toMatchObject({ status: 'sent', sentAt: '2026-05-02T16:00:00.000Z' });
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(sendsOf('sent after the outage')).toHaveLength(1);
  });

  it('takes back a reminder whose sender died mid-send once the claim lapses, and holds one due at night until morning', async () => {
    const clock = testClock('2026-05-03T14:00:00Z');
    const service = await start('dispatch-lease', brokers, { twilio: fake, clock });
    const org = organization();
    const headers = await as(org.staff);
    const records = await world(service.bus, org.id);
    await contactKept(service, records.patient._id);
    const id = await plan(service, headers, records.patient._id, '2026-05-03T13:00:00Z', 'claimed by a dead sender');
    await sql(service).query("UPDATE reminder SET status = 'queued', claimed_at = $2 WHERE id = $1", [id, '2026-05-03T13:59:00Z']);
    expect(await service.dispatcher.runOnce()).toBe(0);
    clock.set('2026-05-03T14:05:00Z');
    expect(await service.dispatcher.runOnce()).toBe(1);
    expect(sendsOf('claimed by a dead sender')).toHaveLength(1);

    // A reminder of an appointment at a New York facility, due at 02:00 local after an outage, waits for 08:00.
    const appointment = await service.app.inject({
      method: 'POST',
      url: '/api/reminders',
      headers,
      payload: { patient: records.patient._id, sendAt: '2026-05-04T05:00:00Z', text: 'held for the morning' },
    });
    const held = appointment.json()._id as string;
    await sql(service).query('UPDATE reminder SET facility = $2 WHERE id = $1', [held, records.facility._id]);
    await waitFor(
      async () => (await sql(service).query('SELECT 1 FROM facility WHERE id = $1', [records.facility._id])).rows.length === 1,
      { message: 'facility kept' },
    );
    clock.set('2026-05-04T06:00:00Z');
    expect(await service.dispatcher.runOnce()).toBe(1);
    expect(sendsOf('held for the morning')).toHaveLength(0);
    clock.set('2026-05-04T11:59:00Z');
    expect(await service.dispatcher.runOnce()).toBe(0);
    clock.set('2026-05-04T12:00:00Z');
    expect(await service.dispatcher.runOnce()).toBe(1);
    expect(sendsOf('held for the morning')).toHaveLength(1);
  });

  it('retries a reminder while Twilio fails, and gives up on a number Twilio refuses', async () => {
    const clock = testClock('2026-05-05T14:00:00Z');
    const service = await start('dispatch-failures', brokers, { twilio: fake, clock });
    const events = await observe(service, brokers, ['messaging.message']);
    try {
      const org = organization();
      const headers = await as(org.staff);
      const records = await world(service.bus, org.id, { patient: { phone: '+15551239999' } });
      await contactKept(service, records.patient._id);
      const id = await plan(service, headers, records.patient._id, '2026-05-05T13:00:00Z', 'sent on the second try');
      fake.down = true;
      try {
        expect(await service.dispatcher.runOnce()).toBe(1);
      } finally {
        fake.down = false;
      }
      const retrying = (await service.app.inject({ url: `/api/reminders/${id}`, headers })).json();
      expect(retrying).toMatchObject({ status: 'scheduled', statusReason: 'retrying:twilio-20503' });
      expect(await service.dispatcher.runOnce()).toBe(0);
      clock.set('2026-05-05T14:01:00Z');
      expect(await service.dispatcher.runOnce()).toBe(1);
      expect((await service.app.inject({ url: `/api/reminders/${id}`, headers })).json()).toMatchObject({
        status: 'sent',
        statusReason: null,
      });
      expect(sendsOf('sent on the second try')).toHaveLength(1);

      fake.invalidNumbers.add('+15551239999');
      const refused = await plan(service, headers, records.patient._id, '2026-05-05T14:00:00Z', 'refused number');
      expect(await service.dispatcher.runOnce()).toBe(1);
      const given = (await service.app.inject({ url: `/api/reminders/${refused}`, headers })).json();
      expect(given).toMatchObject({ status: 'skipped', statusReason: 'send-failed:twilio-21211' });
      const message = (await service.app.inject({ url: `/api/messages/${given.message}`, headers })).json();
      expect(message).toMatchObject({ status: 'undelivered', skippedStatusReason: 'twilio-21211' });
      const failed = await waitFor(() => events.seen.find((event) => event.type === 'message.failed' && event.subject === given.message), {
        timeoutMs: 30_000,
        message: 'message.failed',
      });
      expect(failed.data).toMatchObject({ reason: 'twilio-21211', reminder: refused });
      expect(fake.unauthorized).toBe(0);
    } finally {
      fake.invalidNumbers.clear();
      await events.stop();
    }
  });
});
