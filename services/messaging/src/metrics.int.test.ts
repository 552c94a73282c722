import { randomUUID } from 'node:crypto';
import { patientCreatedV1 } from '@pep/contracts';
import { kafkaBrokers, startTwilioFake, waitFor, type TwilioFake } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { organization, startMessaging, testClock, world, type MessagingUnderTest } from '../test/harness.js';

/** The value of one sample of `/metrics`, by metric name and the labels it must carry; undefined when absent. */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([label, value]) => line.includes(`${label}="${value}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('messaging service: the metrics its alerts read', () => {
  let brokers: string[];
  let fake: TwilioFake;
  const started: MessagingUnderTest[] = [];
  const pools: pg.Pool[] = [];

  beforeAll(async () => {
    brokers = await kafkaBrokers();
    fake = await startTwilioFake();
  });
  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.end()));
    for (const service of started.reverse()) await service.close();
    await fake?.close();
  });

  const start = async (...args: Parameters<typeof startMessaging>) => {
    const service = await startMessaging(...args);
    started.push(service);
    const pool = new pg.Pool({ connectionString: service.databaseUrl, max: 2 });
    pools.push(pool);
    return { service, sql: pool };
  };
  const scrape = async (service: MessagingUnderTest) => (await service.app.inject({ url: '/metrics' })).body;

  it('shows how long a due reminder waits, but not one held back by quiet hours until the hold ends', async () => {
    // 01:00 in New York (the facility's zone): inside quiet hours.
    const clock = testClock('2026-06-15T05:00:00Z');
    const { service, sql } = await start('metrics-dispatch-delay', brokers, { twilio: fake, clock });
    const org = organization();
    const records = await world(service.bus, org.id, { patient: { phone: '+15558860001' } });
    await waitFor(
      async () =>
        (await sql.query('SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).rowCount === 1 &&
        (await sql.query('SELECT 1 FROM facility WHERE id = $1', [records.facility._id])).rowCount === 1,
      { timeoutMs: 30_000, message: 'contact and facility kept' },
    );
    expect(sample(await scrape(service), 'reminder_dispatch_delay_seconds')).toBe(0);

    // Due an hour ago, at the facility, not yet looked at by the dispatcher.
    const reminder = randomUUID();
    await sql.query(
      `INSERT INTO reminder (id, organization, patient, facility, type, send_at, text, created_by, updated_by, updated_at)
       VALUES ($1, $2, $3, $4, 'appointment', $5, 'quiet hours', 'system', 'system', now())`,
      [reminder, org.id, records.patient._id, records.facility._id, '2026-06-15T04:00:00Z'],
    );
    expect(sample(await scrape(service), 'reminder_dispatch_delay_seconds')).toBe(3_600);

    // The dispatcher holds it for the allowed hours: waiting by design, not late.
    expect(await service.dispatcher.runOnce()).toBe(1);
    const [held] = (await sql.query('SELECT status, retry_at FROM reminder WHERE id = $1', [reminder])).rows;
    expect(held.status).toBe('scheduled');
    expect(held.retry_at.getTime()).toBeGreaterThan(clock().getTime());
    expect(sample(await scrape(service), 'reminder_dispatch_delay_seconds')).toBe(0);
    clock.set(new Date(held.retry_at.getTime() - 60_000));
    expect(sample(await scrape(service), 'reminder_dispatch_delay_seconds')).toBe(0);

    // Twenty seconds after the hold ended and still not sent: late by twenty seconds, not by the night.
    clock.set(new Date(held.retry_at.getTime() + 20_000));
    expect(sample(await scrape(service), 'reminder_dispatch_delay_seconds')).toBe(20);
    expect(await service.dispatcher.runOnce()).toBe(1);
    expect((await sql.query('SELECT status FROM reminder WHERE id = $1', [reminder])).rows[0].status).toBe('sent');
    expect(sample(await scrape(service), 'reminder_dispatch_delay_seconds')).toBe(0);
  });

  it('counts a dead-lettered event and a failed vendor send, and shows the outbox and consumer lag', async () => {
    const { service, sql } = await start('metrics-failures', brokers, { twilio: fake, clock: testClock('2026-06-15T15:00:00Z') });
    const before = await scrape(service);
    expect(sample(before, 'bus_dead_letters_total', { group: 'messaging.read-models' })).toBeUndefined();
    expect(sample(before, 'outbox_pending_events')).toBeGreaterThanOrEqual(0);
    expect(sample(before, 'outbox_oldest_pending_age_seconds')).toBeGreaterThanOrEqual(0);

    // A record on a topic messaging reads that is no event at all: retried, then dead-lettered.
    await service.bus.publish([{ topic: patientCreatedV1.topic, key: randomUUID(), value: 'not an event' }]);
    await waitFor(
      async () =>
        sample(await scrape(service), 'bus_dead_letters_total', { group: 'messaging.read-models', topic: patientCreatedV1.topic }) === 1,
      { timeoutMs: 60_000, message: 'the dead letter counted' },
    );
    // The consumer saw that topic and has handled everything on it.
    expect(sample(await scrape(service), 'bus_consumer_lag', { group: 'messaging.read-models', topic: patientCreatedV1.topic })).toBe(0);

    // A text Twilio refuses (an invalid number) is one failed send at Twilio.
    const org = organization();
    const records = await world(service.bus, org.id, { patient: { phone: '+15558860199' } });
    fake.invalidNumbers.add('+15558860199');
    await waitFor(async () => (await sql.query('SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).rowCount === 1, {
      timeoutMs: 30_000,
      message: 'contact kept',
    });
    await sql.query(
      `INSERT INTO reminder (id, organization, patient, type, send_at, text, created_by, updated_by, updated_at)
       VALUES ($1, $2, $3, 'appointment', $4, 'refused', 'system', 'system', now())`,
      [randomUUID(), org.id, records.patient._id, '2026-06-15T14:59:00Z'],
    );
    expect(sample(await scrape(service), 'messaging_vendor_send_failures_total', { vendor: 'twilio', channel: 'sms' })).toBeUndefined();
    expect(await service.dispatcher.runOnce()).toBe(1);
    expect(sample(await scrape(service), 'messaging_vendor_send_failures_total', { vendor: 'twilio', channel: 'sms' })).toBe(1);
  });
});
