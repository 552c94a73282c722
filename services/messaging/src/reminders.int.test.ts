import { randomUUID } from 'node:crypto';
import { kafkaBrokers, type SmtpSink, startSmtpSink, startTwilioFake, type TwilioFake, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appointmentData,
  as,
  observe,
  organization,
  PUBLIC_URL,
  publishSettings,
  scheduling,
  startMessaging,
  testClock,
  updatePatient,
  world,
  type MessagingUnderTest,
} from '../test/harness.js';
import { smsSegments } from './segments.js';

describe('messaging service: reminders from appointment events, sent through Twilio and SMTP', () => {
  let service: MessagingUnderTest;
  let fake: TwilioFake;
  let smtp: SmtpSink;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  // Before the 2026 DST change in New York (8 March, 02:00 local).
  const clock = testClock('2026-03-01T12:00:00Z');

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    fake = await startTwilioFake();
    smtp = await startSmtpSink();
    service = await startMessaging('reminders', brokers, {
      twilio: fake,
      mailer: { from: 'clinic@example.test', smtpUrl: smtp.url },
      clock,
    });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    events = await observe(service, brokers, ['messaging.message', 'messaging.reminder']);
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await service?.close();
    await fake?.close();
    await smtp?.close();
  });

  const known = async (table: string, id: string) =>
    waitFor(async () => (await sql.query(`SELECT 1 FROM ${table} WHERE id = $1`, [id])).rows.length === 1, {
      timeoutMs: 30_000,
      message: `${table} ${id} kept`,
    });
  const setUp = async (org: ReturnType<typeof organization>, options: Parameters<typeof world>[2] = {}) => {
    const records = await world(service.bus, org.id, options);
    await known('patient_contact', records.patient._id);
    await known('facility', records.facility._id);
    await known('provider', records.provider._id);
    return records;
  };
  const remindersOf = async (appointment: string, org: ReturnType<typeof organization>, count: number) =>
    waitFor(
      async () => {
        const list = (await service.app.inject({ url: `/api/reminders/findByApptId/${appointment}`, headers: await as(org.staff) })).json();
        return list.total === count
          ? (list.response as Array<Record<string, unknown> & { sendAt: string; status: string; _id: string }>)
          : null;
      },
      { timeoutMs: 30_000, message: `${count} reminders of ${appointment}` },
    );
  // Rounds until nothing is due: other tests' reminders may be due at the same time.
  const drain = async () => {
    while ((await service.dispatcher.runOnce()) > 0);
  };
  const planned = async (appointment: string, org: ReturnType<typeof organization>, count: number) =>
    (await remindersOf(appointment, org, count)).map((reminder) => [reminder.sendAt, reminder.status, reminder.statusReason]);

  it('plans the default reminders exactly 168, 96 and 48 hours before, across the DST change', async () => {
    const org = organization();
    const records = await setUp(org);
    // 10:00 EDT on Tuesday 10 March: 168 h and 96 h before are 09:00 EST, 48 h before is 10:00 EDT.
    const appointment = appointmentData(records, '2026-03-10T14:00:00.000Z');
    await scheduling.book(service.bus, org.id, appointment);
    expect(await planned(appointment._id, org, 3)).toEqual([
      ['2026-03-03T14:00:00.000Z', 'scheduled', null],
      ['2026-03-06T14:00:00.000Z', 'scheduled', null],
      ['2026-03-08T14:00:00.000Z', 'scheduled', null],
    ]);
    const [first] = await remindersOf(appointment._id, org, 3);
    expect(first).toMatchObject({
      patient: records.patient._id,
      provider: records.provider._id,
      facility: records.facility._id,
      type: 'appointment',
      offsetHours: 168,
      createdBy: 'system',
    });
  });

  it('holds early times to 08:00 local (EST before the change, EDT after) and late ones to 08:00 the next day', async () => {
    const org = organization();
    const records = await setUp(org);
    // 08:30 EDT on 10 March: 48 h before is 08:30 EDT (allowed); 96 h and 168 h before are 07:30 EST, held to 08:00 EST.
    const early = appointmentData(records, '2026-03-10T12:30:00.000Z');
    await scheduling.book(service.bus, org.id, early);
    expect(await planned(early._id, org, 3)).toEqual([
      ['2026-03-03T13:00:00.000Z', 'scheduled', null],
      ['2026-03-06T13:00:00.000Z', 'scheduled', null],
      ['2026-03-08T12:30:00.000Z', 'scheduled', null],
    ]);

    const other = organization();
    await publishSettings(service.bus, other.id, { reminderOffsetsHours: [36], quietHoursStart: '09:00', quietHoursEnd: '19:00' });
    await waitFor(
      async () => (await sql.query('SELECT 1 FROM organization_setting WHERE organization = $1', [other.id])).rows.length === 1,
      { message: 'settings kept' },
    );
    const theirs = await setUp(other);
    // 09:00 EDT on 12 March: 36 h before is 21:00 EDT on the 10th, after 19:00, so 09:00 EDT on the 11th.
    const late = appointmentData(theirs, '2026-03-12T13:00:00.000Z');
    await scheduling.book(service.bus, other.id, late);
    expect(await planned(late._id, other, 1)).toEqual([['2026-03-11T13:00:00.000Z', 'scheduled', null]]);
  });

  it('skips times already past and blocks patients who must not be contacted', async () => {
    const org = organization();
    const records = await setUp(org);
    clock.set('2026-03-05T12:00:00Z');
    try {
      const soon = appointmentData(records, '2026-03-10T14:00:00.000Z');
      await scheduling.book(service.bus, org.id, soon);
      expect(await planned(soon._id, org, 3)).toEqual([
        ['2026-03-03T14:00:00.000Z', 'skipped', 'send-time-passed'],
        ['2026-03-06T14:00:00.000Z', 'scheduled', null],
        ['2026-03-08T14:00:00.000Z', 'scheduled', null],
      ]);

      await updatePatient(service.bus, org.id, records.patient, { doNotContact: true });
      await waitFor(async () => (await remindersOf(soon._id, org, 3)).filter((reminder) => reminder.status === 'blocked').length === 2, {
        message: 'reminders blocked',
      });
      const later = appointmentData(records, '2026-03-20T14:00:00.000Z');
      await scheduling.book(service.bus, org.id, later);
      expect((await planned(later._id, org, 3)).map(([, status, reason]) => [status, reason])).toEqual([
        ['blocked', 'do-not-contact'],
        ['blocked', 'do-not-contact'],
        ['blocked', 'do-not-contact'],
      ]);
      const refused = await service.app.inject({
        method: 'POST',
        url: '/api/messages',
        headers: await as(org.staff),
        payload: { patient: records.patient._id, text: 'Hello' },
      });
      expect(refused.statusCode).toBe(409);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);

      // Consent back: reminders still ahead are scheduled again.
      await updatePatient(service.bus, org.id, records.patient, { doNotContact: false });
      await waitFor(async () => (await remindersOf(later._id, org, 3)).every((reminder) => reminder.status === 'scheduled'), {
        message: 'reminders released',
      });
    } finally {
      clock.set('2026-03-01T12:00:00Z');
    }
    expect(fake.sent.filter((send) => send.params['To'] === records.patient.phone)).toEqual([]);
  });

  it('moves reminders when the appointment is rescheduled and voids them when it is cancelled', async () => {
    const org = organization();
    const records = await setUp(org);
    const appointment = appointmentData(records, '2026-03-10T14:00:00.000Z');
    await scheduling.book(service.bus, org.id, appointment);
    await remindersOf(appointment._id, org, 3);
    await scheduling.move(service.bus, org.id, appointment, '2026-03-17T15:00:00.000Z');
    const moved = await remindersOf(appointment._id, org, 6);
    expect(moved.filter((reminder) => reminder.status === 'skipped').map((reminder) => reminder.statusReason)).toEqual([
      'rescheduled',
      'rescheduled',
      'rescheduled',
    ]);
    expect(moved.filter((reminder) => reminder.status === 'scheduled').map((reminder) => reminder.sendAt)).toEqual([
      '2026-03-10T15:00:00.000Z',
      '2026-03-13T15:00:00.000Z',
      '2026-03-15T15:00:00.000Z',
    ]);
    await scheduling.cancel(service.bus, org.id, { ...appointment, date: '2026-03-17T15:00:00.000Z' });
    await waitFor(async () => (await remindersOf(appointment._id, org, 6)).every((reminder) => reminder.status === 'skipped'), {
      message: 'all skipped',
    });
    const reasons = (await remindersOf(appointment._id, org, 6)).map((reminder) => reminder.statusReason);
    expect(reasons.filter((reason) => reason === 'appointment-cancelled')).toHaveLength(3);
  });

  it('sends a due reminder through the Twilio SDK and publishes message.sent and reminder.sent', async () => {
    const org = organization();
    const records = await setUp(org, { patient: { phone: '+15551230042', firstname: 'Grace' } });
    const appointment = appointmentData(records, '2026-03-10T14:00:00.000Z');
    await scheduling.book(service.bus, org.id, appointment);
    const [first] = await remindersOf(appointment._id, org, 3);
    clock.set('2026-03-03T14:00:05Z');
    try {
      // Other tests' reminders due by now go too, to other patients.
      await drain();
    } finally {
      clock.set('2026-03-01T12:00:00Z');
    }
    const sends = fake.sent.filter((send) => send.params['To'] === '+15551230042');
    expect(sends).toHaveLength(1);
    expect(sends[0]!.kind).toBe('message');
    expect(sends[0]!.params['From']).toBe(fake.from);
    expect(sends[0]!.params['Body']).toBe(
      'Hi Grace, this is a reminder of your appointment with Grace Hopper at Main Street Clinic on Tuesday, March 10, 2026 at 10:00 AM. Reply YES to confirm or NO to cancel.',
    );
    const reminder = (await service.app.inject({ url: `/api/reminders/${first!._id}`, headers: await as(org.staff) })).json();
    expect(reminder).toMatchObject({ status: 'sent', sentAt: '2026-03-03T14:00:05.000Z', channel: 'sms' });
    expect(sends[0]!.params['StatusCallback']).toBe(`${PUBLIC_URL}/api/callback/twilio/${reminder.message}`);
    const message = (await service.app.inject({ url: `/api/messages/${reminder.message}`, headers: await as(org.staff) })).json();
    expect(message).toMatchObject({
      type: 'outbound',
      channel: 'sms',
      status: 'sent',
      externalId: { value: sends[0]!.sid },
      to: '+15551230042',
      reminder: first!._id,
      appointment: appointment._id,
    });

    const published = await waitFor(
      () => {
        const mine = events.seen.filter((event) => event.subject === reminder.message || event.subject === first!._id);
        return mine.length >= 2 ? mine : null;
      },
      { timeoutMs: 30_000, message: 'message.sent and reminder.sent' },
    );
    expect(published.map((event) => event.type).sort()).toEqual(['message.sent', 'reminder.sent']);
    const sent = published.find((event) => event.type === 'message.sent')!;
    expect(sent.data).toMatchObject({
      _id: reminder.message,
      patient: records.patient._id,
      channel: 'sms',
      externalId: sends[0]!.sid,
      reminder: first!._id,
      // What billing meters: the segments of the text Twilio was given.
      segments: smsSegments(sends[0]!.params['Body']!),
    });
    // Events never carry the text or the number.
    expect(JSON.stringify(published)).not.toContain('+15551230042');
    expect(JSON.stringify(published)).not.toContain('Grace');

    // A second round finds nothing more of this appointment due.
    clock.set('2026-03-03T14:10:00Z');
    try {
      await drain();
    } finally {
      clock.set('2026-03-01T12:00:00Z');
    }
    expect(fake.sent.filter((send) => send.params['To'] === '+15551230042')).toHaveLength(1);
  });

  it('e-mails the reminder over SMTP to a patient without a phone, in the patient’s language', async () => {
    const org = organization();
    const records = await setUp(org, { patient: { phone: null, email: 'maria@example.test', firstname: 'María', language: 'es' } });
    const appointment = appointmentData(records, '2026-03-20T14:00:00.000Z');
    await publishSettings(service.bus, org.id, { reminderOffsetsHours: [24] });
    await waitFor(async () => (await sql.query('SELECT 1 FROM organization_setting WHERE organization = $1', [org.id])).rows.length === 1, {
      message: 'settings kept',
    });
    await scheduling.book(service.bus, org.id, appointment);
    await remindersOf(appointment._id, org, 1);
    clock.set('2026-03-19T14:00:00Z');
    try {
      await drain();
    } finally {
      clock.set('2026-03-01T12:00:00Z');
    }
    const mail = await waitFor(() => smtp.inbox.find((received) => JSON.stringify(received.to).includes('maria@example.test')), {
      message: 'mail received',
    });
    expect(mail.subject).toBe('Recordatorio de cita');
    expect(mail.from?.text).toContain('clinic@example.test');
    expect(mail.text).toContain('Hola María');
    expect(mail.text).toContain('viernes, 20 de marzo de 2026');
    const [reminder] = await remindersOf(appointment._id, org, 1);
    expect(reminder).toMatchObject({ status: 'sent', channel: 'email' });
  });

  it('lets staff plan, change, skip and delete reminders by hand, and counts them by status', async () => {
    const org = organization();
    const records = await setUp(org);
    const headers = await as(org.staff);
    const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: Record<string, unknown>, caller = headers) =>
      service.app.inject({ method, url, headers: caller, ...(payload ? { payload } : {}) });
    const created = await call('POST', '/api/reminders', {
      patient: records.patient._id,
      sendAt: '2026-04-01T14:00:00Z',
      text: 'Please bring your insurance card.',
      channel: 'sms',
    });
    expect(created.statusCode, created.body).toBe(200);
    expect(created.json()).toMatchObject({
      organization: org.id,
      status: 'scheduled',
      appointment: null,
      offsetHours: null,
      type: 'appointment',
      deleted: 0,
    });
    const id = created.json()._id as string;
    expect((await call('PUT', `/api/reminders/${id}`, { sendAt: '2026-04-02T14:00:00Z' })).json().sendAt).toBe('2026-04-02T14:00:00.000Z');
    expect((await call('PUT', `/api/reminders/${id}`, { status: 'skipped' })).json()).toMatchObject({
      status: 'skipped',
      statusReason: 'skipped-by-staff',
    });
    expect((await call('PUT', `/api/reminders/${id}`, { status: 'scheduled' })).json()).toMatchObject({
      status: 'scheduled',
      statusReason: null,
    });
    const second = (
      await call('POST', '/api/reminders', { patient: records.patient._id, sendAt: '2026-04-03T14:00:00Z', type: 'recall' })
    ).json();
    expect(second.type).toBe('recall');

    const summary = (await call('GET', '/api/reminders/reports/summary?sendAt=>=2026-04-01T00:00:00Z&sendAt=<2026-05-01T00:00:00Z')).json();
    expect(summary).toMatchObject({ total: 2, scheduled: 2, sent: 0 });
    expect((await call('GET', `/api/reminders/findByPatientId/${records.patient._id}`)).json().total).toBe(2);
    expect(
      (await call('GET', '/api/reminders/reports/find?type=recall')).json().response.map((reminder: { _id: string }) => reminder._id),
    ).toEqual([second._id]);
    expect((await call('GET', '/api/reminders/crudList?limit=1')).json()).toMatchObject({ page: 1, limit: 1, total: 2 });

    const deleted = await call('DELETE', `/api/reminders/${second._id}`);
    expect(deleted.json()).toMatchObject({ deleted: 1, status: 'skipped', statusReason: 'deleted' });
    expect((await call('GET', `/api/reminders/${second._id}`)).statusCode).toBe(404);
    expect((await call('GET', '/api/reminders/reports/summary')).json().total).toBe(1);

    for (const [payload, field] of [
      [{ patient: 'nope', sendAt: '2026-04-01T14:00:00Z' }, 'body.patient'],
      [{ patient: records.patient._id, sendAt: 'tomorrow' }, 'body.sendAt'],
      [{ patient: records.patient._id, sendAt: '2026-04-01T14:00:00Z', channel: 'fax' }, 'body.channel'],
      [{ patient: records.patient._id, sendAt: '2026-04-01T14:00:00Z', organization: randomUUID() }, 'body.organization'],
    ] as const) {
      const response = await call('POST', '/api/reminders', payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().errors.map((error: { field: string }) => error.field)).toContain(field);
    }
    // Appointments and templates the organization does not have; an appointment messaging never heard of is asked of
    // scheduling, which this test does not run.
    const unknownTemplate = await call('POST', '/api/reminders', {
      patient: records.patient._id,
      sendAt: '2026-04-01T14:00:00Z',
      messageTemplate: 'no-such-key',
    });
    expect(unknownTemplate.statusCode).toBe(404);
    expect(unknownTemplate.json().errors).toEqual([
      { field: 'body.messageTemplate', message: 'no such message template in your organization' },
    ]);
    expect((await call('PUT', `/api/reminders/${created.json()._id}`, { messageTemplate: 'no-such-key' })).statusCode).toBe(404);
    const unheardOf = await call('POST', '/api/reminders', {
      patient: records.patient._id,
      sendAt: '2026-04-01T14:00:00Z',
      appointment: randomUUID(),
    });
    expect(unheardOf.statusCode).toBe(503);
    expect(unheardOf.headers['retry-after']).toBe('5');
    expect((await call('GET', '/api/reminders?status=lost')).statusCode).toBe(400);
    expect(
      (await call('POST', '/api/reminders', { patient: records.patient._id, sendAt: '2026-04-01T14:00:00Z' }, await as(org.provider)))
        .statusCode,
    ).toBe(403);
    expect((await call('GET', '/api/reminders', undefined, await as(org.provider))).statusCode).toBe(200);
    expect((await call('GET', '/api/reminders', undefined, await as(org.patient))).statusCode).toBe(403);
    expect((await service.app.inject({ url: '/api/reminders' })).statusCode).toBe(401);
  });

  it('renders templates with the organization’s wording, in the facility’s time zone and the patient’s language', async () => {
    const org = organization();
    const records = await setUp(org, { patient: { firstname: 'Lin', language: 'es' } });
    const appointment = appointmentData(records, '2026-03-10T14:00:00.000Z');
    await scheduling.book(service.bus, org.id, appointment);
    await remindersOf(appointment._id, org, 3);
    const headers = await as(org.admin);
    const resolve = async (query: string) =>
      (await service.app.inject({ url: `/api/messageTemplates/reminder/resolve${query}`, headers })).json();
    expect((await resolve(`?patient=${records.patient._id}&appointment=${appointment._id}`)).text).toBe(
      'Hola Lin, le recordamos su cita con Grace Hopper en Main Street Clinic el martes, 10 de marzo de 2026 a las 10:00. Responda SÍ para confirmar o NO para cancelar.',
    );
    const custom = await service.app.inject({
      method: 'POST',
      url: '/api/messageTemplates/reminder',
      headers,
      payload: { language: 'es', text: '{{patient.firstname}}: cita {{appointment.date}} {{appointment.time}}' },
    });
    expect(custom.statusCode, custom.body).toBe(200);
    expect(custom.json()).toMatchObject({ key: 'reminder', language: 'es', builtIn: false });
    expect((await resolve(`?patient=${records.patient._id}&appointment=${appointment._id}`)).text).toBe(
      'Lin: cita martes, 10 de marzo de 2026 10:00',
    );
    expect((await resolve(`?patient=${records.patient._id}&appointment=${appointment._id}&language=en`)).text).toContain(
      'Reply YES to confirm',
    );
    expect(
      (
        await service.app.inject({
          method: 'POST',
          url: '/api/messageTemplates',
          headers,
          payload: { key: 'reminder', language: 'es', text: 'again' },
        })
      ).statusCode,
    ).toBe(409);
    const fresh = await service.app.inject({
      method: 'POST',
      url: '/api/messageTemplates',
      headers,
      payload: { key: 'welcome', text: 'Welcome {{patient.firstname}}' },
    });
    expect(fresh.statusCode).toBe(200);
    expect((await service.app.inject({ url: '/api/messageTemplates/list', headers })).json().total).toBe(2);
    const effective = (await service.app.inject({ url: '/api/messageTemplates/?language=es', headers })).json();
    expect(effective.response.find((template: { key: string }) => template.key === 'reminder')).toMatchObject({ builtIn: false });
    expect(effective.response.find((template: { key: string }) => template.key === 'help')).toMatchObject({ builtIn: true, _id: null });
    expect((await service.app.inject({ url: '/api/messageTemplates/stop-ack', headers })).json()).toMatchObject({
      builtIn: true,
      text: expect.stringContaining('START'),
    });
    expect((await service.app.inject({ url: '/api/messageTemplates/no-such-key', headers })).statusCode).toBe(404);
    await service.app.inject({ method: 'DELETE', url: `/api/messageTemplates/${custom.json()._id}`, headers });
    expect((await resolve(`?patient=${records.patient._id}&appointment=${appointment._id}`)).text).toContain('Responda SÍ');
    expect(
      (
        await service.app.inject({
          method: 'POST',
          url: '/api/messageTemplates/reminder',
          headers: await as(org.staff),
          payload: { text: 'x' },
        })
      ).statusCode,
    ).toBe(403);

    const canned = await service.app.inject({
      method: 'POST',
      url: '/api/patientMessageTemplates',
      headers,
      payload: { name: 'Running late', text: 'The doctor is running 15 minutes late.' },
    });
    expect(canned.statusCode).toBe(200);
    const cannedId = canned.json()._id as string;
    expect(
      (
        await service.app.inject({
          method: 'PUT',
          url: `/api/patientMessageTemplates/${cannedId}`,
          headers,
          payload: { text: 'Running 20 minutes late.' },
        })
      ).json().text,
    ).toBe('Running 20 minutes late.');
    expect((await service.app.inject({ url: '/api/patientMessageTemplates', headers })).json().total).toBe(1);
    expect((await service.app.inject({ method: 'DELETE', url: `/api/patientMessageTemplates/${cannedId}`, headers })).json().deleted).toBe(
      1,
    );
    expect((await service.app.inject({ url: `/api/patientMessageTemplates/${cannedId}`, headers })).statusCode).toBe(404);
  });
});
