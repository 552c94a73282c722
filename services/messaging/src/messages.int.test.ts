import { randomUUID } from 'node:crypto';
import { kafkaBrokers, type SmtpSink, startSmtpSink, startTwilioFake, type TwilioFake, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  as,
  observe,
  organization,
  startMessaging,
  testClock,
  twilioCallback,
  updatePatient,
  world,
  type MessagingUnderTest,
} from '../test/harness.js';
import { NOT_BUILT } from './not-built.routes.js';

describe('messaging service: staff messages and Twilio status callbacks', () => {
  let service: MessagingUnderTest;
  let fake: TwilioFake;
  let smtp: SmtpSink;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  const org = organization();
  let records: Awaited<ReturnType<typeof world>>;

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    fake = await startTwilioFake();
    smtp = await startSmtpSink();
    service = await startMessaging('messages', brokers, {
      twilio: fake,
      mailer: { from: 'clinic@example.test', smtpUrl: smtp.url },
      clock: testClock('2026-06-01T15:00:00Z'),
    });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    events = await observe(service, brokers, ['messaging.message']);
    records = await world(service.bus, org.id, { patient: { phone: '+15551230077', email: 'ada@example.test' } });
    await waitFor(async () => (await sql.query('SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).rows.length === 1, {
      timeoutMs: 30_000,
      message: 'contact kept',
    });
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await service?.close();
    await fake?.close();
    await smtp?.close();
  });

  const send = async (payload: Record<string, unknown>, caller = org.staff) =>
    service.app.inject({ method: 'POST', url: '/api/messages', headers: await as(caller), payload });
  const eventsOf = (id: string, count: number) =>
    waitFor(
      () => {
        const mine = events.seen.filter((event) => event.subject === id);
        return mine.length >= count ? mine : null;
      },
      { timeoutMs: 30_000, message: `${count} events of ${id}` },
    );
  const countRows = async (table: string) => (await sql.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number;

  it('sends staff SMS, e-mail and voice messages through the vendors and lists them', async () => {
    const sms = await send({ patient: records.patient._id, text: 'Your results are in.' });
    expect(sms.statusCode, sms.body).toBe(200);
    expect(sms.json()).toMatchObject({
      type: 'outbound',
      channel: 'sms',
      status: 'sent',
      to: '+15551230077',
      text: 'Your results are in.',
      automated: false,
      createdBy: org.staff.user,
    });
    expect(fake.sent.at(-1)!.params).toMatchObject({ To: '+15551230077', Body: 'Your results are in.' });

    const email = await send({ patient: records.patient._id, channel: 'email', subject: 'Results', text: 'Your results are in.' });
    expect(email.json()).toMatchObject({ channel: 'email', status: 'sent', to: 'ada@example.test' });
    const mail = await waitFor(() => smtp.inbox.find((received) => received.subject === 'Results'), { message: 'mail received' });
    expect(mail.text).toContain('Your results are in.');

    const call = await send({ patient: records.patient._id, channel: 'voice', text: 'Please call the clinic.' });
    expect(call.json()).toMatchObject({ channel: 'voice', status: 'sent' });
    const placed = fake.sent.at(-1)!;
    expect(placed.kind).toBe('call');
    expect(placed.params['Twiml']).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-US">Please call the clinic.</Say></Response>',
    );
    expect(call.json().externalId).toEqual({ value: placed.sid });

    const listed = await service.app.inject({ url: `/api/messages?patient=${records.patient._id}`, headers: await as(org.provider) });
    expect(listed.headers['x-total-count']).toBe('3');
    expect(listed.json().map((message: { channel: string }) => message.channel)).toEqual(['voice', 'email', 'sms']);
    expect((await service.app.inject({ url: '/api/messages/crudList?channel=email', headers: await as(org.admin) })).json().total).toBe(1);
    expect((await service.app.inject({ url: `/api/messages/${sms.json()._id}`, headers: await as(org.staff) })).json()).toEqual(sms.json());

    // Reading the messages is reading patient data: each answer is audited with its reader and patient, ids only.
    const audited = await sql.query('SELECT route, actor, patients FROM patient_access WHERE organization = $1 ORDER BY at', [org.id]);
    expect(audited.rows).toEqual([
      { route: 'GET /api/messages', actor: org.provider.user, patients: [records.patient._id] },
      { route: 'GET /api/messages/crudList', actor: org.admin.user, patients: [records.patient._id] },
      { route: 'GET /api/messages/:id', actor: org.staff.user, patients: [records.patient._id] },
    ]);
  });

  it('refuses bad requests, unknown patients, missing addresses and do-not-contact, sending nothing', async () => {
    const before = { sends: fake.sent.length, messages: await countRows('message'), outbox: await countRows('outbox') };
    for (const [payload, field] of [
      [{ patient: records.patient._id }, 'body.text'],
      [{ patient: records.patient._id, text: 'x', channel: 'fax' }, 'body.channel'],
      [{ patient: records.patient._id, text: 'x', to: '+15550000000' }, 'body.to'],
    ] as const) {
      const response = await send(payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().errors.map((error: { field: string }) => error.field)).toContain(field);
    }
    const other = organization();
    const theirs = await world(service.bus, other.id, { patient: { phone: null, email: null } });
    await waitFor(async () => (await sql.query('SELECT 1 FROM patient_contact WHERE id = $1', [theirs.patient._id])).rows.length === 1, {
      timeoutMs: 30_000,
      message: 'contact kept',
    });
    // Another organization's patient is no patient of this one: the read model says whose it is.
    const theirPatient = await send({ patient: theirs.patient._id, text: 'x' });
    expect(theirPatient.statusCode).toBe(404);
    expect(theirPatient.json().errors).toEqual([{ field: 'body.patient', message: 'no such patient in your organization' }]);
    // One messaging never heard of must be asked of patients, which this test does not run: 503, try again later.
    const unheardOf = await send({ patient: randomUUID(), text: 'x' });
    expect(unheardOf.statusCode).toBe(503);
    expect(unheardOf.headers['retry-after']).toBe('5');
    const noPhone = await send({ patient: theirs.patient._id, text: 'x' }, other.staff);
    expect(noPhone.json().errors).toEqual([{ field: 'body.channel', message: 'the patient has no phone number' }]);
    expect((await send({ patient: records.patient._id, text: 'x' }, org.provider)).statusCode).toBe(403);

    await updatePatient(service.bus, other.id, theirs.patient, { doNotContact: true, phone: '+15551230078' });
    await waitFor(
      async () =>
        (await sql.query('SELECT 1 FROM patient_contact WHERE id = $1 AND do_not_contact', [theirs.patient._id])).rows.length === 1,
      { message: 'do-not-contact kept' },
    );
    const refused = await send({ patient: theirs.patient._id, text: 'x' }, other.staff);
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ type: '/problems/do-not-contact' });
    expect({ sends: fake.sent.length, messages: await countRows('message'), outbox: await countRows('outbox') }).toEqual(before);
  });

  it('records delivery from signed Twilio callbacks once, and refuses tampered ones', async () => {
    const message = (await send({ patient: records.patient._id, text: 'Delivery test' })).json();
    const path = `/api/callback/twilio/${message._id}`;
    const delivered = { MessageSid: message.externalId.value, MessageStatus: 'delivered', AccountSid: fake.accountSid, To: '+15551230077' };

    const tampered = await twilioCallback(service.app, fake, path, delivered, { tamper: { MessageStatus: 'undelivered' } });
    expect(tampered.statusCode).toBe(403);
    expect((await twilioCallback(service.app, fake, path, delivered, { token: 'not-the-account-token' })).statusCode).toBe(403);
    const unsigned = await service.app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(delivered).toString(),
    });
    expect(unsigned.statusCode).toBe(403);
    expect((await service.app.inject({ url: `/api/messages/${message._id}`, headers: await as(org.staff) })).json().status).toBe('sent');

    // Earlier states change nothing; the final one is kept; a repeat of it has no effect.
    expect((await twilioCallback(service.app, fake, path, { ...delivered, MessageStatus: 'sent' })).statusCode).toBe(204);
    expect((await twilioCallback(service.app, fake, path, delivered)).statusCode).toBe(204);
    expect((await twilioCallback(service.app, fake, path, delivered)).statusCode).toBe(204);
    expect(
      (await twilioCallback(service.app, fake, path, { ...delivered, MessageStatus: 'undelivered', ErrorCode: '30003' })).statusCode,
    ).toBe(204);
    const stored = (await service.app.inject({ url: `/api/messages/${message._id}`, headers: await as(org.staff) })).json();
    expect(stored).toMatchObject({ status: 'delivered', externalStatus: { status: 'delivered' } });
    expect(stored.terminatingStateAt).not.toBeNull();
    const published = await eventsOf(message._id, 2);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(events.seen.filter((event) => event.subject === message._id).map((event) => event.type)).toEqual([
      'message.sent',
      'message.delivered',
    ]);
    expect(published[1]!.data).toMatchObject({ _id: message._id, externalId: message.externalId.value });

    const lost = (await send({ patient: records.patient._id, text: 'Failure test' })).json();
    const lostPath = `/api/callback/twilio/${lost._id}`;
    expect(
      (
        await twilioCallback(service.app, fake, lostPath, {
          MessageSid: lost.externalId.value,
          MessageStatus: 'undelivered',
          ErrorCode: '30003',
        })
      ).statusCode,
    ).toBe(204);
    expect((await service.app.inject({ url: `/api/messages/${lost._id}`, headers: await as(org.staff) })).json()).toMatchObject({
      status: 'undelivered',
      skippedStatusReason: 'twilio-30003',
    });
    const failed = await eventsOf(lost._id, 2);
    expect(failed[1]).toMatchObject({ type: 'message.failed', data: { reason: 'twilio-30003' } });

    // A callback naming another message's SID, or no message at all, finds nothing.
    expect(
      (await twilioCallback(service.app, fake, lostPath, { MessageSid: message.externalId.value, MessageStatus: 'delivered' })).statusCode,
    ).toBe(404);
    expect((await twilioCallback(service.app, fake, `/api/callback/twilio/${randomUUID()}`, delivered)).statusCode).toBe(404);
  });

  it('answers 501 problem+json for every v1 endpoint it does not serve yet', async () => {
    const headers = await as(org.admin);
    for (const [method, url] of NOT_BUILT) {
      const path = url.replace(/:\w+/g, randomUUID());
      const response = await service.app.inject({ method, url: path, headers });
      expect(response.statusCode, `${method} ${path}`).toBe(501);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect((await service.app.inject({ url: '/api/chatActivities/', headers })).statusCode).toBe(501);
  });
});
