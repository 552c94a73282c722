import { randomUUID } from 'node:crypto';
import { CLIENT_ADDRESS_HEADER, signClientAddress } from '@pep/service-kit';
import { kafkaBrokers, startTwilioFake, waitFor, type TwilioFake } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appointmentData,
  as,
  observe,
  organization,
  publishSettings,
  scheduling,
  SECRET,
  startMessaging,
  testClock,
  twilioCallback,
  world,
  type MessagingUnderTest,
} from '../test/harness.js';

const CLINIC_NUMBER = '+15005550006';
const PATH = '/webhooks/reply/bandwidth/sms';
const CREDENTIALS = { username: 'bandwidth-callbacks', password: 'correct horse battery staple' };
const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

/** A Bandwidth message id as Bandwidth makes them (time in ms and a random tail). */
const bandwidthId = () => `${Date.now()}${randomUUID().replace(/-/g, '').slice(0, 12)}`;

/** Bandwidth's inbound-message callback, exactly as Bandwidth's Messaging API v2 posts it. */
const bandwidthCallback = (from: string, text: string, id = bandwidthId()) => [
  {
    type: 'message-received',
    time: '2026-08-03T15:00:00.000Z',
    description: 'Incoming message received',
    to: CLINIC_NUMBER,
    message: {
      id,
      owner: CLINIC_NUMBER,
      applicationId: '93de2206-9669-4e07-948d-329f4b722ee2',
      time: '2026-08-03T15:00:00.000Z',
      segmentCount: 1,
      direction: 'in',
      to: [CLINIC_NUMBER],
      from,
      text,
      media: [],
    },
  },
];

