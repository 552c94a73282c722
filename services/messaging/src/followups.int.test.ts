import { randomUUID } from 'node:crypto';
import { appointmentCompletedV1, appointmentNoShowV1, facilityCreatedV1, organizationCreatedV1, settingsChangedV1 } from '@pep/contracts';
import { kafkaBrokers, startTwilioFake, waitFor, type TwilioFake } from '@pep/testing';
import { DateTime } from 'luxon';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appointmentData,
  as,
  organization,
  publish,
  PUBLIC_URL,
  scheduling,
  startMessaging,
  testClock,
  twilioCallback,
  world,
  type MessagingUnderTest,
} from '../test/harness.js';

const CLINIC_NUMBER = '+15005550006';
const SMS = '/api/callback/sms/reminders';
const REVIEW_PAGE = 'https://reviews.example/harbour';
// Far from UTC: 09:00 in Tokyo is 00:00 UTC.
const TOKYO = 'Asia/Tokyo';

describe('messaging service: follow-ups after an appointment’s outcome', () => {
  let service: MessagingUnderTest;
  let fake: TwilioFake;
  let sql: pg.Client;
  const clock = testClock('2026-08-03T05:00:00Z');
  let phones = 0;

  beforeAll(async () => {
    fake = await startTwilioFake();
    service = await startMessaging('followups', await kafkaBrokers(), { twilio: fake, clock });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
    await fake?.close();
  });

  const rows = async (query: string, params: unknown[] = []) => (await sql.query(query, params)).rows;
  const drain = async () => {
    while ((await service.dispatcher.runOnce()) > 0);
  };
  const textsTo = (phone: string) =>
    fake.sent.filter((send) => send.kind === 'message' && send.params['To'] === phone).map((send) => String(send.params['Body']));
  const followupsOf = (appointment: string) =>
    rows(
      'SELECT id, type::text AS type, status::text AS status, status_reason, send_at, followup_rule, text FROM reminder WHERE appointment = $1 AND followup_rule IS NOT NULL ORDER BY send_at',
      [appointment],
    );
  const handled = (event: string) =>
    waitFor(async () => (await rows("SELECT 1 FROM inbox WHERE event_id = $1 AND consumer LIKE '%followups'", [event])).length === 1, {
      timeoutMs: 30_000,
      message: 'event handled by the follow-ups consumer',
    });
  const call = async (org: ReturnType<typeof organization>, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) =>
    service.app.inject({ method, url, headers: await as(org.admin), ...(payload !== undefined ? { payload: payload as object } : {}) });

  /** An organization with a patient, and a facility in Tokyo with a front-desk phone, all known to messaging. */
  const clinic = async () => {
    const org = organization();
    const phone = `+1555321${String(++phones).padStart(4, '0')}`;
    const records = await world(service.bus, org.id, { patient: { phone, firstname: 'Kenji' }, timeZone: TOKYO });
    const facility = { ...records.facility, name: 'Harbour Clinic', phone: '+81 3 5555 0100' };
    await publish(service.bus, facilityCreatedV1, org.id, facility._id, facility, '/services/scheduling');
    await waitFor(
      async () =>
        (await rows('SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).length === 1 &&
        (await rows("SELECT 1 FROM facility WHERE id = $1 AND phone IS NOT NULL AND name = 'Harbour Clinic'", [facility._id])).length ===
          1 &&
        (await rows('SELECT 1 FROM provider WHERE id = $1', [records.provider._id])).length === 1,
      { timeoutMs: 30_000, message: 'read models kept' },
    );
    return { org, phone, records };
  };
  const rule = async (org: ReturnType<typeof organization>, body: Record<string, unknown>) => {
    const created = await call(org, 'POST', '/api/followups', body);
    expect(created.statusCode, created.body).toBe(200);
    return created.json() as { _id: string };
  };
  /** Books an appointment (as scheduling announces it) and waits until messaging keeps it. */
  const booked = async (org: string, records: Awaited<ReturnType<typeof clinic>>['records'], date: string, overrides = {}) => {
    const appointment = appointmentData(records, date, overrides);
    await scheduling.book(service.bus, org, appointment);
    await waitFor(async () => (await rows('SELECT 1 FROM appointment WHERE id = $1', [appointment._id])).length === 1, {
      timeoutMs: 30_000,
      message: 'appointment kept',
    });
    return appointment;
  };
  const outcome = (org: string, appointment: ReturnType<typeof appointmentData>, kind: 'no-show' | 'completed', outcomeAt: string) =>
    publish(
      service.bus,
      kind === 'no-show' ? appointmentNoShowV1 : appointmentCompletedV1,
      org,
      appointment._id,
      { ...appointment, outcomeAt },
      '/services/scheduling',
    );

  it('texts a no-show “we missed you” once, the next morning at 09:00 in the facility’s zone, however often the event comes', async () => {
    clock.set('2026-08-03T05:00:00Z');
    const { org, phone, records } = await clinic();
    const missed = await rule(org, { name: 'We missed you', trigger: { event: 'no-show', delayDays: 1, sendAt: '09:00' }, action: 'text' });
    // 10:00 in Tokyo on 3 August; recorded as missed at 11:00 there.
    const appointment = await booked(org.id, records, '2026-08-03T01:00:00.000Z');
    const event = await outcome(org.id, appointment, 'no-show', '2026-08-03T02:00:00.000Z');
    // The same event redelivered, then the outcome recorded again (a new event): one follow-up all the same.
    await service.bus.publish([{ topic: appointmentNoShowV1.topic, key: appointment._id, value: JSON.stringify(event) }]);
    const again = await outcome(org.id, appointment, 'no-show', '2026-08-03T02:30:00.000Z');
    await handled(again.id);
    const planned = await followupsOf(appointment._id);
    expect(planned).toHaveLength(1);
    expect(planned[0]).toMatchObject({ type: 'followup', status: 'scheduled', followup_rule: missed._id });
    // 09:00 on 4 August in Tokyo.
    expect(planned[0].send_at).toEqual(new Date('2026-08-04T00:00:00Z'));

    clock.set('2026-08-03T23:59:00Z');
    await drain();
    expect(textsTo(phone)).toHaveLength(0);
    clock.set('2026-08-04T00:00:30Z');
    await drain();
    await drain();
    const texts = textsTo(phone);
    expect(texts).toHaveLength(1);
    expect(texts[0]).toContain('Hi Kenji, we missed you at Harbour Clinic');
    // No booking page set: the text gives the facility's phone to book by.
    expect(texts[0]).toContain('To book another time: +81 3 5555 0100');
    expect((await followupsOf(appointment._id))[0]).toMatchObject({ status: 'sent' });
  });

  it('gives the facility’s booking page (else the organization’s) as the rebooking link, and says the organization’s name', async () => {
    clock.set('2026-08-06T01:00:00Z');
    const { org, phone, records } = await clinic();
    const setting = (ref: 'organization' | 'facility', refId: string, settings: Record<string, unknown>, deleted = false) => {
      const id = randomUUID();
      return publish(
        service.bus,
        settingsChangedV1,
        org.id,
        id,
        { _id: id, organization: org.id, ref, refId, settings, unsubscribed: [], unsubscribedAll: false, deleted },
        '/services/auth',
      );
    };
    await setting('organization', org.id, { bookingLink: 'https://book.example/harbour-health' });
    await setting('facility', records.facility._id, { bookingLink: 'https://book.example/harbour-clinic' });
    await publish(
      service.bus,
      organizationCreatedV1,
      org.id,
      org.id,
      { _id: org.id, name: 'Harbour Health', active: true },
      '/services/auth',
    );
    await waitFor(
      async () =>
        (await rows('SELECT 1 FROM booking_link WHERE organization = $1 AND url IS NOT NULL', [org.id])).length === 2 &&
        (await rows('SELECT 1 FROM organization_profile WHERE organization = $1', [org.id])).length === 1,
      { timeoutMs: 30_000, message: 'booking links and name kept' },
    );
    const missed = await rule(org, { name: 'We missed you', trigger: { event: 'no-show' }, action: 'text' });
    // 09:00 in Tokyo, missed; the follow-up goes at once (10:00 there).
    const first = await booked(org.id, records, '2026-08-06T00:00:00.000Z');
    await handled((await outcome(org.id, first, 'no-show', '2026-08-06T00:30:00.000Z')).id);
    await drain();
    expect(textsTo(phone)).toEqual([
      'Hi Kenji, we missed you at Harbour Clinic on Thursday, August 6, 2026. To book another time: https://book.example/harbour-clinic',
    ]);

    // The facility's page removed: the organization's stands in. A clinic's own wording may name the organization.
    await setting('facility', records.facility._id, {}, true);
    await waitFor(async () => (await rows('SELECT url FROM booking_link WHERE ref = $1', [records.facility._id]))[0]?.url === null, {
      timeoutMs: 30_000,
      message: 'facility page removed',
    });
    const changed = await call(org, 'PUT', `/api/followups/${missed._id}`, {
      text: '{{organization.name}}: book again at {{booking.link}}',
    });
    expect(changed.statusCode, changed.body).toBe(200);
    clock.set('2026-08-06T02:00:00Z');
    const second = await booked(org.id, records, '2026-08-06T01:30:00.000Z');
    await handled((await outcome(org.id, second, 'no-show', '2026-08-06T01:45:00.000Z')).id);
    await drain();
    expect(textsTo(phone).at(-1)).toBe('Harbour Health: book again at https://book.example/harbour-health');
    expect(textsTo(phone)).toHaveLength(2);
  });

  it('plans only where the conditions admit the appointment (facility, provider, type)', async () => {
    clock.set('2026-08-05T05:00:00Z');
    const { org, records } = await clinic();
    const type = randomUUID();
    const admitted = await rule(org, {
      name: 'This facility, this type',
      trigger: { event: 'no-show', delayHours: 3 },
      conditions: { facilities: [records.facility._id], providers: [records.provider._id], types: [type] },
      action: 'text',
      text: 'Sorry we missed you, {{patient.firstname}}.',
    });
    const otherType = await rule(org, {
      name: 'Another type',
      trigger: { event: 'no-show', delayHours: 3 },
      conditions: { types: [randomUUID()] },
      action: 'text',
      text: 'Never sent',
    });
    const completedOnly = await rule(org, {
      name: 'After a visit',
      trigger: { event: 'completed' },
      action: 'text',
      text: 'Thanks for coming',
    });
    const appointment = await booked(org.id, records, '2026-08-05T01:00:00.000Z', { type });
    await handled((await outcome(org.id, appointment, 'no-show', '2026-08-05T02:00:00.000Z')).id);
    const planned = await followupsOf(appointment._id);
    expect(planned.map((row) => row.followup_rule)).toEqual([admitted._id]);
    expect(planned.map((row) => row.followup_rule)).not.toContain(otherType._id);
    expect(planned.map((row) => row.followup_rule)).not.toContain(completedOnly._id);
    // Three hours after it was recorded: 14:00 in Tokyo, inside the allowed hours.
    expect(planned[0].send_at).toEqual(new Date('2026-08-05T05:00:00Z'));
  });

  it('drops a “cancelled without rebooking” follow-up when the patient books again', async () => {
    clock.set('2026-08-06T01:00:00Z');
    const { org, phone, records } = await clinic();
    await rule(org, { name: 'Recall the cancelled', trigger: { event: 'cancelled', delayDays: 3, sendAt: '10:00' }, action: 'text' });
    const appointment = await booked(org.id, records, '2026-08-10T01:00:00.000Z');
    const cancelled = await scheduling.cancel(service.bus, org.id, appointment);
    await handled(cancelled.id);
    const [planned] = await followupsOf(appointment._id);
    // Three days after the cancellation (its event's time), at 10:00 in Tokyo.
    const expected = DateTime.fromISO(cancelled.time, { zone: TOKYO })
      .plus({ days: 3 })
      .set({ hour: 10, minute: 0, second: 0, millisecond: 0 });
    expect(planned).toMatchObject({ status: 'scheduled' });
    expect(planned.send_at).toEqual(expected.toJSDate());

    const rebooked = appointmentData(records, '2026-08-20T01:00:00.000Z');
    const created = await scheduling.book(service.bus, org.id, rebooked);
    await handled(created.id);
    expect((await followupsOf(appointment._id))[0]).toMatchObject({ status: 'skipped', status_reason: 'rebooked' });
    clock.set(planned.send_at.toISOString());
    await drain();
    expect(textsTo(phone)).toHaveLength(0);
  });

  it('checks again at sending: a booking that reached messaging only after the follow-up was planned drops it', async () => {
    clock.set('2026-08-07T01:00:00Z');
    const { org, phone, records } = await clinic();
    await rule(org, { name: 'Recall the cancelled', trigger: { event: 'cancelled', delayDays: 3, sendAt: '10:00' }, action: 'text' });
    const appointment = await booked(org.id, records, '2026-08-11T01:00:00.000Z');
    const cancelled = await scheduling.cancel(service.bus, org.id, appointment);
    await handled(cancelled.id);
    const [planned] = await followupsOf(appointment._id);
    expect(planned).toMatchObject({ status: 'scheduled' });
    // The new booking is known to the read model only (its own event's follow-up handling came first and found nothing).
    await rows(
      `INSERT INTO appointment (id, organization, patient, provider, facility, date, duration, status, time_zone, updated_at)
       VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, 30, 'unconfirmed', 'Asia/Tokyo', now())`,
      [org.id, records.patient._id, records.provider._id, records.facility._id, new Date(planned.send_at.getTime() + 14 * 86_400_000)],
    );
    clock.set(planned.send_at.toISOString());
    await drain();
    expect(textsTo(phone)).toHaveLength(0);
    expect((await followupsOf(appointment._id))[0]).toMatchObject({ status: 'skipped', status_reason: 'rebooked' });
  });

  it('closes the NPS loop: completed → survey → 9 earns the review link, 2 an apology and a staff follow-up', async () => {
    clock.set('2026-08-07T01:00:00Z');
    const first = await clinic();
    const { org } = first;
    const settingId = randomUUID();
    await publish(
      service.bus,
      settingsChangedV1,
      org.id,
      settingId,
      {
        _id: settingId,
        organization: org.id,
        ref: 'facility',
        refId: first.records.facility._id,
        settings: { reviewLink: REVIEW_PAGE },
        unsubscribed: [],
        unsubscribedAll: false,
        deleted: false,
      },
      '/services/auth',
    );
    await waitFor(async () => (await rows('SELECT 1 FROM review_link WHERE ref = $1', [first.records.facility._id])).length === 1, {
      timeoutMs: 30_000,
      message: 'review link kept',
    });
    const survey = await rule(org, {
      name: 'NPS after a visit',
      group: 'feedback',
      trigger: { event: 'completed', delayHours: 2 },
      action: 'feedback',
    });
    // A second patient of the same organization and facility.
    const secondPhone = `+1555321${String(++phones).padStart(4, '0')}`;
    const second = await world(service.bus, org.id, { patient: { phone: secondPhone, firstname: 'Aiko' }, timeZone: TOKYO });
    await waitFor(async () => (await rows('SELECT 1 FROM patient_contact WHERE id = $1', [second.patient._id])).length === 1, {
      timeoutMs: 30_000,
      message: 'second patient kept',
    });
    const visits = [
      { phone: first.phone, appointment: await booked(org.id, first.records, '2026-08-07T00:00:00.000Z') },
      {
        phone: secondPhone,
        appointment: await booked(org.id, { ...first.records, patient: second.patient }, '2026-08-07T00:30:00.000Z'),
      },
    ];
    for (const visit of visits) await handled((await outcome(org.id, visit.appointment, 'completed', '2026-08-07T01:00:00.000Z')).id);
    for (const visit of visits) {
      const [planned] = await followupsOf(visit.appointment._id);
      // The survey itself, held until two hours after the visit was recorded complete (12:00 in Tokyo).
      expect(planned).toMatchObject({ type: 'feedback', status: 'scheduled', followup_rule: survey._id });
      expect(planned.send_at).toEqual(new Date('2026-08-07T03:00:00Z'));
    }
    await drain();
    expect(textsTo(first.phone)).toHaveLength(0);
    clock.set('2026-08-07T03:00:00Z');
    await drain();
    for (const visit of visits) {
      expect(textsTo(visit.phone)).toHaveLength(1);
      expect(textsTo(visit.phone)[0]).toContain('how likely are you to recommend Harbour Clinic');
    }

    const reply = (from: string, body: string) =>
      twilioCallback(service.app, fake, SMS, {
        MessageSid: `SM${randomUUID().replace(/-/g, '')}`,
        AccountSid: fake.accountSid,
        From: from,
        To: CLINIC_NUMBER,
        Body: body,
      });
    expect((await reply(first.phone, '9')).statusCode).toBe(200);
    expect((await reply(secondPhone, '2')).statusCode).toBe(200);
    await drain();
    const promoter = (
      await rows('SELECT *, category::text AS category FROM feedback_response WHERE appointment = $1', [visits[0]!.appointment._id])
    )[0];
    expect(promoter).toMatchObject({ score: 9, category: 'promoter', review_link: REVIEW_PAGE });
    const answer = textsTo(first.phone).at(-1)!;
    expect(answer).toContain(`${PUBLIC_URL}/api/feedbackResponses/r/${promoter.review_token}`);
    const detractor = (
      await rows('SELECT *, category::text AS category FROM feedback_response WHERE appointment = $1', [visits[1]!.appointment._id])
    )[0];
    expect(detractor).toMatchObject({ score: 2, category: 'detractor', follow_up_required: true, review_token: null });
    expect(textsTo(secondPhone).at(-1)).toContain('We are sorry your visit to Harbour Clinic was not what you hoped for, Aiko');
    // Staff are told of the detractor (and of no one else).
    const notifications = (await call(org, 'GET', '/api/notifications')).json();
    expect(notifications).toMatchObject({ total: 1, response: [{ type: 'feedback.detractor', refId: detractor.id, cleared: false }] });
  });

  it('creates, lists, groups, changes and deletes rules; bad input answers 400 naming the field and changes nothing', async () => {
    const { org, records } = await clinic();
    const created = await rule(org, {
      name: 'Missed',
      group: 'recall',
      trigger: { event: 'no-show', delayDays: 1, sendAt: '09:00' },
      conditions: { facilities: [records.facility._id] },
      action: 'text',
    });
    expect(created).toMatchObject({
      group: 'recall',
      trigger: { event: 'no-show', delayDays: 1, delayHours: 0, sendAt: '09:00' },
      conditions: { facilities: [records.facility._id], providers: [], types: [] },
      action: 'text',
      active: true,
    });
    expect((created as unknown as { text: string }).text).toContain('{{booking.link}}');

    const bad = async (method: 'POST' | 'PUT', url: string, payload: unknown, field: string, status = 400) => {
      const refused = await call(org, method, url, payload);
      expect(refused.statusCode, refused.body).toBe(status);
      expect(refused.headers['content-type']).toContain('application/problem+json');
      expect((refused.json().errors as Array<{ field: string }>).map((error) => error.field)).toContain(field);
    };
    await bad('POST', '/api/followups', { name: 'x', trigger: { event: 'late' }, action: 'text' }, 'body.trigger.event');
    await bad('POST', '/api/followups', { name: 'x', trigger: { event: 'no-show', sendAt: '9am' }, action: 'text' }, 'body.trigger.sendAt');
    await bad('POST', '/api/followups', { name: 'x', trigger: { event: 'completed' }, action: 'text' }, 'body.text');
    await bad('POST', '/api/followups', { name: 'x', trigger: { event: 'completed' }, action: 'feedback', text: 'Hi' }, 'body.text');
    await bad(
      'POST',
      '/api/followups',
      { name: 'x', trigger: { event: 'no-show' }, action: 'text', text: 'Hi {{patient.ssn}}' },
      'body.text',
    );
    await bad(
      'POST',
      '/api/followups',
      { name: 'x', trigger: { event: 'no-show' }, conditions: { providers: [randomUUID()] }, action: 'text' },
      'body.conditions.providers.0',
    );
    await bad('PUT', `/api/followups/${created._id}`, { action: 'text', trigger: { event: 'completed' } }, 'body.text');
    // All or none: the valid first item is not created when the second is refused.
    await bad(
      'POST',
      '/api/followups/bulk',
      {
        followups: [
          { name: 'Fine', trigger: { event: 'no-show' }, action: 'text' },
          { name: 'Broken', trigger: { event: 'completed' }, action: 'text' },
        ],
      },
      'body.followups.1.text',
    );
    await bad(
      'POST',
      '/api/followups/bulk',
      { followups: [{ name: 'x', trigger: { event: 'never' }, action: 'text' }] },
      'body.followups.0.trigger.event',
    );
    expect((await rows('SELECT name FROM followup_rule WHERE organization = $1', [org.id])).map((row) => row.name)).toEqual(['Missed']);

    const bulk = await call(org, 'POST', '/api/followups/bulk', {
      followups: [
        {
          _id: created._id,
          name: 'Missed (changed)',
          group: 'recall',
          trigger: { event: 'no-show', delayDays: 2, sendAt: '10:00' },
          action: 'text',
        },
        { name: 'Survey', group: 'feedback', trigger: { event: 'completed', delayHours: 1 }, action: 'feedback' },
        { name: 'Recall', group: 'recall', trigger: { event: 'cancelled', delayDays: 7 }, action: 'text', active: false },
      ],
    });
    expect(bulk.statusCode, bulk.body).toBe(200);
    const answered = bulk.json().response as Array<{ _id: string; name: string; trigger: { delayDays: number } }>;
    expect(answered.map((item) => item.name)).toEqual(['Missed (changed)', 'Survey', 'Recall']);
    expect(answered[0]).toMatchObject({ _id: created._id, trigger: { delayDays: 2 } });

    const groups = await call(org, 'GET', '/api/followups/groups');
    expect(groups.json().response).toEqual([
      { name: 'feedback', rules: 1, active: 1 },
      { name: 'recall', rules: 2, active: 1 },
    ]);
    const list = await call(org, 'GET', '/api/followups?group=recall');
    expect(list.json()).toMatchObject({ total: 2 });
    expect((await call(org, 'GET', '/api/followups?trigger=completed')).json().response.map((item: { name: string }) => item.name)).toEqual(
      ['Survey'],
    );

    const changed = await call(org, 'PUT', `/api/followups/${created._id}`, { active: false, name: 'Paused' });
    expect(changed.json()).toMatchObject({ name: 'Paused', active: false, trigger: { delayDays: 2, sendAt: '10:00' } });
    expect((await call(org, 'GET', `/api/followups/${created._id}`)).json()).toMatchObject({ name: 'Paused' });
    const removed = await call(org, 'DELETE', `/api/followups/${created._id}`);
    expect(removed.json()).toMatchObject({ deleted: 1 });
    expect((await call(org, 'GET', `/api/followups/${created._id}`)).statusCode).toBe(404);
    expect((await call(org, 'GET', '/api/followups/groups')).json().response).toEqual([
      { name: 'feedback', rules: 1, active: 1 },
      { name: 'recall', rules: 1, active: 0 },
    ]);
  });
});
