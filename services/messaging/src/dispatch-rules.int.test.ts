import { randomUUID } from 'node:crypto';
import { appointmentConfirmedV1, patientCreatedV1 } from '@pep/contracts';
import { kafkaBrokers, startTwilioFake, waitFor, type TwilioFake } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appointmentData,
  as,
  organization,
  patientData,
  publish,
  scheduling,
  startMessaging,
  testClock,
  twilioCallback,
  world,
  type MessagingUnderTest,
} from '../test/harness.js';

const CLINIC_NUMBER = '+15005550006';

describe('messaging service: what the dispatcher sends when (STOP races, late reminders, spacing, wake-up)', () => {
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
    for (const service of started.reverse()) await service.close();
    await fake?.close();
  });

  const start = async (...args: Parameters<typeof startMessaging>) => {
    const service = await startMessaging(...args);
    started.push(service);
    return service;
  };
  const rows = async (service: MessagingUnderTest, query: string, params: unknown[] = []) => (await sql(service).query(query, params)).rows;
  const plan = async (service: MessagingUnderTest, headers: Record<string, string>, patient: string, sendAt: string, text: string) => {
    const response = await service.app.inject({ method: 'POST', url: '/api/reminders', headers, payload: { patient, sendAt, text } });
    expect(response.statusCode, response.body).toBe(200);
    return response.json()._id as string;
  };
  const reply = (service: MessagingUnderTest, from: string, body: string) =>
    twilioCallback(service.app, fake, '/api/callback/sms/reminders', {
      MessageSid: `SM${randomUUID().replace(/-/g, '')}`,
      AccountSid: fake.accountSid,
      From: from,
      To: CLINIC_NUMBER,
      Body: body,
      NumMedia: '0',
    });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('never starts a vendor call to a patient after their STOP was acknowledged, over many rounds of STOP racing due reminders', async () => {
    const clock = testClock('2026-09-01T14:00:00Z');
    const service = await start('dispatch-stop-race', brokers, { twilio: fake, clock });
    const org = organization();
    const headers = await as(org.staff);
    const rounds = 12;
    const perRound = 5;
    const patients = Array.from({ length: rounds * perRound }, (_, index) => ({
      ...patientData(),
      phone: `+1555888${String(index).padStart(4, '0')}`,
    }));
    for (const patient of patients) await publish(service.bus, patientCreatedV1, org.id, patient._id, patient, '/services/patients');
    await waitFor(
      async () =>
        (await rows(service, 'SELECT count(*)::int AS n FROM patient_contact WHERE organization = $1', [org.id]))[0].n === patients.length,
      { timeoutMs: 60_000, message: 'contacts kept' },
    );

    const acknowledged = new Map<string, number>();
    for (let round = 0; round < rounds; round++) {
      const mine = patients.slice(round * perRound, (round + 1) * perRound);
      for (const patient of mine) await plan(service, headers, patient._id, '2026-09-01T13:00:00Z', `race ${patient.phone}`);
      // The dispatcher's round and the STOPs start together, the STOPs at different offsets into the round.
      await Promise.all([
        service.dispatcher.runOnce(),
        ...mine.map(async (patient, index) => {
          await sleep((index * 7 + round * 3) % 25);
          const answer = await reply(service, patient.phone, 'STOP');
          expect(answer.statusCode, answer.body).toBe(200);
          // The webhook answers after the STOP's transaction committed: from here on, nothing may start.
          acknowledged.set(patient.phone, Date.now());
        }),
      ]);
    }

    for (const patient of patients) {
      const stoppedAt = acknowledged.get(patient.phone)!;
      const sends = fake.sent.filter((send) => send.params['To'] === patient.phone);
      expect(sends.length, patient.phone).toBeLessThanOrEqual(1);
      for (const send of sends)
        expect(send.at, `a text reached ${patient.phone} ${send.at - stoppedAt} ms after its STOP was acknowledged`).toBeLessThanOrEqual(
          stoppedAt,
        );
      const [reminder] = await rows(service, 'SELECT status, status_reason FROM reminder WHERE patient = $1', [patient._id]);
      // Sent before the STOP, or held back by it: never sent after it, never left hanging.
      expect(sends.length === 1 ? 'sent' : 'blocked', patient.phone).toBe(reminder.status);
    }
  });

  it('collapses reminders of one appointment that fell due together into the latest, and skips a late one whose appointment is near', async () => {
    const clock = testClock('2026-06-01T14:00:00Z');
    const service = await start('dispatch-stale', brokers, { twilio: fake, clock });
    const org = organization();
    const records = await world(service.bus, org.id, { patient: { phone: '+15558870001' } });
    await waitFor(
      async () =>
        (await rows(service, 'SELECT 1 FROM facility WHERE id = $1', [records.facility._id])).length === 1 &&
        (await rows(service, 'SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).length === 1,
      { timeoutMs: 30_000, message: 'read models kept' },
    );
    // 168, 96 and 48 hours before each (the default offsets), 10:00 or 12:30 in New York.
    const onTime = appointmentData(records, '2026-06-09T14:00:00.000Z');
    const near = appointmentData(records, '2026-06-07T16:30:00.000Z');
    const far = appointmentData(records, '2026-06-12T14:00:00.000Z');
    for (const appointment of [onTime, near, far]) await scheduling.book(service.bus, org.id, appointment);
    await waitFor(async () => (await rows(service, 'SELECT 1 FROM reminder WHERE organization = $1', [org.id])).length === 9, {
      timeoutMs: 30_000,
      message: 'reminders planned',
    });

    // The service was down from 1 June until 7 June, 11:00 in New York.
    clock.set('2026-06-07T15:00:00Z');
    while ((await service.dispatcher.runOnce()) > 0);
    const status = async (appointment: { _id: string }) =>
      Object.fromEntries(
        (await rows(service, 'SELECT offset_hours, status, status_reason FROM reminder WHERE appointment = $1', [appointment._id])).map(
          (row) => [row.offset_hours, `${row.status}${row.status_reason ? `:${row.status_reason}` : ''}`],
        ),
      );
    expect(await status(onTime)).toEqual({ 168: 'skipped:superseded', 96: 'skipped:superseded', 48: 'sent' });
    // 46.5 hours late, with the appointment 90 minutes away.
    expect(await status(near)).toEqual({ 168: 'skipped:send-time-passed', 96: 'skipped:superseded', 48: 'skipped:stale' });
    // Two days late, but the appointment is five days away: still worth sending.
    expect(await status(far)).toEqual({ 168: 'sent', 96: 'scheduled', 48: 'scheduled' });
    const view = (
      await service.app.inject({ url: `/api/reminders/findByPatientId/${records.patient._id}`, headers: await as(org.staff) })
    ).json();
    expect(JSON.stringify(view)).toContain('"statusReason":"stale"');
    expect(fake.sent.filter((send) => send.params['To'] === '+15558870001')).toHaveLength(2);
  });

  it('keeps two texts to one patient 30 s apart, but never holds back an answer to the patient', async () => {
    const clock = testClock('2026-06-15T14:00:00Z');
    const service = await start('dispatch-spacing', brokers, { twilio: fake, clock, dispatcher: { spacingMs: 30_000 } });
    const org = organization();
    const headers = await as(org.staff);
    const records = await world(service.bus, org.id, { patient: { phone: '+15558870002' } });
    await waitFor(async () => (await rows(service, 'SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).length === 1, {
      timeoutMs: 30_000,
      message: 'contact kept',
    });
    const first = await plan(service, headers, records.patient._id, '2026-06-15T13:00:00Z', 'spaced one');
    const second = await plan(service, headers, records.patient._id, '2026-06-15T13:00:01Z', 'spaced two');
    // An answer to the patient's own message, as the planner writes one after a confirmation.
    await sql(service).query(
      `INSERT INTO reminder (id, organization, patient, type, send_at, forced_time, message_template, text, created_by, updated_by, updated_at)
       VALUES ($1, $2, $3, 'appointment', $4, true, 'confirmation-ack', 'spaced answer', 'system', 'system', now())`,
      [randomUUID(), org.id, records.patient._id, '2026-06-15T14:00:00Z'],
    );
    expect(await service.dispatcher.runOnce()).toBe(3);
    // Sent concurrently, so in either order.
    const bodies = () =>
      fake.sent
        .filter((send) => send.params['To'] === '+15558870002')
        .map((send) => send.params['Body'])
        .sort();
    expect(bodies()).toEqual(['spaced answer', 'spaced one']);
    const held = (await service.app.inject({ url: `/api/reminders/${second}`, headers })).json();
    expect(held).toMatchObject({ status: 'scheduled', statusReason: 'spacing' });
    clock.set('2026-06-15T14:00:29Z');
    expect(await service.dispatcher.runOnce()).toBe(0);
    clock.set('2026-06-15T14:00:30Z');
    expect(await service.dispatcher.runOnce()).toBe(1);
    expect(bodies()).toEqual(['spaced answer', 'spaced one', 'spaced two']);
    expect((await service.app.inject({ url: `/api/reminders/${first}`, headers })).json()).toMatchObject({ status: 'sent' });
    expect((await service.app.inject({ url: `/api/reminders/${second}`, headers })).json()).toMatchObject({
      status: 'sent',
      statusReason: null,
    });
  });

  it('sends what was just planned due now (a reminder, an acknowledgement) at once, not at the next poll', async () => {
    const clock = testClock('2026-08-01T14:00:00Z');
    // Polling every ten minutes: only being woken explains a send within the test's time.
    const service = await start('dispatch-wake', brokers, { twilio: fake, clock, dispatchIntervalMs: 600_000 });
    const org = organization();
    const records = await world(service.bus, org.id, { patient: { phone: '+15558870003', firstname: 'Rosa' } });
    await waitFor(
      async () =>
        (await rows(service, 'SELECT 1 FROM facility WHERE id = $1', [records.facility._id])).length === 1 &&
        (await rows(service, 'SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).length === 1,
      { timeoutMs: 30_000, message: 'read models kept' },
    );
    await sleep(300);
    // 96 hours before 5 August, 10:00 in New York, is now.
    const appointment = appointmentData(records, '2026-08-05T14:00:00.000Z');
    await scheduling.book(service.bus, org.id, appointment);
    const bodies = () => fake.sent.filter((send) => send.params['To'] === '+15558870003').map((send) => send.params['Body']);
    await waitFor(() => bodies().length === 1, { timeoutMs: 30_000, message: 'the reminder due now sent without a poll' });
    expect(bodies()[0]).toContain('Reply YES to confirm or NO to cancel');

    expect((await reply(service, '+15558870003', 'C')).statusCode).toBe(200);
    await publish(
      service.bus,
      appointmentConfirmedV1,
      org.id,
      appointment._id,
      { ...appointment, status: 'confirmed' },
      '/services/scheduling',
    );
    await waitFor(() => bodies().length === 2, { timeoutMs: 30_000, message: 'the acknowledgement sent without a poll' });
    expect(bodies()[1]).toBe('Thank you Rosa, your appointment on Wednesday, August 5, 2026 at 10:00 AM is confirmed.');
  });

  it('sends a reminder staff plan by hand due now, or move to now, at once, not at the next poll', async () => {
    const clock = testClock('2026-08-03T14:00:00Z');
    // Polling every ten minutes: only the wake-up of the API's own write explains a send within the test's time.
    const service = await start('dispatch-wake-by-hand', brokers, { twilio: fake, clock, dispatchIntervalMs: 600_000 });
    const org = organization();
    const headers = await as(org.staff);
    const planned = patientData({ phone: '+15558870004' });
    const moved = patientData({ phone: '+15558870005' });
    for (const patient of [planned, moved])
      await publish(service.bus, patientCreatedV1, org.id, patient._id, patient, '/services/patients');
    await waitFor(async () => (await rows(service, 'SELECT 1 FROM patient_contact WHERE organization = $1', [org.id])).length === 2, {
      timeoutMs: 30_000,
      message: 'contacts kept',
    });
    // The round the contacts' events woke is over: from here on nothing but a wake-up (or ten minutes) starts one.
    await sleep(300);
    const bodies = (phone: string) => fake.sent.filter((send) => send.params['To'] === phone).map((send) => send.params['Body']);

    await plan(service, headers, planned._id, '2026-08-03T14:00:00Z', 'planned by hand for now');
    await waitFor(() => bodies('+15558870004').length === 1, {
      timeoutMs: 30_000,
      message: 'the hand-planned reminder sent without a poll',
    });
    expect(bodies('+15558870004')).toEqual(['planned by hand for now']);

    const later = await plan(service, headers, moved._id, '2026-08-04T14:00:00Z', 'moved to now');
    await sleep(300);
    expect(bodies('+15558870005')).toEqual([]);
    const put = await service.app.inject({
      method: 'PUT',
      url: `/api/reminders/${later}`,
      headers,
      payload: { sendAt: '2026-08-03T14:00:00Z' },
    });
    expect(put.statusCode, put.body).toBe(200);
    await waitFor(() => bodies('+15558870005').length === 1, {
      timeoutMs: 30_000,
      message: 'the reminder moved to now sent without a poll',
    });
    await waitFor(async () => (await rows(service, 'SELECT status FROM reminder WHERE id = $1', [later]))[0].status === 'sent', {
      timeoutMs: 30_000,
      message: 'recorded sent',
    });
  });
});
