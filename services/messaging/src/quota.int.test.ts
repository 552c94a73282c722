import { Writable } from 'node:stream';
import { kafkaBrokers, startTwilioFake, waitFor, type TwilioFake } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appointmentData,
  as,
  organization,
  publishSettings,
  scheduling,
  startMessaging,
  testClock,
  world,
  type MessagingUnderTest,
} from '../test/harness.js';

/** The value of one sample of a metric on /metrics, or 0 when the labelled series has not been written yet. */
async function metric(service: MessagingUnderTest, name: string, labels: Record<string, string>): Promise<number> {
  const text = (await service.app.inject({ url: '/metrics' })).body;
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((pair) => [pair[1], pair[2]]));
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[3]);
  }
  return 0;
}

describe('messaging service: the send quota', () => {
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
  const send = async (service: MessagingUnderTest, headers: Record<string, string>, patient: string, text: string) =>
    service.app.inject({ method: 'POST', url: '/api/messages', headers, payload: { patient, text } });
  const sendsOf = (prefix: string) => fake.sent.filter((sent) => String(sent.params['Body']).startsWith(prefix));

  it('answers 429 with Retry-After to texts over the per-patient quota (default settings), storing and sending nothing for them', async () => {
    // 14:20 UTC: the hour window frees at 15:00, 2400 s later.
    const service = await start('quota-patient', brokers, { twilio: fake, clock: testClock('2026-07-01T14:20:00Z') });
    const org = organization();
    const headers = await as(org.staff);
    const records = await world(service.bus, org.id);
    await contactKept(service, records.patient._id);

    const responses = [];
    for (let index = 0; index < 60; index++) responses.push(await send(service, headers, records.patient._id, `rapid ${index}`));
    const accepted = responses.filter((response) => response.statusCode === 200);
    const refused = responses.filter((response) => response.statusCode === 429);
    expect(accepted.length + refused.length).toBe(60);
    expect(accepted).toHaveLength(20);
    // The first ones go, the rest are refused: nothing is sent out of order.
    expect(responses.slice(0, 20).every((response) => response.statusCode === 200)).toBe(true);
    for (const response of refused) {
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.headers['retry-after']).toBe('2400');
      expect(response.json()).toMatchObject({
        status: 429,
        type: '/problems/send-quota-exceeded',
        retryAfter: 2400,
        limit: { scope: 'patient', window: 'hour', max: 20 },
      });
    }
    const stored = await sql(service).query('SELECT count(*)::int AS n FROM message WHERE organization = $1', [org.id]);
    expect(stored.rows[0].n).toBe(20);
    const outbox = await sql(service).query("SELECT count(*)::int AS n FROM outbox WHERE envelope->>'organization' = $1", [org.id]);
    expect(outbox.rows[0].n).toBe(20);
    expect(sendsOf('rapid ')).toHaveLength(20);
    expect(await metric(service, 'messaging_quota_refused_total', { scope: 'patient', window: 'hour' })).toBe(40);
  });

  it('holds an organization to its per-minute and per-day limits across patients, and no other organization to them', async () => {
    const clock = testClock('2026-07-02T14:00:30Z');
    const service = await start('quota-organization', brokers, {
      twilio: fake,
      clock,
      quota: { organizationPerMinute: 5, organizationPerDay: 8 },
    });
    const org = organization();
    const other = organization();
    const headers = await as(org.staff);
    const patients: string[] = [];
    for (let index = 0; index < 3; index++)
      patients.push((await world(service.bus, org.id, { patient: { phone: `+1555123100${index}` } })).patient._id);
    const theirs = (await world(service.bus, other.id, { patient: { phone: '+15551231009' } })).patient._id;
    for (const patient of [...patients, theirs]) await contactKept(service, patient);

    const round = async (count: number, label: string) => {
      const codes = [];
      for (let index = 0; index < count; index++) codes.push(await send(service, headers, patients[index % 3]!, `${label} ${index}`));
      return codes;
    };
    const first = await round(6, 'org minute');
    expect(first.map((response) => response.statusCode)).toEqual([200, 200, 200, 200, 200, 429]);
    expect(first[5]!.headers['retry-after']).toBe('30');
    expect(first[5]!.json()).toMatchObject({ limit: { scope: 'organization', window: 'minute', max: 5 }, retryAfter: 30 });
    // Another organization's budget is its own.
    const elsewhere = await send(service, await as(other.staff), theirs, 'org minute elsewhere');
    expect(elsewhere.statusCode, elsewhere.body).toBe(200);

    // The next minute frees the minute, until the day's 8 are used; the day frees at midnight UTC.
    clock.set('2026-07-02T14:01:00Z');
    const second = await round(4, 'org day');
    expect(second.map((response) => response.statusCode)).toEqual([200, 200, 200, 429]);
    expect(second[3]!.headers['retry-after']).toBe(String(10 * 3600 - 60));
    expect(second[3]!.json()).toMatchObject({ limit: { scope: 'organization', window: 'day', max: 8 } });
    const stored = await sql(service).query('SELECT count(*)::int AS n FROM message WHERE organization = $1', [org.id]);
    expect(stored.rows[0].n).toBe(8);
    expect(sendsOf('org ')).toHaveLength(9);
    expect(await metric(service, 'messaging_quota_refused_total', { scope: 'organization', window: 'minute' })).toBe(1);
    expect(await metric(service, 'messaging_quota_refused_total', { scope: 'organization', window: 'day' })).toBe(1);
  });

  it("holds an organization to its own tighter limits from its settings, and keeps the platform's when its own are looser", async () => {
    const service = await start('quota-settings', brokers, {
      twilio: fake,
      clock: testClock('2026-07-05T14:00:00Z'),
      quota: { patientPerHour: 4 },
    });
    const strict = organization();
    const loose = organization();
    await publishSettings(service.bus, strict.id, { sendQuota: { patientPerHour: 2 } });
    await publishSettings(service.bus, loose.id, { sendQuota: { patientPerHour: 1000 } });
    await waitFor(
      async () =>
        (await sql(service).query('SELECT 1 FROM organization_setting WHERE organization = ANY($1::uuid[])', [[strict.id, loose.id]])).rows
          .length === 2,
      {
        timeoutMs: 30_000,
        message: 'settings kept',
      },
    );
    const codes = async (org: ReturnType<typeof organization>, phone: string, count: number) => {
      const patient = (await world(service.bus, org.id, { patient: { phone } })).patient._id;
      await contactKept(service, patient);
      const headers = await as(org.staff);
      const responses = [];
      for (let index = 0; index < count; index++) responses.push(await send(service, headers, patient, `settings ${index}`));
      return responses;
    };
    const strictly = await codes(strict, '+15551235000', 3);
    expect(strictly.map((response) => response.statusCode)).toEqual([200, 200, 429]);
    expect(strictly[2]!.json()).toMatchObject({ limit: { scope: 'patient', window: 'hour', max: 2 } });
    const loosely = await codes(loose, '+15551235001', 5);
    expect(loosely.map((response) => response.statusCode)).toEqual([200, 200, 200, 200, 429]);
    expect(loosely[4]!.json()).toMatchObject({ limit: { scope: 'patient', window: 'hour', max: 4 } });
  });

  it('lets exactly the limit through when requests race on two replicas sharing one database', async () => {
    const clock = testClock('2026-07-03T14:00:00Z');
    const quota = { patientPerHour: 10 };
    const first = await start('quota-race', brokers, { twilio: fake, clock, quota });
    const second = await start('quota-race-2', brokers, { twilio: fake, replicaOf: first, quota });
    const org = organization();
    const headers = await as(org.staff);
    const records = await world(first.bus, org.id, { patient: { phone: '+15551232000' } });
    await contactKept(first, records.patient._id);

    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, index) => send(index % 2 === 0 ? first : second, headers, records.patient._id, `race ${index}`)),
    );
    const codes = responses.map((response) => response.statusCode);
    expect(codes.filter((code) => code === 200)).toHaveLength(10);
    expect(codes.filter((code) => code === 429)).toHaveLength(20);
    const stored = await sql(first).query('SELECT count(*)::int AS n FROM message WHERE organization = $1', [org.id]);
    expect(stored.rows[0].n).toBe(10);
    expect(sendsOf('race ')).toHaveLength(10);
    // Each replica refused some of its own requests: both raced for the same counter.
    const refusedBy = [
      await metric(first, 'messaging_quota_refused_total', { scope: 'patient', window: 'hour' }),
      await metric(second, 'messaging_quota_refused_total', { scope: 'patient', window: 'hour' }),
    ];
    expect(refusedBy[0]! + refusedBy[1]!).toBe(20);
    expect(Math.min(...refusedBy)).toBeGreaterThan(0);
  });

  it('gives back what a send the vendor refused took', async () => {
    const service = await start('quota-refund', brokers, {
      twilio: fake,
      clock: testClock('2026-07-04T14:00:00Z'),
      quota: { patientPerHour: 1 },
    });
    const org = organization();
    const headers = await as(org.staff);
    const records = await world(service.bus, org.id, { patient: { phone: '+15551233000' } });
    await contactKept(service, records.patient._id);
    fake.down = true;
    try {
      const failed = await send(service, headers, records.patient._id, 'refund while down');
      expect(failed.json()).toMatchObject({ status: 'undelivered' });
    } finally {
      fake.down = false;
    }
    const sent = await send(service, headers, records.patient._id, 'refund after');
    expect(sent.statusCode, sent.body).toBe(200);
    expect(sent.json()).toMatchObject({ status: 'sent' });
    expect((await send(service, headers, records.patient._id, 'refund over')).statusCode).toBe(429);
  });

  it('forgets counters of windows more than two days past', async () => {
    const service = await start('quota-prune', brokers, { twilio: fake, clock: testClock('2026-07-10T12:00:00Z') });
    const org = organization();
    await sql(service).query(
      `INSERT INTO send_count (organization, scope, subject, period, window_start, count) VALUES ($1, 'organization', $1, 'hour', $2, 5), ($1, 'organization', $1, 'hour', $3, 5)`,
      [org.id, '2026-07-08T11:00:00Z', '2026-07-08T12:00:00Z'],
    );
    await service.dispatcher.runOnce();
    const { rows } = await sql(service).query('SELECT window_start FROM send_count WHERE organization = $1', [org.id]);
    expect(rows.map((row) => (row.window_start as Date).toISOString())).toEqual(['2026-07-08T12:00:00.000Z']);
  });

  it('holds a due reminder over quota until the window frees, then sends it once, and tells operators', async () => {
    const clock = testClock('2026-08-01T14:10:00Z');
    const log: Array<Record<string, unknown>> = [];
    const logDestination = new Writable({
      write(chunk, _encoding, done) {
        log.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    });
    // Staff may send 2 an hour to one patient; automated messages may fill it twice over.
    const service = await start('quota-deferral', brokers, {
      twilio: fake,
      clock,
      quota: { patientPerHour: 2, automatedFactor: 2 },
      logDestination,
    });
    const org = organization();
    const headers = await as(org.staff);
    const records = await world(service.bus, org.id, { patient: { phone: '+15551234000' } });
    await contactKept(service, records.patient._id);
    await waitFor(
      async () => (await sql(service).query('SELECT 1 FROM facility WHERE id = $1', [records.facility._id])).rows.length === 1,
      { timeoutMs: 30_000, message: 'facility kept' },
    );
    // 10:30 EDT on 3 August; its 48-hour reminder falls due at 14:30 UTC today.
    const appointment = appointmentData(records, '2026-08-03T14:30:00.000Z');
    await scheduling.book(service.bus, org.id, appointment);
    const reminder = await waitFor(
      async () =>
        (await sql(service).query("SELECT id FROM reminder WHERE appointment = $1 AND status = 'scheduled'", [appointment._id])).rows[0]
          ?.id as string | undefined,
      { timeoutMs: 30_000, message: 'reminder planned' },
    );

    expect((await send(service, headers, records.patient._id, 'deferral staff 1')).statusCode).toBe(200);
    expect((await send(service, headers, records.patient._id, 'deferral staff 2')).statusCode).toBe(200);
    expect((await send(service, headers, records.patient._id, 'deferral staff 3')).statusCode).toBe(429);
    // Staff used their budget; automated messages still have the headroom, which two hand-planned reminders use up.
    for (const text of ['deferral planned 1', 'deferral planned 2']) {
      const planned = await service.app.inject({
        method: 'POST',
        url: '/api/reminders',
        headers,
        payload: { patient: records.patient._id, sendAt: '2026-08-01T14:00:00Z', text },
      });
      expect(planned.statusCode, planned.body).toBe(200);
    }
    expect(await service.dispatcher.runOnce()).toBe(2);
    expect(sendsOf('deferral planned')).toHaveLength(2);

    clock.set('2026-08-01T14:30:00Z');
    expect(await service.dispatcher.runOnce()).toBe(1);
    const held = (await service.app.inject({ url: `/api/reminders/${reminder}`, headers })).json();
    expect(held).toMatchObject({ status: 'scheduled', statusReason: 'quota:patient-hour', sentAt: null });
    expect(await metric(service, 'messaging_quota_deferred_total', { kind: 'reminder', scope: 'patient', window: 'hour' })).toBe(1);
    expect(await metric(service, 'messaging_quota_waiting_reminders', {})).toBe(1);
    expect(await metric(service, 'messaging_quota_refused_total', { scope: 'patient', window: 'hour' })).toBe(1);
    const nothingYet = await sql(service).query('SELECT count(*)::int AS n FROM message WHERE reminder = $1', [reminder]);
    expect(nothingYet.rows[0].n).toBe(0);
    const warning = log.find((line) => line['level'] === 'warn' && line['reminderId'] === reminder);
    expect(warning).toMatchObject({
      organization: org.id,
      kind: 'reminder',
      limit: 'patient-hour',
      max: 4,
      retryAt: '2026-08-01T15:00:00.000Z',
    });
    // Nothing that names or reaches the patient is in the log.
    const written = JSON.stringify(log);
    for (const phi of [records.patient.phone, records.patient.firstname, records.patient.lastname, 'deferral staff'])
      expect(written).not.toContain(phi);

    clock.set('2026-08-01T14:59:59Z');
    expect(await service.dispatcher.runOnce()).toBe(0);
    clock.set('2026-08-01T15:00:00Z');
    expect(await service.dispatcher.runOnce()).toBe(1);
    const sent = (await service.app.inject({ url: `/api/reminders/${reminder}`, headers })).json();
    expect(sent).toMatchObject({ status: 'sent', statusReason: null, sentAt: '2026-08-01T15:00:00.000Z' });
    const messages = await sql(service).query('SELECT count(*)::int AS n FROM message WHERE reminder = $1', [reminder]);
    expect(messages.rows[0].n).toBe(1);
    expect(await metric(service, 'messaging_quota_waiting_reminders', {})).toBe(0);
    // The wait was not counted as a failed attempt.
    const attempts = await sql(service).query('SELECT attempts FROM reminder WHERE id = $1', [reminder]);
    expect(attempts.rows[0].attempts).toBe(1);
  });
});