describe('messaging service: patients’ SMS replies through Bandwidth', () => {
  let service: MessagingUnderTest;
  let guarded: MessagingUnderTest;
  let fake: TwilioFake;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  const clock = testClock('2026-08-01T14:00:00Z');

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    fake = await startTwilioFake();
    service = await startMessaging('bandwidth', brokers, { twilio: fake, clock });
    // A second replica on the same database and topics, with Bandwidth credentials configured.
    guarded = await startMessaging('bandwidth-basic', brokers, { twilio: fake, replicaOf: service, bandwidthCallback: CREDENTIALS });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    events = await observe(service, brokers, ['messaging.reply', 'messaging.consent', 'messaging.message']);
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await guarded?.stop();
    await service?.close();
    await fake?.close();
  });

  const post = (payload: unknown, headers: Record<string, string> = {}, app = service.app) =>
    app.inject({
      method: 'POST',
      url: PATH,
      headers: { 'content-type': 'application/json', ...headers },
      payload: JSON.stringify(payload),
    });
  const rows = async (query: string, params: unknown[]) => (await sql.query(query, params)).rows;
  const inboundOf = (patient: string) =>
    rows(
      'SELECT text, "from", "to", external_id, external_status, classification, appointment FROM message WHERE type = \'inbound\' AND patient = $1',
      [patient],
    );
  const eventsOf = (subject: string, type: string, count = 1) =>
    waitFor(
      () => {
        const mine = events.seen.filter((event) => event.subject === subject && event.type === type);
        return mine.length >= count ? mine : null;
      },
      { timeoutMs: 30_000, message: `${type} of ${subject}` },
    );
  const settle = () => new Promise((resolve) => setTimeout(resolve, 500));

  /** A patient who was sent the reminder of an appointment on 5 August, 10:00 in New York. */
  const remindedPatient = async (phone: string) => {
    clock.set('2026-08-01T14:00:00Z');
    const org = organization();
    await publishSettings(service.bus, org.id, { reminderOffsetsHours: [48], helpText: 'Call Main Street Clinic at 555-0100.' });
    const records = await world(service.bus, org.id, { patient: { phone, firstname: 'Rosa' } });
    await waitFor(
      async () =>
        (await rows('SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).length === 1 &&
        (await rows('SELECT 1 FROM organization_setting WHERE organization = $1', [org.id])).length === 1,
      {
        timeoutMs: 30_000,
        message: 'read models kept',
      },
    );
    const appointment = appointmentData(records, '2026-08-05T14:00:00.000Z');
    await scheduling.book(service.bus, org.id, appointment);
    await waitFor(async () => (await rows('SELECT 1 FROM reminder WHERE appointment = $1', [appointment._id])).length === 1, {
      timeoutMs: 30_000,
      message: 'reminder planned',
    });
    clock.set('2026-08-03T14:00:00Z');
    while ((await service.dispatcher.runOnce()) > 0);
    const [reminder] = await rows('SELECT id, status FROM reminder WHERE appointment = $1', [appointment._id]);
    expect(reminder.status).toBe('sent');
    return { org, records, appointment, reminder: reminder.id as string };
  };

  it('reads C in Bandwidth’s callback exactly as Twilio’s: 200, the same reply.received, the reply stored with its numbers and id', async () => {
    const viaBandwidth = await remindedPatient('+15552220001');
    const viaTwilio = await remindedPatient('+15552220002');
    const id = bandwidthId();
    const answered = await post(bandwidthCallback('+15552220001', 'C', id));
    expect(answered.statusCode).toBe(200);
    expect(answered.json()).toEqual({ received: 1, ignored: 0 });
    const sid = `SM${randomUUID().replace(/-/g, '')}`;
    const twilioReply = { MessageSid: sid, AccountSid: fake.accountSid, From: '+15552220002', To: CLINIC_NUMBER, Body: 'C', NumMedia: '0' };
    expect((await twilioCallback(service.app, fake, '/api/callback/sms/reminders', twilioReply)).statusCode).toBe(200);

    const [bandwidthEvent] = await eventsOf(viaBandwidth.records.patient._id, 'reply.received');
    const [twilioEvent] = await eventsOf(viaTwilio.records.patient._id, 'reply.received');
    const meaning = (data: Record<string, unknown>) => ({
      intent: data['intent'],
      classification: data['classification'],
      channel: data['channel'],
      offer: data['offer'],
    });
    expect(bandwidthEvent!.data).toMatchObject({
      patient: viaBandwidth.records.patient._id,
      appointment: viaBandwidth.appointment._id,
      reminder: viaBandwidth.reminder,
      intent: 'confirm',
      classification: 'positive',
    });
    expect(meaning(bandwidthEvent!.data as Record<string, unknown>)).toEqual(meaning(twilioEvent!.data as Record<string, unknown>));
    expect(JSON.stringify(bandwidthEvent)).not.toContain('+15552220001');

    const body = (
      await service.app.inject({
        url: `/api/messages?patient=${viaBandwidth.records.patient._id}&type=inbound`,
        headers: await as(viaBandwidth.org.staff),
      })
    ).json();
    // A bare array for v1 clients (or the list envelope): the fields are what matters here.
    const listed = Array.isArray(body) ? body : body.response;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      type: 'inbound',
      channel: 'sms',
      status: 'delivered',
      from: '+15552220001',
      to: CLINIC_NUMBER,
      text: 'C',
      classification: 'positive',
      externalStatus: { vendor: 'bandwidth', messageId: id },
      appointment: viaBandwidth.appointment._id,
    });
    // The vendor's id, namespaced by vendor (the v1 view may wrap it as `{ value }`).
    expect(listed[0].externalId?.value ?? listed[0].externalId).toBe(`bandwidth:${id}`);
  });

  it('has one effect per Bandwidth message id, however often and however concurrently it is delivered, and never mistakes a Twilio SID for it', async () => {
    const { records } = await remindedPatient('+15552220003');
    const other = await remindedPatient('+15552220004');
    const id = bandwidthId();
    const deliveries = await Promise.all([
      post(bandwidthCallback('+15552220003', 'X', id)),
      post(bandwidthCallback('+15552220003', 'X', id)),
    ]);
    expect(deliveries.map((delivery) => delivery.statusCode)).toEqual([200, 200]);
    expect((await post(bandwidthCallback('+15552220003', 'X', id))).statusCode).toBe(200);
    await eventsOf(records.patient._id, 'reply.received');
    // A Twilio reply whose SID happens to be the same string is another message: it is read, not taken for a repeat.
    const twilioReply = { MessageSid: id, AccountSid: fake.accountSid, From: '+15552220004', To: CLINIC_NUMBER, Body: 'X', NumMedia: '0' };
    expect((await twilioCallback(service.app, fake, '/api/callback/sms/reminders', twilioReply)).statusCode).toBe(200);
    await eventsOf(other.records.patient._id, 'reply.received');
    await settle();
    expect(await inboundOf(records.patient._id)).toHaveLength(1);
    expect((await inboundOf(other.records.patient._id)).map((row) => row.external_id)).toEqual([id]);
    expect(events.seen.filter((event) => event.type === 'reply.received' && event.subject === records.patient._id)).toHaveLength(1);
  });

  it('takes the tolerated variants (type inbound, direction inbound-api, one event without the array, one number in to) and ignores delivery reports and outbound directions', async () => {
    const inbound = await remindedPatient('+15552220005');
    const single = await remindedPatient('+15552220006');
    const [event] = bandwidthCallback('+15552220005', 'c');
    const variant = { ...event!, type: 'inbound', message: { ...event!.message, direction: 'inbound-api' } };
    const delivered = {
      ...bandwidthCallback('+15552220005', '')[0]!,
      type: 'message-delivered',
      description: 'ok',
      message: { ...event!.message, id: bandwidthId(), direction: 'out', from: CLINIC_NUMBER, to: ['+15552220005'] },
    };
    const outbound = {
      ...bandwidthCallback('+15552220005', 'X')[0]!,
      message: { ...event!.message, id: bandwidthId(), direction: 'out', text: 'X' },
    };
    const batch = await post([variant, delivered, outbound]);
    expect(batch.statusCode).toBe(200);
    expect(batch.json()).toEqual({ received: 1, ignored: 2 });
    const [bare] = bandwidthCallback('+15552220006', 'Yes');
    const { to: _to, ...withoutTo } = bare!;
    const alone = await post({ ...withoutTo, message: { ...bare!.message, owner: undefined, to: CLINIC_NUMBER } });
    expect(alone.statusCode).toBe(200);
    expect((await eventsOf(inbound.records.patient._id, 'reply.received'))[0]!.data).toMatchObject({
      intent: 'confirm',
      appointment: inbound.appointment._id,
    });
    expect((await eventsOf(single.records.patient._id, 'reply.received'))[0]!.data).toMatchObject({
      intent: 'confirm',
      appointment: single.appointment._id,
    });
    expect(await inboundOf(single.records.patient._id)).toEqual([expect.objectContaining({ to: CLINIC_NUMBER, text: 'Yes' })]);
    await settle();
    expect(await inboundOf(inbound.records.patient._id)).toEqual([expect.objectContaining({ text: 'c' })]);
  });

  it('opts out on STOP like Twilio does, recording the acknowledgement as not sent since Bandwidth cannot carry it back', async () => {
    const { org, records } = await remindedPatient('+15552220007');
    expect((await post(bandwidthCallback('+15552220007', 'STOP'))).statusCode).toBe(200);
    const [optedOut] = await eventsOf(records.patient._id, 'patient.opted-out');
    expect(optedOut!.data).toEqual({ _id: records.patient._id, channel: 'sms', keyword: 'STOP' });
    const refused = await service.app.inject({
      method: 'POST',
      url: '/api/messages',
      headers: await as(org.staff),
      payload: { patient: records.patient._id, text: 'Still there?' },
    });
    expect(refused.statusCode).toBe(409);
    const ack = (
      await rows("SELECT status, skipped_status_reason, key FROM message WHERE type = 'outbound' AND patient = $1 AND key = 'stop-ack'", [
        records.patient._id,
      ])
    )[0];
    expect(ack).toEqual({ status: 'skipped', skipped_status_reason: 'no-reply-channel', key: 'stop-ack' });
  });

  it('refuses bodies that are not Bandwidth callbacks with a problem naming the field, storing nothing', async () => {
    const before = (await rows("SELECT count(*)::int AS n FROM message WHERE type = 'inbound'", []))[0].n;
    const missing = await post([{ type: 'message-received', message: { text: 'C' } }]);
    expect(missing.statusCode).toBe(400);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.stringify(missing.json().errors)).toMatch(/message\.id|message\.from/);
    expect((await post([])).statusCode).toBe(400);
    expect((await rows("SELECT count(*)::int AS n FROM message WHERE type = 'inbound'", []))[0].n).toBe(before);
  });

  it('with credentials configured, wants Bandwidth’s Basic credentials from every caller, loopback too: 401 with a Basic challenge otherwise', async () => {
    const { records } = await remindedPatient('+15552220008');
    const callback = bandwidthCallback('+15552220008', 'C');
    const bare = await post(callback, {}, guarded.app);
    expect(bare.statusCode).toBe(401);
    expect(bare.headers['www-authenticate']).toMatch(/^Basic realm="bandwidth-callbacks"/);
    expect(bare.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((await post(callback, { authorization: basic(CREDENTIALS.username, 'wrong password!') }, guarded.app)).statusCode).toBe(401);
    expect((await post(callback, { authorization: basic('someone-else', CREDENTIALS.password) }, guarded.app)).statusCode).toBe(401);
    expect((await post(callback, { authorization: `Bearer ${CREDENTIALS.password}` }, guarded.app)).statusCode).toBe(401);
    await settle();
    expect(await inboundOf(records.patient._id)).toEqual([]);
    const accepted = await post(callback, { authorization: basic(CREDENTIALS.username, CREDENTIALS.password) }, guarded.app);
    expect(accepted.statusCode).toBe(200);
    expect((await eventsOf(records.patient._id, 'reply.received'))[0]!.data).toMatchObject({ intent: 'confirm' });
  });

  it('without credentials, accepts only callers on this machine: as the gateway signed their address, else as connected', async () => {
    const { records } = await remindedPatient('+15552220009');
    const callback = bandwidthCallback('+15552220009', 'C');
    // The gateway vouches for a caller from elsewhere: refused, whatever X-Forwarded-For says.
    const remote = await post(callback, {
      [CLIENT_ADDRESS_HEADER]: await signClientAddress(SECRET, '203.0.113.9'),
      'x-forwarded-for': '127.0.0.1',
    });
    expect(remote.statusCode).toBe(403);
    expect(remote.json()).toMatchObject({ status: 403, detail: expect.stringContaining('BANDWIDTH_CALLBACK_USERNAME') });
    // An address claim the gateway did not sign, or signed with another key, is not believed.
    expect((await post(callback, { [CLIENT_ADDRESS_HEADER]: 'forged' })).statusCode).toBe(403);
    expect(
      (await post(callback, { [CLIENT_ADDRESS_HEADER]: await signClientAddress('another-secret-0123456789abcdefghij', '127.0.0.1') }))
        .statusCode,
    ).toBe(403);
    await settle();
    expect(await inboundOf(records.patient._id)).toEqual([]);
    // A caller on this machine, through the gateway or straight to the service.
    expect((await post(callback, { [CLIENT_ADDRESS_HEADER]: await signClientAddress(SECRET, '::1') })).statusCode).toBe(200);
    expect((await post(bandwidthCallback('+15552220009', 'C'))).statusCode).toBe(200);
    await eventsOf(records.patient._id, 'reply.received', 2);
  });
});
