import { randomUUID } from 'node:crypto';
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
  twilioCallback,
  world,
  type MessagingUnderTest,
} from '../test/harness.js';

const MINUTE = 60_000;

// A send that dies (kill -9) between writing its `pending` row and recording the vendor's answer leaves the row as
// these tests write it. The sweep settles it without a vendor call; a reminder claimed again sends only if the vendor
// never spoke of its earlier message.
describe('messaging service: messages a crashed send left pending', () => {
  let brokers: string[];
  let fake: TwilioFake;
  const started: MessagingUnderTest[] = [];
  const pools: pg.Pool[] = [];
  let pool: pg.Pool | undefined;

  beforeAll(async () => {
    brokers = await kafkaBrokers();
    fake = await startTwilioFake();
  });
  afterAll(async () => {
    await Promise.all(pools.map((each) => each.end()));
    for (const service of started.reverse()) await service.close();
    await fake?.close();
  });

  const start = async (...args: Parameters<typeof startMessaging>) => {
    const service = await startMessaging(...args);
    started.push(service);
    // The test's queries go to the database of the service it started last (a replica shares it).
    if (!args[2]?.replicaOf) {
      pool = new pg.Pool({ connectionString: service.databaseUrl, max: 3 });
      pools.push(pool);
    }
    return service;
  };
  const sql = () => pool!;
  const contactKept = (patient: string) =>
    waitFor(async () => (await sql().query('SELECT 1 FROM patient_contact WHERE id = $1', [patient])).rows.length === 1, {
      timeoutMs: 30_000,
      message: 'contact kept',
    });
  /** The row a crashed send leaves: `pending`, no vendor id, written `realAgeMinutes` ago by the database's clock. */
  const crashedSend = async (org: string, patient: string, realAgeMinutes: number, reminder: string | null = null) => {
    const id = randomUUID();
    await sql().query(
      `INSERT INTO message (id, organization, patient, type, channel, status, "to", text, language, automated, reminder, created_by, updated_by, created_at, updated_at)
       VALUES ($1, $2, $3, 'outbound', 'sms', 'pending', '+14155550142', $4, 'en', $5, $6, 'system', 'system', now() - make_interval(mins => $7), now() - make_interval(mins => $7))`,
      [id, org, patient, `crashed send ${id}`, reminder !== null, reminder, realAgeMinutes],
    );
    return id;
  };
  /** A reminder planned by staff, due an hour ago and claimed then by a sender that died (its claim's lease has lapsed). */
  const claimedByADeadSender = async (name: string, label: string) => {
    const crashedAt = Date.now() - 60 * MINUTE;
    const clock = testClock(new Date(crashedAt).toISOString());
    const service = await start(name, brokers, { twilio: fake, clock });
    const org = organization();
    const records = await world(service.bus, org.id);
    await contactKept(records.patient._id);
    const text = `${label} ${randomUUID().slice(0, 8)}`;
    const planned = await service.app.inject({
      method: 'POST',
      url: '/api/reminders',
      headers: await as(org.staff),
      payload: { patient: records.patient._id, sendAt: new Date(crashedAt - MINUTE).toISOString(), text },
    });
    expect(planned.statusCode, planned.body).toBe(200);
    const reminder = planned.json()._id as string;
    await sql().query(`UPDATE reminder SET status = 'queued', claimed_at = $2, attempts = attempts + 1 WHERE id = $1`, [
      reminder,
      new Date(crashedAt),
    ]);
    return { crashedAt, clock, service, org, records, text, reminder };
  };
  const message = async (id: string) =>
    (await sql().query('SELECT status::text, skipped_status_reason, external_status, external_id FROM message WHERE id = $1', [id]))
      .rows[0];
  const eventsAbout = async (subject: string) =>
    (
      await sql().query(
        `SELECT envelope->>'type' AS type, envelope->'data'->>'reason' AS reason FROM outbox WHERE envelope->>'subject' = $1 ORDER BY created_at`,
        [subject],
      )
    ).rows;
  const sendsTo = (text: string) => fake.sent.filter((send) => (send.params['Body'] ?? '').includes(text));

  it('settles it once as outcome-unknown after the bound, without calling the vendor, and a later delivery report still counts', async () => {
    // The service's clock stands one minute after the crash; the database's is an hour past it.
    const crashedAt = Date.now() - 60 * MINUTE;
    const clock = testClock(new Date(crashedAt + MINUTE).toISOString());
    const first = await start('pending-sweep', brokers, { twilio: fake, clock });
    const second = await start('pending-sweep-2', brokers, { twilio: fake, replicaOf: first });
    const org = organization();
    const records = await world(first.bus, org.id);
    await contactKept(records.patient._id);
    const crashed = await crashedSend(org.id, records.patient._id, 60);
    // Written a moment ago by a send still waiting for its vendor: never settled, however far the clock is moved.
    const inFlight = await crashedSend(org.id, records.patient._id, 0);
    const sentBefore = fake.sent.length;

    expect(await first.sweep.runOnce()).toBe(0);
    expect((await message(crashed)).status).toBe('pending');

    clock.set(new Date(crashedAt + 11 * MINUTE));
    // Two replicas sweep at once: one of them settles it.
    const [byFirst, bySecond] = await Promise.all([first.sweep.runOnce(), second.sweep.runOnce()]);
    expect(byFirst + bySecond).toBe(1);
    expect(await message(crashed)).toMatchObject({
      status: 'undelivered',
      skipped_status_reason: 'outcome-unknown',
      external_status: { error: 'outcome-unknown' },
      external_id: null,
    });
    expect((await message(inFlight)).status).toBe('pending');
    expect(await first.sweep.runOnce()).toBe(0);
    expect(await eventsAbout(crashed)).toEqual([{ type: 'message.failed', reason: 'outcome-unknown' }]);
    expect(fake.sent.length).toBe(sentBefore);

    // The vendor had taken it after all: its report (to our message id) moves it to delivered.
    const sid = `SM${randomUUID().replace(/-/g, '')}`;
    const report = await twilioCallback(first.app, fake, `/api/callback/twilio/${crashed}`, {
      MessageSid: sid,
      MessageStatus: 'delivered',
      To: '+14155550142',
      From: fake.from,
    });
    expect(report.statusCode).toBe(204);
    expect(await message(crashed)).toMatchObject({ status: 'delivered', external_id: sid });
    expect((await eventsAbout(crashed)).map((event) => event.type)).toEqual(['message.failed', 'message.delivered']);
  });

  it('does not text again when a reminder is claimed again after its sender died, if the vendor reported on the earlier text', async () => {
    const { crashedAt, clock, service, org, records, text, reminder } = await claimedByADeadSender('pending-reclaim', 'Reclaimed reminder');
    // The dead sender's pending message, then the vendor's first report (not final) of that message.
    const crashed = await crashedSend(org.id, records.patient._id, 60, reminder);
    const sid = `SM${randomUUID().replace(/-/g, '')}`;
    const report = await twilioCallback(service.app, fake, `/api/callback/twilio/${crashed}`, {
      MessageSid: sid,
      MessageStatus: 'sent',
      To: '+14155550142',
      From: fake.from,
    });
    expect(report.statusCode).toBe(204);
    expect(await message(crashed)).toMatchObject({ status: 'pending', external_id: sid });

    // The claim lapses (5 minutes) and a round takes the reminder again.
    clock.set(new Date(crashedAt + 6 * MINUTE));
    expect(await service.dispatcher.runOnce()).toBe(1);
    expect(sendsTo(text)).toHaveLength(0);
    const { rows } = await sql().query('SELECT status::text, message FROM reminder WHERE id = $1', [reminder]);
    expect(rows[0]).toEqual({ status: 'sent', message: crashed });
    expect((await eventsAbout(reminder)).map((event) => event.type)).toEqual(['reminder.sent']);

    // Past the bound, the sweep records the message as the vendor reported it: sent, once.
    clock.set(new Date(crashedAt + 11 * MINUTE));
    expect(await service.sweep.runOnce()).toBe(1);
    expect(await message(crashed)).toMatchObject({ status: 'sent', external_id: sid, skipped_status_reason: null });
    expect((await eventsAbout(crashed)).map((event) => event.type)).toEqual(['message.sent']);
    expect(sendsTo(text)).toHaveLength(0);
  });

  it('texts once more when a reminder is claimed again and the vendor never spoke of the earlier text, which the sweep then settles', async () => {
    const { crashedAt, clock, service, org, records, text, reminder } = await claimedByADeadSender('pending-resend', 'Resent reminder');
    // Written a moment ago: its sender may still be waiting for the vendor, however far the clock moved.
    const crashed = await crashedSend(org.id, records.patient._id, 0, reminder);
    clock.set(new Date(crashedAt + 6 * MINUTE));
    expect(await service.dispatcher.runOnce()).toBe(1);
    expect(sendsTo(text)).toHaveLength(0);
    expect((await sql().query('SELECT status::text FROM reminder WHERE id = $1', [reminder])).rows[0].status).toBe('queued');

    // An hour on (real time), the claim lapses again. A claim may send twice, never zero times: nothing says the vendor
    // took the first.
    await sql().query(`UPDATE message SET created_at = now() - interval '1 hour' WHERE id = $1`, [crashed]);
    clock.set(new Date(crashedAt + 12 * MINUTE));
    expect(await service.dispatcher.runOnce()).toBe(1);
    expect(sendsTo(text)).toHaveLength(1);
    clock.set(new Date(crashedAt + 23 * MINUTE));
    expect(await service.sweep.runOnce()).toBe(1);
    expect(await message(crashed)).toMatchObject({ status: 'undelivered', skipped_status_reason: 'outcome-unknown' });
    const { rows } = await sql().query('SELECT status::text, message FROM reminder WHERE id = $1', [reminder]);
    expect(rows[0].status).toBe('sent');
    expect(rows[0].message).not.toBe(crashed);
    expect(sendsTo(text)).toHaveLength(1);
  });

  it('reads a reply to a text whose sender died mid-send as answering its reminder, which is then not sent again', async () => {
    const base = Math.ceil(Date.now() / (60 * MINUTE)) * 60 * MINUTE;
    const clock = testClock(new Date(base).toISOString());
    const service = await start('pending-reply', brokers, { twilio: fake, clock });
    const phone = '+15551110042';
    const org = organization();
    await publishSettings(service.bus, org.id, { reminderOffsetsHours: [48] });
    const records = await world(service.bus, org.id, { patient: { phone, firstname: 'Rosa' } });
    await contactKept(records.patient._id);
    await waitFor(
      async () => (await sql().query('SELECT 1 FROM organization_setting WHERE organization = $1', [org.id])).rows.length === 1,
      { timeoutMs: 30_000, message: 'settings kept' },
    );
    const appointment = appointmentData(records, new Date(base + 4 * 24 * 60 * MINUTE).toISOString());
    await scheduling.book(service.bus, org.id, appointment);
    await waitFor(async () => (await sql().query('SELECT 1 FROM reminder WHERE appointment = $1', [appointment._id])).rows.length === 1, {
      timeoutMs: 30_000,
      message: 'reminder planned',
    });
    const reminder = (await sql().query('SELECT id FROM reminder WHERE appointment = $1', [appointment._id])).rows[0].id as string;

    // Due; a round claims it, writes its message, hands it to the vendor and dies before recording the answer.
    const claimedAt = base + 2 * 24 * 60 * MINUTE;
    clock.set(new Date(claimedAt));
    await sql().query(`UPDATE reminder SET status = 'queued', claimed_at = $2, attempts = attempts + 1 WHERE id = $1`, [
      reminder,
      new Date(claimedAt),
    ]);
    const crashed = await crashedSend(org.id, records.patient._id, 60, reminder);

    // The patient got it and answers C: the reply is about that reminder's appointment.
    const answer = await twilioCallback(service.app, fake, '/api/callback/sms/reminders', {
      MessageSid: `SM${randomUUID().replace(/-/g, '')}`,
      AccountSid: fake.accountSid,
      From: phone,
      To: fake.from,
      Body: 'C',
      NumMedia: '0',
    });
    expect(answer.statusCode).toBe(200);
    const { rows: received } = await sql().query(
      `SELECT envelope->'data' AS data FROM outbox WHERE envelope->>'type' = 'reply.received' AND envelope->>'subject' = $1`,
      [records.patient._id],
    );
    expect(received.map((row) => row.data)).toEqual([
      expect.objectContaining({ intent: 'confirm', appointment: appointment._id, reminder }),
    ]);

    // The claim lapses: the reply proves the text arrived, so it is not sent again, and the sweep records it sent.
    clock.set(new Date(claimedAt + 6 * MINUTE));
    expect(await service.dispatcher.runOnce()).toBe(1);
    expect(fake.sent.filter((send) => send.params['To'] === phone)).toHaveLength(0);
    expect((await sql().query('SELECT status::text, message FROM reminder WHERE id = $1', [reminder])).rows[0]).toEqual({
      status: 'sent',
      message: crashed,
    });
    clock.set(new Date(claimedAt + 11 * MINUTE));
    expect(await service.sweep.runOnce()).toBe(1);
    expect(await message(crashed)).toMatchObject({ status: 'sent', skipped_status_reason: null });
    expect(fake.sent.filter((send) => send.params['To'] === phone)).toHaveLength(0);
  });
});
