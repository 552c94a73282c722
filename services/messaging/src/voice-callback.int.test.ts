import { randomUUID } from 'node:crypto';
import { offerCreatedV1 } from '@pep/contracts';
import { kafkaBrokers, startTwilioFake, waitFor, type TwilioFake } from '@pep/testing';
import pg from 'pg';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appointmentData,
  as,
  observe,
  organization,
  publish,
  PUBLIC_URL,
  publishSettings,
  scheduling,
  startMessaging,
  testClock,
  twilioCallback,
  world,
  type MessagingUnderTest,
} from '../test/harness.js';

const XML = '<?xml version="1.0" encoding="UTF-8"?>';
const REMINDERS = '/api/callback/voice/reminders';
const OFFERS = '/api/callback/voice/offers';

describe('messaging service: reminder and offer calls', () => {
  let service: MessagingUnderTest;
  let fake: TwilioFake;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  const clock = testClock('2026-08-01T14:00:00Z');

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    fake = await startTwilioFake();
    service = await startMessaging('voice', brokers, { twilio: fake, clock });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    events = await observe(service, brokers, ['messaging.reply']);
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await service?.close();
    await fake?.close();
  });

  const rows = async (query: string, params: unknown[]) => (await sql.query(query, params)).rows;
  const drain = async () => {
    while ((await service.dispatcher.runOnce()) > 0);
  };
  const repliesOf = (patient: string) => events.seen.filter((event) => event.type === 'reply.received' && event.subject === patient);
  const inboundCount = async () => (await rows("SELECT count(*)::int AS n FROM message WHERE type = 'inbound'", []))[0].n as number;
  /** Twilio's fields of a call messaging placed to a patient: the call itself, as the fake took it. */
  const callTo = (phone: string) => {
    const call = fake.sent.filter((send) => send.kind === 'call' && send.params['To'] === phone).at(-1);
    expect(call, `a call to ${phone}`).toBeDefined();
    // Twilio is sent to the callback for what to say and which keys to take, not handed the words alone.
    expect([`${PUBLIC_URL}${REMINDERS}`, `${PUBLIC_URL}${OFFERS}`]).toContain(call!.params['Url']);
    expect(call!.params['Twiml']).toBeUndefined();
    return {
      CallSid: call!.sid,
      AccountSid: fake.accountSid,
      From: fake.from,
      To: phone,
      CallStatus: 'in-progress',
      Direction: 'outbound-api',
      ApiVersion: '2010-04-01',
    };
  };
  const gather = (
    call: Record<string, string>,
    path: string,
    step: number,
    digits: string,
    options: { tamper?: Record<string, string> } = {},
  ) => twilioCallback(service.app, fake, `${path}?step=${step}`, { ...call, Digits: digits, FinishedOnKey: '' }, options);

  /** A patient whose first reminder (of an appointment on 5 August, 10:00 in New York) staff moved to a call, placed on 3 August. */
  const calledPatient = async (phone: string, firstname: string) => {
    clock.set('2026-08-01T14:00:00Z');
    const org = organization();
    await publishSettings(service.bus, org.id, { reminderOffsetsHours: [48] });
    const records = await world(service.bus, org.id, { patient: { phone, firstname } });
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
    const [reminder] = await waitFor(
      async () => {
        const found = await rows('SELECT id FROM reminder WHERE appointment = $1', [appointment._id]);
        return found.length === 1 ? found : null;
      },
      { timeoutMs: 30_000, message: 'reminder planned' },
    );
    const moved = await service.app.inject({
      method: 'PUT',
      url: `/api/reminders/${reminder.id}`,
      headers: await as(org.staff),
      payload: { channel: 'voice' },
    });
    expect(moved.statusCode, moved.body).toBe(200);
    clock.set('2026-08-03T14:00:00Z');
    await drain();
    return { org, records, appointment, reminder: reminder.id as string, call: callTo(phone) };
  };

  it('says the reminder and asks for a key when the patient picks up, reads 1 as a confirmation once however often Twilio posts it', async () => {
    const { records, appointment, reminder, call } = await calledPatient('+15553330001', 'Rosa');
    const answered = await twilioCallback(service.app, fake, REMINDERS, call);
    expect(answered.statusCode).toBe(200);
    expect(answered.headers['content-type']).toMatch(/^text\/xml/);
    expect(answered.body).toBe(
      `${XML}<Response><Gather numDigits="1" timeout="6" action="${PUBLIC_URL}${REMINDERS}?step=1" method="POST" actionOnEmptyResult="true">` +
        '<Say language="en-US">Hello Rosa, this is a reminder of your appointment with Grace Hopper at Main Street Clinic on Wednesday, August 5, 2026 at 10:00 AM. Press 1 to confirm, or 2 to cancel.</Say>' +
        '</Gather></Response>',
    );

    const before = await inboundCount();
    const pressed = await gather(call, REMINDERS, 1, '1');
    expect(pressed.statusCode).toBe(200);
    expect(pressed.body).toBe(`${XML}<Response><Say language="en-US">Thank you, we have your answer.</Say><Hangup/></Response>`);
    // Twilio retries a webhook it got no answer to: the same answer, no second effect.
    expect((await gather(call, REMINDERS, 1, '1')).body).toBe(pressed.body);
    expect(await inboundCount()).toBe(before + 1);

    const [received] = await waitFor(() => (repliesOf(records.patient._id).length > 0 ? repliesOf(records.patient._id) : null), {
      timeoutMs: 30_000,
      message: 'reply.received',
    });
    expect(received!.data).toMatchObject({
      patient: records.patient._id,
      channel: 'voice',
      intent: 'confirm',
      classification: 'positive',
      appointment: appointment._id,
      reminder,
      offer: null,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(repliesOf(records.patient._id)).toHaveLength(1);
    const [reply] = await rows(
      "SELECT channel, text, classification, appointment, reminder FROM message WHERE type = 'inbound' AND patient = $1",
      [records.patient._id],
    );
    expect(reply).toEqual({ channel: 'voice', text: '1', classification: 'positive', appointment: appointment._id, reminder });
  });

  it('reads 2 as a cancellation, and refuses tampered or unsigned requests without recording anything', async () => {
    const { records, appointment, call } = await calledPatient('+15553330002', 'Sam');
    const before = await inboundCount();
    expect((await gather(call, REMINDERS, 1, '1', { tamper: { Digits: '2' } })).statusCode).toBe(403);
    expect(
      (await twilioCallback(service.app, fake, `${REMINDERS}?step=2`, { ...call, Digits: '2' }, { token: 'f'.repeat(32) })).statusCode,
    ).toBe(403);
    const unsigned = await service.app.inject({
      method: 'POST',
      url: `${REMINDERS}?step=1`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ ...call, Digits: '2' }).toString(),
    });
    expect(unsigned.statusCode).toBe(403);
    expect(unsigned.headers['content-type']).toMatch(/^application\/problem\+json/);
    // The step is part of the signed URL: a result signed for one ask does not pass for another.
    const signature = twilio.getExpectedTwilioSignature(fake.authToken, `${PUBLIC_URL}${REMINDERS}?step=1`, { ...call, Digits: '2' });
    const moved = await service.app.inject({
      method: 'POST',
      url: `${REMINDERS}?step=2`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      payload: new URLSearchParams({ ...call, Digits: '2' }).toString(),
    });
    expect(moved.statusCode).toBe(403);
    expect(await inboundCount()).toBe(before);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(repliesOf(records.patient._id)).toHaveLength(0);

    expect((await gather(call, REMINDERS, 1, '2')).body).toBe(
      `${XML}<Response><Say language="en-US">Thank you, we have your answer.</Say><Hangup/></Response>`,
    );
    const [received] = await waitFor(() => (repliesOf(records.patient._id).length > 0 ? repliesOf(records.patient._id) : null), {
      timeoutMs: 30_000,
      message: 'reply.received',
    });
    expect(received!.data).toMatchObject({ channel: 'voice', intent: 'cancel', classification: 'negative', appointment: appointment._id });
  });

  it('asks once more after a wrong key or silence, then hangs up, recording nothing', async () => {
    const { records, call } = await calledPatient('+15553330003', 'Lee');
    const before = await inboundCount();
    const wrong = await gather(call, REMINDERS, 1, '7');
    expect(wrong.body).toBe(
      `${XML}<Response><Say language="en-US">Sorry, we did not get that.</Say>` +
        `<Gather numDigits="1" timeout="6" action="${PUBLIC_URL}${REMINDERS}?step=2" method="POST" actionOnEmptyResult="true">` +
        '<Say language="en-US">Hello Lee, this is a reminder of your appointment with Grace Hopper at Main Street Clinic on Wednesday, August 5, 2026 at 10:00 AM. Press 1 to confirm, or 2 to cancel.</Say>' +
        '</Gather></Response>',
    );
    expect((await gather(call, REMINDERS, 2, '')).body).toBe(
      `${XML}<Response><Say language="en-US">We did not get an answer. Goodbye.</Say><Hangup/></Response>`,
    );
    expect(await inboundCount()).toBe(before);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(repliesOf(records.patient._id)).toHaveLength(0);

    // A call messaging did not place is hung up at once.
    const stranger = await twilioCallback(service.app, fake, REMINDERS, { ...call, CallSid: `CA${randomUUID().replace(/-/g, '')}` });
    expect(stranger.body).toBe(`${XML}<Response><Hangup/></Response>`);
  });

  it('says an offer in the patient’s language over a GET webhook and reads 1 as taking it', async () => {
    clock.set('2026-09-01T14:00:00Z');
    const org = organization();
    const records = await world(service.bus, org.id, { patient: { phone: '+15553330004', firstname: 'Lin', language: 'es' } });
    await waitFor(
      async () =>
        (
          await rows('SELECT 1 FROM patient_contact WHERE id = $1 UNION ALL SELECT 1 FROM facility WHERE id = $2', [
            records.patient._id,
            records.facility._id,
          ])
        ).length === 2,
      {
        timeoutMs: 30_000,
        message: 'read models kept',
      },
    );
    const offer = {
      _id: randomUUID(),
      provider: records.provider._id,
      facility: records.facility._id,
      appointmentType: randomUUID(),
      date: '2026-09-02T13:00:00.000Z',
      duration: 30,
      timeZone: records.facility.timeZone,
      expireAt: '2026-09-01T15:00:00.000Z',
      protocol: 'parallel' as const,
      source: 'cancellation' as const,
      status: 'in-progress' as const,
    };
    await publish(
      service.bus,
      offerCreatedV1,
      org.id,
      offer._id,
      { ...offer, offered: [{ patient: records.patient._id, waitlist: randomUUID() }] },
      '/services/scheduling',
    );
    const [text] = await waitFor(
      async () => {
        const found = await rows('SELECT id FROM reminder WHERE offer = $1', [offer._id]);
        return found.length === 1 ? found : null;
      },
      { timeoutMs: 30_000, message: 'offer planned' },
    );
    expect(
      (
        await service.app.inject({
          method: 'PUT',
          url: `/api/reminders/${text.id}`,
          headers: await as(org.staff),
          payload: { channel: 'voice' },
        })
      ).statusCode,
    ).toBe(200);
    await drain();
    const call = callTo('+15553330004');

    const query = `${OFFERS}?${new URLSearchParams(call).toString()}`;
    const signed = { 'x-twilio-signature': twilio.getExpectedTwilioSignature(fake.authToken, `${PUBLIC_URL}${query}`, {}) };
    const answered = await service.app.inject({ method: 'GET', url: query, headers: signed });
    expect(answered.statusCode).toBe(200);
    expect(answered.body).toBe(
      `${XML}<Response><Gather numDigits="1" timeout="6" action="${PUBLIC_URL}${OFFERS}?step=1" method="POST" actionOnEmptyResult="true">` +
        '<Say language="es-US">Hola Lin, hay una cita más temprana con Grace Hopper en Main Street Clinic el miércoles, 2 de septiembre de 2026 a las 9:00. Marque 1 para tomarla o 2 para dejarla.</Say>' +
        '</Gather></Response>',
    );
    expect((await service.app.inject({ method: 'GET', url: query.replace('in-progress', 'ringing'), headers: signed })).statusCode).toBe(
      403,
    );

    expect((await gather(call, OFFERS, 1, '1')).body).toBe(
      `${XML}<Response><Say language="es-US">Gracias, recibimos su respuesta.</Say><Hangup/></Response>`,
    );
    const [received] = await waitFor(() => (repliesOf(records.patient._id).length > 0 ? repliesOf(records.patient._id) : null), {
      timeoutMs: 30_000,
      message: 'reply.received',
    });
    expect(received!.data).toMatchObject({
      channel: 'voice',
      intent: 'accept-offer',
      classification: 'positive',
      offer: offer._id,
      appointment: null,
    });
  });
});
