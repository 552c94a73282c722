import { randomUUID } from 'node:crypto';
import {
  facilityCreatedV1,
  referralCreatedV1,
  referralDeletedV1,
  referralStatusChangedV1,
  referralUpdatedV1,
  type ReferralStatus,
} from '@pep/contracts';
import { kafkaBrokers, startTwilioFake, waitFor, type TwilioFake } from '@pep/testing';
import pg from 'pg';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  as,
  observe,
  organization,
  publish,
  PUBLIC_URL,
  publishSettings,
  startMessaging,
  testClock,
  twilioCallback,
  world,
  type MessagingUnderTest,
} from '../test/harness.js';

const CLINIC_NUMBER = '+15005550006';
const EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>';
const SMS = '/api/callback/sms/referrals';
const VOICE = '/api/callback/voice/referrals';

describe('messaging service: referral outreach', () => {
  let service: MessagingUnderTest;
  let fake: TwilioFake;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  const clock = testClock('2026-08-01T14:00:00Z');

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    fake = await startTwilioFake();
    service = await startMessaging('referral-outreach', brokers, { twilio: fake, clock });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    events = await observe(service, brokers, ['messaging.referral-outreach', 'messaging.message', 'messaging.reply']);
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await service?.close();
    await fake?.close();
  });

  const rows = async (query: string, params: unknown[] = []) => (await sql.query(query, params)).rows;
  const drain = async () => {
    while ((await service.dispatcher.runOnce()) > 0);
  };
  const textsTo = (phone: string) => fake.sent.filter((send) => send.kind === 'message' && send.params['To'] === phone);
  const eventsOf = (type: string, subject: string) => events.seen.filter((event) => event.type === type && event.subject === subject);
  const waitEvents = (type: string, subject: string, count = 1) =>
    waitFor(() => (eventsOf(type, subject).length >= count ? eventsOf(type, subject) : null), {
      timeoutMs: 30_000,
      message: `${count} ${type} of ${subject}`,
    });

  /** An organization with a patient and a facility (with a front-desk phone) in `timeZone`, kept by messaging. */
  const clinic = async (phone: string, options: { timeZone?: string; doNotContact?: boolean } = {}) => {
    const org = organization();
    await publishSettings(service.bus, org.id, { referralOutreachDays: [0, 2, 5, 10] });
    const records = await world(service.bus, org.id, {
      patient: { phone, firstname: 'Rosa', doNotContact: options.doNotContact ?? false },
    });
    const facility = {
      ...records.facility,
      _id: randomUUID(),
      name: 'Harbour Physio',
      phone: '+6495550100',
      timeZone: options.timeZone ?? 'America/New_York',
    };
    await publish(service.bus, facilityCreatedV1, org.id, facility._id, facility, '/services/scheduling');
    await waitFor(
      async () =>
        (await rows('SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).length === 1 &&
        (await rows('SELECT 1 FROM facility WHERE id = $1', [facility._id])).length === 1 &&
        (await rows('SELECT 1 FROM organization_setting WHERE organization = $1', [org.id])).length === 1,
      { timeoutMs: 30_000, message: 'read models kept' },
    );
    return { org, patient: records.patient, facility };
  };

  /** A referral snapshot as patients publishes it. */
  const referralOf = (world: Awaited<ReturnType<typeof clinic>>, status: ReferralStatus, startOn: string) => ({
    _id: randomUUID(),
    patient: world.patient._id,
    facility: world.facility._id,
    provider: null,
    appointmentType: null,
    referringProvider: null,
    status,
    source: 'ui' as const,
    startOn,
    expireAt: null as string | null,
    attempt: 0,
  });
  type Referral = ReturnType<typeof referralOf>;
  const create = (orgId: string, referral: Referral) =>
    publish(service.bus, referralCreatedV1, orgId, referral._id, referral, '/services/patients');
  const move = (orgId: string, referral: Referral, status: ReferralStatus, changes: Partial<Referral> = {}) => {
    const data = {
      ...referral,
      ...changes,
      status,
      previousStatus: referral.status,
      statusReason: null,
      scheduledByAppointment: null,
      scheduledByOffer: null,
    };
    Object.assign(referral, changes, { status });
    return publish(service.bus, referralStatusChangedV1, orgId, referral._id, data, '/services/patients');
  };
  /** The referral's attempts as [sendAt, attempt, status, reason], by attempt; waits for `count` of them with `settled` true. */
  const attemptsOf = (referral: string, count: number, settled: (row: Record<string, unknown>[]) => boolean = () => true) =>
    waitFor(
      async () => {
        const found = await rows(
          `SELECT send_at, referral_attempt, status::text AS status, status_reason FROM reminder WHERE referral = $1 ORDER BY created_at, referral_attempt`,
          [referral],
        );
        return found.length === count && settled(found)
          ? found.map((row) => [(row.send_at as Date).toISOString(), row.referral_attempt, row.status, row.status_reason])
          : null;
      },
      { timeoutMs: 30_000, message: `${count} attempts of referral ${referral}` },
    );
  const reply = (from: string, body: string, sid = `SM${randomUUID().replace(/-/g, '')}`) =>
    twilioCallback(service.app, fake, SMS, { MessageSid: sid, AccountSid: fake.accountSid, From: from, To: CLINIC_NUMBER, Body: body });

  it('plans each outreach day at the clinic’s local time out of quiet hours, and sends the next attempt on schedule after no answer', async () => {
    clock.set('2026-08-01T14:00:00Z');
    // 02:00 on 2 August in Auckland (NZST, UTC+12): day 0 waits for 08:00 there, and so does every later day.
    const world = await clinic('+15557770001', { timeZone: 'Pacific/Auckland' });
    const referral = referralOf(world, 'active', '2026-08-01T14:00:00.000Z');
    await create(world.org.id, referral);
    expect(await attemptsOf(referral._id, 4)).toEqual([
      ['2026-08-01T20:00:00.000Z', 1, 'scheduled', null],
      ['2026-08-03T20:00:00.000Z', 2, 'scheduled', null],
      ['2026-08-06T20:00:00.000Z', 3, 'scheduled', null],
      ['2026-08-11T20:00:00.000Z', 4, 'scheduled', null],
    ]);

    await drain();
    expect(textsTo('+15557770001')).toHaveLength(0);

    clock.set('2026-08-01T20:00:00Z');
    await drain();
    const [first] = textsTo('+15557770001');
    expect(first?.params['Body']).toBe(
      'Hi Rosa, you were referred to Harbour Physio. Please schedule your appointment: reply YES to be called to schedule, or call +6495550100.',
    );
    const [sent] = await waitEvents('referral.outreach-sent', referral._id);
    expect(sent!.data).toMatchObject({ referral: referral._id, patient: world.patient._id, attempt: 1, channel: 'sms' });
    const message = (sent!.data as { message: string }).message;
    const [messageSent] = await waitEvents('message.sent', message);
    expect(messageSent!.data).toMatchObject({ key: 'referral-outreach', channel: 'sms', segments: 1 });
    // One unit of work recorded both.
    expect(messageSent!.correlationid).toBe(sent!.correlationid);

    // No answer: nothing more until day 2, 08:00 in Auckland.
    clock.set('2026-08-03T19:59:00Z');
    await drain();
    expect(textsTo('+15557770001')).toHaveLength(1);
    clock.set('2026-08-03T20:00:00Z');
    await drain();
    expect(textsTo('+15557770001')).toHaveLength(2);
    const second = await waitEvents('referral.outreach-sent', referral._id, 2);
    expect(second.map((event) => (event.data as { attempt: number }).attempt)).toEqual([1, 2]);

    // Called (the patient phoned in): what is left is void. Back to active, the rest is planned again, numbered on.
    await move(world.org.id, referral, 'called', { attempt: 2 });
    expect(await attemptsOf(referral._id, 4, (found) => found.at(-1)!.status === 'skipped')).toEqual([
      ['2026-08-01T20:00:00.000Z', 1, 'sent', null],
      ['2026-08-03T20:00:00.000Z', 2, 'sent', null],
      ['2026-08-06T20:00:00.000Z', 3, 'skipped', 'referral-called'],
      ['2026-08-11T20:00:00.000Z', 4, 'skipped', 'referral-called'],
    ]);
    clock.set('2026-08-04T12:00:00Z');
    await move(world.org.id, referral, 'active');
    expect((await attemptsOf(referral._id, 6)).slice(4)).toEqual([
      ['2026-08-06T20:00:00.000Z', 3, 'scheduled', null],
      ['2026-08-11T20:00:00.000Z', 4, 'scheduled', null],
    ]);

    // Deleted: nothing more goes.
    await publish(
      service.bus,
      referralDeletedV1,
      world.org.id,
      referral._id,
      { _id: referral._id, patient: world.patient._id },
      '/services/patients',
    );
    expect((await attemptsOf(referral._id, 6, (found) => found.at(-1)!.status === 'skipped')).slice(4)).toEqual([
      ['2026-08-06T20:00:00.000Z', 3, 'skipped', 'referral-deleted'],
      ['2026-08-11T20:00:00.000Z', 4, 'skipped', 'referral-deleted'],
    ]);
    clock.set('2026-08-12T20:00:00Z');
    await drain();
    expect(textsTo('+15557770001')).toHaveLength(2);
  });

  it('sends one attempt now for the days already past, never a burst, and plans the rest', async () => {
    clock.set('2026-08-01T14:00:00Z');
    const world = await clinic('+15557770002');
    // Started six days ago: days 0, 2 and 5 are past; one attempt goes now (10:00 in New York), day 10 on 5 August.
    const referral = referralOf(world, 'active', '2026-07-26T14:00:00.000Z');
    await create(world.org.id, referral);
    expect(await attemptsOf(referral._id, 2)).toEqual([
      ['2026-08-01T14:00:00.000Z', 1, 'scheduled', null],
      ['2026-08-05T14:00:00.000Z', 2, 'scheduled', null],
    ]);
    await drain();
    expect(textsTo('+15557770002')).toHaveLength(1);

    // Staff move the start to 3 August: what is ahead is planned again from it, numbered on after the one that went,
    // and never more attempts in all than outreach days.
    Object.assign(referral, { startOn: '2026-08-03T14:00:00.000Z', attempt: 1 });
    await publish(service.bus, referralUpdatedV1, world.org.id, referral._id, { ...referral, changed: ['startOn'] }, '/services/patients');
    expect(await attemptsOf(referral._id, 5)).toEqual([
      ['2026-08-01T14:00:00.000Z', 1, 'sent', null],
      ['2026-08-05T14:00:00.000Z', 2, 'skipped', 'referral-changed'],
      ['2026-08-03T14:00:00.000Z', 2, 'scheduled', null],
      ['2026-08-05T14:00:00.000Z', 3, 'scheduled', null],
      ['2026-08-08T14:00:00.000Z', 4, 'scheduled', null],
    ]);
  });

  it('sends no attempt once the referral is past its expireAt, even before patients says it expired', async () => {
    clock.set('2026-08-01T14:00:00Z');
    const world = await clinic('+15557770009');
    const referral = { ...referralOf(world, 'active', '2026-08-01T14:00:00.000Z'), expireAt: '2026-08-02T14:00:00.000Z' };
    await create(world.org.id, referral);
    await attemptsOf(referral._id, 4);
    await drain();
    expect(textsTo('+15557770009')).toHaveLength(1);
    // Day 2 comes after the deadline: the attempt is skipped, not sent.
    clock.set('2026-08-03T14:00:00Z');
    await drain();
    expect((await attemptsOf(referral._id, 4, (found) => found[1]!.status === 'skipped'))[1]!.slice(2)).toEqual([
      'skipped',
      'referral-expired',
    ]);
    expect(textsTo('+15557770009')).toHaveLength(1);
  });

  it('plans nothing while pending, and outreach starts when the referral is approved', async () => {
    clock.set('2026-08-01T14:00:00Z');
    const world = await clinic('+15557770003');
    const referral = referralOf(world, 'pending', '2026-08-01T14:00:00.000Z');
    await create(world.org.id, referral);
    await waitFor(async () => (await rows('SELECT 1 FROM referral WHERE id = $1', [referral._id])).length === 1, {
      message: 'referral kept',
    });
    expect(await rows('SELECT 1 FROM reminder WHERE referral = $1', [referral._id])).toEqual([]);
    await move(world.org.id, referral, 'active');
    expect((await attemptsOf(referral._id, 4)).map((row) => row[1])).toEqual([1, 2, 3, 4]);
    // Rejected before anything went: void, and nothing is texted.
    await move(world.org.id, referral, 'closed');
    expect((await attemptsOf(referral._id, 4, (found) => found.every((row) => row.status === 'skipped'))).map((row) => row[3])).toEqual([
      'referral-closed',
      'referral-closed',
      'referral-closed',
      'referral-closed',
    ]);
    await drain();
    expect(textsTo('+15557770003')).toHaveLength(0);
  });

  it('texts no patient who must not be contacted: the attempts are held with the reason', async () => {
    clock.set('2026-08-01T14:00:00Z');
    const world = await clinic('+15557770004', { doNotContact: true });
    const referral = referralOf(world, 'active', '2026-08-01T14:00:00.000Z');
    await create(world.org.id, referral);
    expect((await attemptsOf(referral._id, 4)).map((row) => [row[2], row[3]])).toEqual(
      Array.from({ length: 4 }, () => ['blocked', 'do-not-contact']),
    );
    clock.set('2026-08-12T14:00:00Z');
    await drain();
    expect(textsTo('+15557770004')).toHaveLength(0);
    expect(eventsOf('referral.outreach-sent', referral._id)).toEqual([]);
  });

  it('reads YES to outreach as a request to be called, once however often the webhook comes; a bad signature changes nothing', async () => {
    clock.set('2026-08-01T14:00:00Z');
    const phone = '+15557770005';
    const world = await clinic(phone);
    const referral = referralOf(world, 'active', '2026-08-01T14:00:00.000Z');
    await create(world.org.id, referral);
    await attemptsOf(referral._id, 4);
    await drain();
    expect(textsTo(phone)).toHaveLength(1);

    const inbound = async () =>
      (await rows("SELECT count(*)::int AS n FROM message WHERE type = 'inbound' AND patient = $1", [world.patient._id]))[0].n;
    const sid = `SM${randomUUID().replace(/-/g, '')}`;
    const forged = await twilioCallback(
      service.app,
      fake,
      SMS,
      { MessageSid: sid, AccountSid: fake.accountSid, From: phone, To: CLINIC_NUMBER, Body: 'YES' },
      { token: 'not-the-token' },
    );
    expect(forged.statusCode).toBe(403);
    expect(forged.headers['content-type']).toMatch(/problem\+json/);
    expect(await inbound()).toBe(0);

    const first = await reply(phone, 'YES', sid);
    expect(first.statusCode).toBe(200);
    expect(first.body).toContain('Thank you, Rosa. The clinic will call you to schedule your appointment.');
    const again = await reply(phone, 'YES', sid);
    expect(again.body).toBe(EMPTY);
    const [answered] = await waitEvents('referral.answered', referral._id);
    expect(answered!.data).toMatchObject({ referral: referral._id, patient: world.patient._id, answer: 'schedule', channel: 'sms' });
    // The reply answers the outreach, not some appointment: scheduling's reply.received names none.
    const [received] = await waitFor(
      () => {
        const found = events.seen.filter((event) => event.type === 'reply.received' && event.subject === world.patient._id);
        return found.length ? found : null;
      },
      { message: 'reply.received' },
    );
    expect(received!.data).toMatchObject({ appointment: null, offer: null, intent: 'confirm' });
    expect(await inbound()).toBe(1);
    // Let any late second event arrive before counting.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(eventsOf('referral.answered', referral._id)).toHaveLength(1);

    // GET (fields in the query, as the v1 API lists it) is signed over the whole URL; CALL asks the same.
    const query = new URLSearchParams({ MessageSid: `SM${randomUUID().replace(/-/g, '')}`, From: phone, To: CLINIC_NUMBER, Body: 'Call' });
    const url = `${SMS}?${query.toString()}`;
    const signature = twilio.getExpectedTwilioSignature(fake.authToken, `${PUBLIC_URL}${url}`, {});
    const byGet = await service.app.inject({ method: 'GET', url, headers: { 'x-twilio-signature': signature } });
    expect(byGet.statusCode).toBe(200);
    const both = await waitEvents('referral.answered', referral._id, 2);
    expect(both[1]!.data).toMatchObject({ answer: 'schedule', channel: 'sms' });
    const unsigned = await service.app.inject({ method: 'GET', url });
    expect(unsigned.statusCode).toBe(403);
    expect(await inbound()).toBe(2);

    // STOP works as everywhere: the patient is opted out, and the attempts ahead are held.
    const stop = await reply(phone, 'STOP');
    expect(stop.body).toContain('You will receive no more messages from us.');
    expect((await attemptsOf(referral._id, 4, (found) => found.at(-1)!.status === 'blocked')).slice(1).map((row) => row[2])).toEqual([
      'blocked',
      'blocked',
      'blocked',
    ]);
  });

  it('calls when staff move an attempt to voice: 1 asks to be called back, once however often Twilio posts it', async () => {
    clock.set('2026-08-01T14:00:00Z');
    const phone = '+15557770006';
    const world = await clinic(phone);
    const referral = referralOf(world, 'active', '2026-08-01T14:00:00.000Z');
    await create(world.org.id, referral);
    await attemptsOf(referral._id, 4);
    const [attempt] = await rows('SELECT id FROM reminder WHERE referral = $1 AND referral_attempt = 1', [referral._id]);
    const moved = await service.app.inject({
      method: 'PUT',
      url: `/api/reminders/${attempt.id}`,
      headers: await as(world.org.staff),
      payload: { channel: 'voice' },
    });
    expect(moved.statusCode, moved.body).toBe(200);
    await drain();
    const call = fake.sent.filter((send) => send.kind === 'call' && send.params['To'] === phone).at(-1);
    expect(call?.params['Url']).toBe(`${PUBLIC_URL}${VOICE}`);
    const [sent] = await waitEvents('referral.outreach-sent', referral._id);
    expect(sent!.data).toMatchObject({ attempt: 1, channel: 'voice' });

    const fields = { CallSid: call!.sid, AccountSid: fake.accountSid, From: fake.from, To: phone, CallStatus: 'in-progress' };
    const picked = await twilioCallback(service.app, fake, VOICE, fields);
    expect(picked.statusCode).toBe(200);
    expect(picked.body).toContain('Press 1 to be called back to schedule your appointment.');
    expect(picked.body).toContain(`${PUBLIC_URL}${VOICE}?step=1`);

    const forged = await twilioCallback(service.app, fake, `${VOICE}?step=1`, { ...fields, Digits: '1' }, { token: 'wrong' });
    expect(forged.statusCode).toBe(403);
    const pressed = await twilioCallback(service.app, fake, `${VOICE}?step=1`, { ...fields, Digits: '1' });
    expect(pressed.body).toContain('The clinic will call you to schedule your appointment.');
    expect(pressed.body).toContain('<Hangup/>');
    const repeated = await twilioCallback(service.app, fake, `${VOICE}?step=1`, { ...fields, Digits: '1' });
    expect(repeated.body).toContain('The clinic will call you to schedule your appointment.');
    const [answered] = await waitEvents('referral.answered', referral._id);
    expect(answered!.data).toMatchObject({ answer: 'schedule', channel: 'voice', patient: world.patient._id });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(eventsOf('referral.answered', referral._id)).toHaveLength(1);

    // A call messaging did not place is hung up.
    const stranger = await twilioCallback(service.app, fake, VOICE, { ...fields, CallSid: `CA${randomUUID().replace(/-/g, '')}` });
    expect(stranger.body).toContain('<Hangup/>');
  });
});
