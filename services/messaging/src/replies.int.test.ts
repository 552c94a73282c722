import { randomUUID } from 'node:crypto';
import { appointmentConfirmedV1 } from '@pep/contracts';
import { kafkaBrokers, startTwilioFake, waitFor, type TwilioFake } from '@pep/testing';
import pg from 'pg';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appointmentData,
  as,
  observe,
  organization,
  patientData,
  publish,
  PUBLIC_URL,
  publishSettings,
  scheduling,
  startMessaging,
  testClock,
  twilioCallback,
  updatePatient,
  world,
  type MessagingUnderTest,
} from '../test/harness.js';

const CLINIC_NUMBER = '+15005550006';
const EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

describe('messaging service: patients’ SMS replies', () => {
  let service: MessagingUnderTest;
  let fake: TwilioFake;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  const clock = testClock('2026-08-01T14:00:00Z');

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    fake = await startTwilioFake();
    service = await startMessaging('replies', brokers, { twilio: fake, clock });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    events = await observe(service, brokers, ['messaging.reply', 'messaging.consent', 'messaging.message']);
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await service?.close();
    await fake?.close();
  });

  const path = '/api/callback/sms/reminders';
  const reply = (from: string, body: string, sid = `SM${randomUUID().replace(/-/g, '')}`) =>
    twilioCallback(service.app, fake, path, {
      MessageSid: sid,
      AccountSid: fake.accountSid,
      From: from,
      To: CLINIC_NUMBER,
      Body: body,
      NumMedia: '0',
    });
  const drain = async () => {
    while ((await service.dispatcher.runOnce()) > 0);
  };
  const rows = async (query: string, params: unknown[]) => (await sql.query(query, params)).rows;
  const eventsOf = (subject: string, type: string, count = 1) =>
    waitFor(
      () => {
        const mine = events.seen.filter((event) => event.subject === subject && event.type === type);
        return mine.length >= count ? mine : null;
      },
      { timeoutMs: 30_000, message: `${type} of ${subject}` },
    );

  /** A patient who was sent the first reminder of an appointment on 5 August, 10:00 in New York. */
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
    await drain();
    const [reminder] = await rows('SELECT id, status FROM reminder WHERE appointment = $1', [appointment._id]);
    expect(reminder.status).toBe('sent');
    return { org, records, appointment, reminder: reminder.id as string };
  };

  it('publishes C as a confirmation of the appointment of the latest reminder, once however often Twilio calls, and acknowledges what scheduling did', async () => {
    const { org, records, appointment, reminder } = await remindedPatient('+15551110001');
    const sid = `SM${randomUUID().replace(/-/g, '')}`;
    const first = await reply('+15551110001', 'c', sid);
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toMatch(/^text\/xml/);
    expect(first.body).toBe(EMPTY);
    expect((await reply('+15551110001', 'c', sid)).body).toBe(EMPTY);

    const [received] = await eventsOf(records.patient._id, 'reply.received');
    expect(received!.data).toMatchObject({
      patient: records.patient._id,
      intent: 'confirm',
      classification: 'positive',
      appointment: appointment._id,
      reminder,
      channel: 'sms',
      offer: null,
    });
    expect(JSON.stringify(received)).not.toContain('+15551110001');
    const inbound = (
      await service.app.inject({ url: `/api/messages?patient=${records.patient._id}&type=inbound`, headers: await as(org.staff) })
    ).json();
    expect(inbound).toHaveLength(1);
    expect(inbound[0]).toMatchObject({
      text: 'c',
      classification: 'positive',
      externalId: { value: sid },
      from: '+15551110001',
      appointment: appointment._id,
      status: 'delivered',
    });

    // Scheduling confirms; the patient is thanked once, at once, and the reminder shows as confirmed.
    await publish(
      service.bus,
      appointmentConfirmedV1,
      org.id,
      appointment._id,
      { ...appointment, status: 'confirmed' },
      '/services/scheduling',
    );
    await waitFor(
      async () =>
        (await rows("SELECT 1 FROM reminder WHERE appointment = $1 AND message_template = 'confirmation-ack'", [appointment._id]))
          .length === 1,
      { timeoutMs: 30_000, message: 'acknowledgement planned' },
    );
    clock.set('2026-08-03T23:30:00Z');
    await drain();
    const thanks = fake.sent.filter((send) => send.params['To'] === '+15551110001' && send.params['Body']?.startsWith('Thank you Rosa'));
    expect(thanks.map((send) => send.params['Body'])).toEqual([
      'Thank you Rosa, your appointment on Wednesday, August 5, 2026 at 10:00 AM is confirmed.',
    ]);
    expect((await rows('SELECT status FROM reminder WHERE id = $1', [reminder]))[0].status).toBe('confirmed');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(events.seen.filter((event) => event.type === 'reply.received' && event.subject === records.patient._id)).toHaveLength(1);
  });

  it('publishes X as a cancellation and acknowledges the cancellation scheduling made', async () => {
    const { org, records, appointment } = await remindedPatient('+15551110002');
    expect((await reply('+15551110002', 'X')).body).toBe(EMPTY);
    const [received] = await eventsOf(records.patient._id, 'reply.received');
    expect(received!.data).toMatchObject({ intent: 'cancel', classification: 'negative', appointment: appointment._id });
    await scheduling.cancel(service.bus, org.id, appointment);
    await waitFor(
      async () =>
        (await rows("SELECT 1 FROM reminder WHERE appointment = $1 AND message_template = 'cancellation-ack'", [appointment._id]))
          .length === 1,
      { timeoutMs: 30_000, message: 'acknowledgement planned' },
    );
    await drain();
    expect(fake.sent.filter((send) => send.params['To'] === '+15551110002').map((send) => send.params['Body'])).toEqual([
      expect.stringContaining('Reply YES to confirm or NO to cancel'),
      'Your appointment on Wednesday, August 5, 2026 at 10:00 AM is cancelled. Call Main Street Clinic to book another time.',
      'Would you like an earlier or another time with Grace Hopper at Main Street Clinic? Reply WAITLIST and we will text you when one opens.',
    ]);
  });

  it('stops everything on STOP with one answer, starts again on START, and answers HELP', async () => {
    const { org, records, appointment } = await remindedPatient('+15551110003');
    const later = appointmentData(records, '2026-08-20T14:00:00.000Z');
    await scheduling.book(service.bus, org.id, later);
    await waitFor(
      async () => (await rows("SELECT 1 FROM reminder WHERE appointment = $1 AND status = 'scheduled'", [later._id])).length === 1,
      { timeoutMs: 30_000, message: 'reminder planned' },
    );
    const sendsBefore = fake.sent.length;

    const sid = `SM${randomUUID().replace(/-/g, '')}`;
    const stop = await reply('+15551110003', 'Stop', sid);
    expect(stop.body).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Message>You will receive no more messages from us. Reply START to receive them again.</Message></Response>',
    );
    expect((await reply('+15551110003', 'Stop', sid)).body).toBe(EMPTY);
    const [optedOut] = await eventsOf(records.patient._id, 'patient.opted-out');
    expect(optedOut!.data).toEqual({ _id: records.patient._id, channel: 'sms', keyword: 'STOP' });
    expect((await rows('SELECT status, status_reason FROM reminder WHERE appointment = $1', [later._id]))[0]).toEqual({
      status: 'blocked',
      status_reason: 'do-not-contact',
    });
    const refused = await service.app.inject({
      method: 'POST',
      url: '/api/messages',
      headers: await as(org.staff),
      payload: { patient: records.patient._id, text: 'Still there?' },
    });
    expect(refused.statusCode).toBe(409);
    // Even a reminder planned by hand, due now, is not sent.
    const manual = await service.app.inject({
      method: 'POST',
      url: '/api/reminders',
      headers: await as(org.staff),
      payload: { patient: records.patient._id, sendAt: '2026-08-03T15:00:00Z', text: 'Blocked' },
    });
    expect(manual.json()).toMatchObject({ status: 'blocked', statusReason: 'do-not-contact' });
    clock.set('2026-08-04T14:00:00Z');
    await drain();
    expect(fake.sent.length).toBe(sendsBefore);
    const answers = (
      await service.app.inject({ url: `/api/messages?patient=${records.patient._id}&type=outbound`, headers: await as(org.staff) })
    ).json();
    expect(answers[0]).toMatchObject({ key: 'stop-ack', status: 'sent', externalStatus: { twiml: true, inReplyTo: sid } });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(events.seen.filter((event) => event.type === 'patient.opted-out' && event.subject === records.patient._id)).toHaveLength(1);

    // Back on 10 August, the patient opts in again: the reminder of the 20 August appointment (due the 18th) is back.
    clock.set('2026-08-10T14:00:00Z');
    const start = await reply('+15551110003', 'START');
    expect(start.body).toContain('You will receive messages from us again.');
    const [optedIn] = await eventsOf(records.patient._id, 'patient.opted-in');
    expect(optedIn!.data).toMatchObject({ keyword: 'START' });
    expect((await rows('SELECT status FROM reminder WHERE appointment = $1', [later._id]))[0].status).toBe('scheduled');
    expect((await rows('SELECT status FROM reminder WHERE appointment = $1', [appointment._id]))[0].status).toBe('sent');

    const help = await reply('+15551110003', 'HELP');
    expect(help.body).toContain('<Message>Call Main Street Clinic at 555-0100.</Message>');
  });

  it('refuses unsigned and tampered webhooks, takes GET webhooks signed with their query, and keeps replies from unknown numbers apart', async () => {
    const { records } = await remindedPatient('+15551110004');
    const count = async () => (await rows("SELECT count(*)::int AS n FROM message WHERE type = 'inbound'", []))[0].n as number;
    const before = await count();
    const params = { MessageSid: `SM${randomUUID().replace(/-/g, '')}`, From: '+15551110004', To: CLINIC_NUMBER, Body: 'C' };
    expect((await twilioCallback(service.app, fake, path, params, { tamper: { Body: 'STOP' } })).statusCode).toBe(403);
    expect((await twilioCallback(service.app, fake, path, params, { token: 'f'.repeat(32) })).statusCode).toBe(403);
    expect(
      (
        await service.app.inject({
          method: 'POST',
          url: path,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams(params).toString(),
        })
      ).statusCode,
    ).toBe(403);
    expect(await count()).toBe(before);

    const query = `${path}?${new URLSearchParams(params).toString()}`;
    const signature = twilio.getExpectedTwilioSignature(fake.authToken, `${PUBLIC_URL}${query}`, {});
    const viaGet = await service.app.inject({ method: 'GET', url: query, headers: { 'x-twilio-signature': signature } });
    expect(viaGet.statusCode).toBe(200);
    expect(await count()).toBe(before + 1);
    await eventsOf(records.patient._id, 'reply.received');
    const tamperedGet = await service.app.inject({
      method: 'GET',
      url: query.replace('Body=C', 'Body=X'),
      headers: { 'x-twilio-signature': signature },
    });
    expect(tamperedGet.statusCode).toBe(403);

    expect((await reply('+15559999999', 'C')).body).toBe(EMPTY);
    expect(await count()).toBe(before + 1);
    // Kept apart, not lost: no reminder of ours went to that number, so it answers nothing.
    expect(await rows('SELECT intent FROM unmatched_reply WHERE "from" = $1', ['+15559999999'])).toEqual([{ intent: 'confirm' }]);
  });

  it('keeps a STOP sent before messaging knew the patient, and opts out the patient learnt at the number afterwards, once', async () => {
    clock.set('2026-08-01T14:00:00Z');
    const phone = '+15551110007';
    const sid = `SM${randomUUID().replace(/-/g, '')}`;
    const stop = await reply(phone, 'STOP', sid);
    expect(stop.body).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Message>You will receive no more messages from us. Reply START to receive them again.</Message></Response>',
    );
    expect((await reply(phone, 'STOP', sid)).body).toBe(EMPTY);
    expect(await rows('SELECT intent, classification::text, text FROM unmatched_reply WHERE "from" = $1', [phone])).toEqual([
      { intent: 'opt-out', classification: 'recognized-keywords', text: 'STOP' },
    ]);

    // The patient's record arrives late; one appointment may even be booked before it.
    const org = organization();
    await publishSettings(service.bus, org.id, { reminderOffsetsHours: [48] });
    const facility = { _id: randomUUID(), timeZone: 'America/New_York' };
    const records = { patient: patientData({ phone, firstname: 'Rosa' }), facility, provider: { _id: randomUUID() } } as unknown as Awaited<
      ReturnType<typeof world>
    >;
    const early = appointmentData(records, '2026-08-05T14:00:00.000Z');
    await scheduling.book(service.bus, org.id, early);
    await world(service.bus, org.id, { patient: records.patient });
    const [optedOut] = await eventsOf(records.patient._id, 'patient.opted-out');
    expect(optedOut!.data).toEqual({ _id: records.patient._id, channel: 'sms', keyword: 'STOP' });
    expect((await rows('SELECT opted_out_at FROM patient_contact WHERE id = $1', [records.patient._id]))[0].opted_out_at).toEqual(
      new Date('2026-08-01T14:00:00Z'),
    );
    const late = appointmentData(records, '2026-08-06T14:00:00.000Z');
    await scheduling.book(service.bus, org.id, late);
    await waitFor(
      async () =>
        (
          await rows("SELECT 1 FROM reminder WHERE appointment = ANY($1) AND status = 'blocked' AND status_reason = 'do-not-contact'", [
            [early._id, late._id],
          ])
        ).length === 2,
      {
        timeoutMs: 30_000,
        message: 'both reminders blocked',
      },
    );
    clock.set('2026-08-04T15:00:00Z');
    await drain();
    expect(fake.sent.filter((send) => send.params['To'] === phone)).toEqual([]);

    // A later event about the patient does not apply the number's STOP again.
    await updatePatient(service.bus, org.id, records.patient, { firstname: 'Rosita' });
    await waitFor(
      async () => (await rows('SELECT firstname FROM patient_contact WHERE id = $1', [records.patient._id]))[0]?.firstname === 'Rosita',
      { timeoutMs: 30_000, message: 'update kept' },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(events.seen.filter((event) => event.type === 'patient.opted-out' && event.subject === records.patient._id)).toHaveLength(1);

    // Now known, the patient's START is theirs, and the number's word follows it for patients learnt there later.
    expect((await reply(phone, 'START')).body).toContain('You will receive messages from us again.');
    await eventsOf(records.patient._id, 'patient.opted-in');
    expect(await rows('SELECT opted_out, keyword FROM number_consent WHERE phone = $1', [phone])).toEqual([
      { opted_out: false, keyword: 'START' },
    ]);
  });

  // Claimed: a dispatcher round took the reminder for its retry before the reply came, so the reply cannot mark it; the
  // round sees the reply and settles it instead of sending.
  it.each([
    { claimedBeforeReply: false, phone: '+15551110008' },
    { claimedBeforeReply: true, phone: '+15551110009' },
  ])(
    'reads a reply to a text whose vendor call timed out as answering that reminder, and does not send it again (claimed by a round first: $claimedBeforeReply)',
    async ({ claimedBeforeReply, phone }) => {
      clock.set('2026-08-01T14:00:00Z');
      const org = organization();
      await publishSettings(service.bus, org.id, { reminderOffsetsHours: [48] });
      const records = await world(service.bus, org.id, { patient: { phone, firstname: 'Rosa' } });
      await waitFor(async () => (await rows('SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).length === 1, {
        timeoutMs: 30_000,
        message: 'patient kept',
      });
      const appointment = appointmentData(records, '2026-08-05T14:00:00.000Z');
      await scheduling.book(service.bus, org.id, appointment);
      await waitFor(async () => (await rows('SELECT 1 FROM reminder WHERE appointment = $1', [appointment._id])).length === 1, {
        timeoutMs: 30_000,
        message: 'reminder planned',
      });

      // Twilio takes the text but the connection drops before its answer: messaging plans a retry.
      clock.set('2026-08-03T14:00:00Z');
      fake.fault = 'timeout';
      fake.hangMs = 200;
      try {
        await drain();
      } finally {
        fake.fault = 'none';
      }
      expect(fake.sent.filter((send) => send.params['To'] === phone).map((send) => send.unconfirmed)).toEqual([true]);
      const [pending] = await rows('SELECT id, status, status_reason FROM reminder WHERE appointment = $1', [appointment._id]);
      expect(pending).toMatchObject({ status: 'scheduled', status_reason: 'retrying:unreachable' });

      // A round that claimed it and then died: its claim lapses, and the next round takes the reminder over.
      if (claimedBeforeReply)
        await rows(`UPDATE reminder SET status = 'queued', claimed_at = '2026-08-03T13:00:00Z' WHERE id = $1`, [pending.id]);
      expect((await reply(phone, 'C')).body).toBe(EMPTY);
      const [received] = await eventsOf(records.patient._id, 'reply.received');
      expect(received!.data).toMatchObject({ intent: 'confirm', appointment: appointment._id, reminder: pending.id });
      if (!claimedBeforeReply) {
        expect((await rows('SELECT status, status_reason FROM reminder WHERE id = $1', [pending.id]))[0]).toEqual({
          status: 'sent',
          status_reason: 'answered-after-lost-vendor-answer',
        });
      }

      // The retry would have fallen due by now: nothing goes again.
      clock.set('2026-08-03T16:00:00Z');
      await drain();
      expect(fake.sent.filter((send) => send.params['To'] === phone)).toHaveLength(1);
      expect((await rows('SELECT status, status_reason FROM reminder WHERE id = $1', [pending.id]))[0]).toEqual({
        status: 'sent',
        status_reason: 'answered-after-lost-vendor-answer',
      });
    },
  );

  it('does not let whoever holds a number a patient left answer for that patient', async () => {
    const { org, records } = await remindedPatient('+15551110005');
    await updatePatient(service.bus, org.id, records.patient, { phone: '+15551110006' });
    await waitFor(
      async () => (await rows('SELECT phone FROM patient_contact WHERE id = $1', [records.patient._id]))[0]?.phone === '+15551110006',
      {
        timeoutMs: 30_000,
        message: 'the new number kept',
      },
    );
    expect((await reply('+15551110005', 'X')).body).toBe(EMPTY);
    expect(await rows("SELECT 1 FROM message WHERE type = 'inbound' AND patient = $1", [records.patient._id])).toEqual([]);
    expect(events.seen.filter((event) => event.type === 'reply.received' && event.subject === records.patient._id)).toEqual([]);
  });
});
