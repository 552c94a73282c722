import { randomUUID } from 'node:crypto';
import { kafkaBrokers, startTwilioFake, waitFor, type TwilioFake } from '@pep/testing';
import ExcelJS from 'exceljs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROADCAST_WORKBOOK_HEADERS } from './broadcast-workbook.js';
import { createEvent, organizationCreatedV1, organizationUpdatedV1, patientCreatedV1 } from '@pep/contracts';
import {
  as,
  organization,
  patientData,
  publish,
  publishSettings,
  startMessaging,
  testClock,
  twilioCallback,
  type MessagingUnderTest,
} from '../test/harness.js';

const CLINIC_NUMBER = '+15005550006';

describe('messaging service: broadcasts', () => {
  let service: MessagingUnderTest;
  let fake: TwilioFake;
  let sql: pg.Client;
  // Noon in UTC: inside the default allowed hours of an organization with no time zone and patients with no appointment.
  const clock = testClock('2026-09-01T12:00:00Z');

  beforeAll(async () => {
    fake = await startTwilioFake();
    // The send quota is a safety net above the broadcast's own rate; the 2,000-recipient broadcast must not meet it.
    service = await startMessaging('broadcasts', await kafkaBrokers(), {
      twilio: fake,
      clock,
      quota: { organizationPerMinute: 100_000, organizationPerDay: 1_000_000 },
    });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
    await fake?.close();
  });

  const rows = async (query: string, params: unknown[] = []) => (await sql.query(query, params)).rows;
  const sender = () => service.built.broadcastSender;
  const textsTo = (phone: string) => fake.sent.filter((send) => send.kind === 'message' && send.params['To'] === phone);
  let phoneSeq = 0;
  const nextPhone = () => `+1555${String(7_000_000 + (phoneSeq += 1)).padStart(7, '0')}`;

  /**
   * Patients as messaging's read model keeps them from patients' events (written directly: these tests are about the
   * sender, and a few thousand events would only slow them down).
   */
  const patients = async (
    org: string,
    count: number,
    options: { language?: string; doNotContact?: boolean; optedOut?: boolean; noPhone?: boolean; tags?: string[] } = {},
  ) => {
    const made: Array<{ id: string; phone: string | null }> = [];
    for (let index = 0; index < count; index += 1) made.push({ id: randomUUID(), phone: options.noPhone ? null : nextPhone() });
    await sql.query(
      `INSERT INTO patient_contact (id, organization, firstname, lastname, phone, language, do_not_contact, opted_out_at, tags, updated_at)
       SELECT id, $2, 'Rosa', 'Diaz', phone, $4, $5, $6, $7, now() FROM unnest($1::uuid[], $3::text[]) AS p(id, phone)`,
      [
        made.map((one) => one.id),
        org,
        made.map((one) => one.phone),
        options.language ?? 'en',
        options.doNotContact ?? false,
        options.optedOut ? '2026-08-01T00:00:00Z' : null,
        options.tags ?? [],
      ],
    );
    return made;
  };
  const facility = async (org: string, timeZone = 'America/New_York') => {
    const id = randomUUID();
    await sql.query(
      `INSERT INTO facility (id, organization, name, time_zone, phone, updated_at) VALUES ($1, $2, 'Harbour Clinic', $3, '+15550001111', now())`,
      [id, org, timeZone],
    );
    return id;
  };
  const appointment = async (
    org: string,
    patient: string,
    facilityId: string,
    date: string,
    timeZone = 'America/New_York',
    type: string | null = null,
  ) => {
    await sql.query(
      `INSERT INTO appointment (id, organization, patient, provider, facility, date, duration, status, time_zone, type, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, 30, 'unconfirmed', $7, $8, now())`,
      [randomUUID(), org, patient, randomUUID(), facilityId, date, timeZone, type],
    );
  };
  const call = async (identity: Parameters<typeof as>[0], method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) =>
    service.app.inject({ method, url, headers: await as(identity), ...(payload ? { payload: payload as Record<string, unknown> } : {}) });
  const create = async (identity: Parameters<typeof as>[0], payload: Record<string, unknown>) => {
    const response = await call(identity, 'POST', '/api/broadcasts', {
      title: 'Flu shots',
      type: 'uploaded',
      message: 'Hi {{patient.firstname}}, flu shots are in.',
      sendAt: clock().toISOString(),
      ...payload,
    });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as { _id: string; stats: Record<string, number>; processingStatus: string; review: Record<string, unknown> };
  };
  const get = async (identity: Parameters<typeof as>[0], id: string) => (await call(identity, 'GET', `/api/broadcasts/${id}`)).json();
  const drain = async () => {
    while ((await sender().runOnce()) > 0);
  };
  const settingsOf = async (org: string, settings: Record<string, unknown>) => {
    await publishSettings(service.bus, org, settings);
    await waitFor(async () => (await rows('SELECT 1 FROM organization_setting WHERE organization = $1', [org])).length === 1, {
      timeoutMs: 30_000,
      message: 'settings kept',
    });
  };

  it('previews who an audience reaches: how many, and a first page', async () => {
    const org = organization();
    const clinic = await facility(org.id);
    const other = await facility(org.id);
    const [inRange, later, elsewhere] = await patients(org.id, 3);
    const [spanish] = await patients(org.id, 1, { language: 'es' });
    const [blocked] = await patients(org.id, 1, { doNotContact: true });
    await patients(org.id, 2);
    const checkUp = randomUUID();
    await appointment(org.id, inRange!.id, clinic, '2026-09-10T15:00:00Z', 'America/New_York', checkUp);
    await appointment(org.id, later!.id, clinic, '2026-10-20T15:00:00Z');
    await appointment(org.id, elsewhere!.id, other, '2026-09-10T15:00:00Z');
    await appointment(org.id, spanish!.id, clinic, '2026-09-11T15:00:00Z');
    await appointment(org.id, blocked!.id, clinic, '2026-09-12T15:00:00Z');

    const preview = async (query: string) => {
      const response = await call(org.staff, 'GET', `/api/broadcasts/patients?${query}`);
      expect(response.statusCode, response.body).toBe(200);
      return response.json() as { total: number; response: Array<{ _id: string; reachable: boolean }> };
    };
    expect((await preview('')).total).toBe(7);
    const atClinic = await preview(`facility=${clinic}&appointmentFrom=2026-09-01T00:00:00Z&appointmentTo=2026-10-01T00:00:00Z`);
    expect(atClinic.total).toBe(3);
    expect(atClinic.response.map((one) => one._id).sort()).toEqual([inRange!.id, spanish!.id, blocked!.id].sort());
    expect(atClinic.response.find((one) => one._id === blocked!.id)?.reachable).toBe(false);
    expect((await preview(`facility=${clinic}&language=es`)).total).toBe(1);
    const ofType = await preview(`appointmentType=${checkUp}`);
    expect([ofType.total, ofType.response[0]?._id]).toEqual([1, inRange!.id]);
    const page = await preview('limit=2&page=2');
    expect([page.total, page.response.length]).toEqual([7, 2]);
    // Another organization's clinic is not theirs to filter by.
    expect((await call(organization().staff, 'GET', `/api/broadcasts/patients?facility=${clinic}`)).statusCode).toBe(404);
    const bad = await call(org.staff, 'GET', '/api/broadcasts/patients?language=spanish');
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('language');
  });

  it('refuses a message with an unknown variable (400) and a list naming patients not of the organization (404), storing nothing', async () => {
    const org = organization();
    const [mine] = await patients(org.id, 1);
    const [theirs] = await patients(organization().id, 1);
    const unknown = await call(org.staff, 'POST', '/api/broadcasts', {
      title: 'x',
      type: 'uploaded',
      patients: [mine!.id],
      message: 'Hi {{patient.ssn}}',
      sendAt: clock().toISOString(),
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().errors[0]).toMatchObject({ field: 'body.message' });
    const foreign = await call(org.staff, 'POST', '/api/broadcasts', {
      title: 'x',
      type: 'uploaded',
      patients: [mine!.id, theirs!.id],
      message: 'Hi',
      sendAt: clock().toISOString(),
    });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().errors).toEqual([{ field: 'body.patients', message: 'no such patient in your organization (entries 1)' }]);
    expect(await rows('SELECT 1 FROM broadcast WHERE organization = $1', [org.id])).toEqual([]);
  });

  it('waits for a second user’s approval when the organization requires review', async () => {
    const org = organization();
    await settingsOf(org.id, { broadcastReviewRequired: true });
    const list = await patients(org.id, 2);
    const broadcast = await create(org.staff, { patients: list.map((one) => one.id) });
    expect(broadcast.review).toMatchObject({ required: true, status: 'pending', approver: null });

    const send = await call(org.staff, 'POST', '/api/broadcasts/bulk/action', { action: 'send', ids: [broadcast._id] });
    expect(send.statusCode).toBe(409);
    expect(send.json()).toMatchObject({ detail: expect.stringContaining('approval') });
    await sender().runOnce();
    expect(textsTo(list[0]!.phone!)).toHaveLength(0);
    expect((await get(org.staff, broadcast._id)).processingStatus).toBe('pre-processing');

    // The creator cannot approve their own broadcast.
    const own = await call(org.staff, 'PUT', `/api/broadcasts/${broadcast._id}`, { review: { status: 'approved' } });
    expect(own.statusCode).toBe(403);
    expect(own.json().detail).toMatch(/another user/);
    const approved = await call(org.admin, 'POST', '/api/broadcasts/bulk/action', { action: 'approve', ids: [broadcast._id] });
    expect(approved.statusCode, approved.body).toBe(200);
    expect(approved.json().response[0].review).toMatchObject({ status: 'approved', approver: org.admin.user });

    // A change of the text after the approval withdraws it: what goes is what was approved.
    const edited = await call(org.staff, 'PUT', `/api/broadcasts/${broadcast._id}`, {
      message: 'Hi {{patient.firstname}}, flu shots are in today.',
    });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json().review).toMatchObject({ status: 'pending', approver: null });
    await sender().runOnce();
    expect(textsTo(list[0]!.phone!)).toHaveLength(0);
    const again = await call(org.admin, 'POST', '/api/broadcasts/bulk/action', { action: 'approve', ids: [broadcast._id] });
    expect(again.statusCode, again.body).toBe(200);

    await drain();
    for (const one of list) expect(textsTo(one.phone!)).toHaveLength(1);
    expect(textsTo(list[0]!.phone!)[0]!.params['Body']).toBe('Hi Rosa, flu shots are in today.');
    expect(await get(org.staff, broadcast._id)).toMatchObject({ processingStatus: 'success', rowCount: 2, stats: { sent: 2, total: 2 } });
  });

  it('holds quiet-hour recipients until their morning and sends each recipient once across a sender that died mid-broadcast', async () => {
    const org = organization();
    // 03:00 in UTC, the zone of patients with no appointment in an organization with none of its own.
    clock.set('2026-09-02T03:00:00Z');
    const list = await patients(org.id, 6);
    const broadcast = await create(org.staff, { patients: list.map((one) => one.id), configuration: { throttle: false } });
    expect(await sender().runOnce()).toBe(6);
    expect(fake.sent.filter((send) => list.some((one) => one.phone === send.params['To']))).toHaveLength(0);
    expect(await rows(`SELECT DISTINCT status::text, retry_at FROM broadcast_recipient WHERE broadcast = $1`, [broadcast._id])).toEqual([
      { status: 'queued', retry_at: new Date('2026-09-02T08:00:00Z') },
    ]);
    expect((await get(org.staff, broadcast._id)).stats).toMatchObject({ queued: 6, sent: 0 });

    // At 08:00 a sender claims three and dies: two before calling the vendor, one after writing its message (the vendor
    // may have it). These are the rows such a crash leaves.
    clock.set('2026-09-02T08:00:00Z');
    const recipients = await rows(`SELECT id, patient FROM broadcast_recipient WHERE broadcast = $1 ORDER BY id`, [broadcast._id]);
    const crashed = recipients.slice(0, 3);
    await sql.query(
      `UPDATE broadcast_recipient SET status = 'claimed', claimed_at = $2, attempts = 1, retry_at = NULL WHERE id = ANY($1::uuid[])`,
      [crashed.map((row) => row.id), clock().toISOString()],
    );
    const handed = crashed[2]!;
    await sql.query(
      `INSERT INTO message (id, organization, patient, type, channel, status, key, "to", text, language, automated, broadcast, created_by, updated_by, created_at, updated_at)
       VALUES ($1, $2, $3, 'outbound', 'sms', 'pending', 'broadcast', $4, 'Hi Rosa, flu shots are in.', 'en', true, $5, $6, $6, now(), now())`,
      [randomUUID(), org.id, handed.patient, list.find((one) => one.id === handed.patient)!.phone, broadcast._id, org.staff.user],
    );
    // Another replica's round sends the three unclaimed ones; the claims of the dead sender hold until their lease ends.
    await drain();
    const texts = () => list.map((one) => textsTo(one.phone!).length);
    expect(texts().reduce((sum, count) => sum + count, 0)).toBe(3);
    clock.set('2026-09-02T08:06:00Z');
    await drain();
    const byPatient = new Map(list.map((one) => [one.id, textsTo(one.phone!).length]));
    // Every recipient texted once; the one whose message the dead sender wrote is never texted a second time.
    for (const row of recipients) expect(byPatient.get(row.patient), row.patient).toBe(row.id === handed.id ? 0 : 1);
    expect(
      await rows(`SELECT count(*)::int AS n FROM message WHERE broadcast = $1 GROUP BY patient HAVING count(*) > 1`, [broadcast._id]),
    ).toEqual([]);
    expect(await get(org.staff, broadcast._id)).toMatchObject({
      processingStatus: 'success',
      stats: { total: 6, sent: 6, queued: 0 },
    });
    clock.set('2026-09-01T12:00:00Z');
  });

  it('keeps the organization’s hourly rate, and a cancel stops what is not sent', async () => {
    const org = organization();
    clock.set('2026-09-03T12:00:00Z');
    await settingsOf(org.id, { broadcastRatePerHour: 3 });
    const list = await patients(org.id, 7);
    const broadcast = await create(org.staff, { patients: list.map((one) => one.id) });
    const sent = () => list.filter((one) => textsTo(one.phone!).length > 0).length;
    await drain();
    expect(sent()).toBe(3);
    await drain();
    clock.set('2026-09-03T12:30:00Z');
    await drain();
    expect(sent()).toBe(3);
    clock.set('2026-09-03T13:00:01Z');
    await drain();
    expect(sent()).toBe(6);
    expect((await get(org.staff, broadcast._id)).stats).toMatchObject({ sent: 6, queued: 1, total: 7 });

    const cancel = await call(org.staff, 'POST', '/api/broadcasts/bulk/action', { action: 'cancel', ids: [broadcast._id] });
    expect(cancel.statusCode, cancel.body).toBe(200);
    clock.set('2026-09-03T15:00:00Z');
    await drain();
    expect(sent()).toBe(6);
    const after = await get(org.staff, broadcast._id);
    expect(after).toMatchObject({ processingStatus: 'success', stats: { sent: 6, cancelled: 1, queued: 0, total: 7 } });
    expect(after.cancelledAt).not.toBeNull();
    // A broadcast that started cannot be changed any more.
    expect((await call(org.staff, 'PUT', `/api/broadcasts/${broadcast._id}`, { title: 'Late' })).statusCode).toBe(409);
    clock.set('2026-09-01T12:00:00Z');
  });

  it('skips patients who must not be contacted, counts deliveries, replies and STOPs, and exports the outcomes as .xlsx', async () => {
    const org = organization();
    const [reader, replier] = await patients(org.id, 2);
    const [optedOut] = await patients(org.id, 1, { optedOut: true });
    const [blocked] = await patients(org.id, 1, { doNotContact: true });
    const [noPhone] = await patients(org.id, 1, { noPhone: true });
    const clinic = await facility(org.id, 'Europe/Berlin');
    await appointment(org.id, reader!.id, clinic, '2026-09-20T15:00:00Z', 'Europe/Berlin');
    const broadcast = await create(org.staff, {
      type: 'scheduled',
      message: 'Hi {{patient.firstname}}, {{facility.name}} ({{facility.phone}}) opens late on Friday.',
      audience: {},
    });
    await drain();
    expect(textsTo(reader!.phone!).map((send) => send.params['Body'])).toEqual([
      'Hi Rosa, Harbour Clinic (+15550001111) opens late on Friday.',
    ]);
    expect(textsTo(replier!.phone!)).toHaveLength(1);
    expect(textsTo(optedOut!.phone!)).toHaveLength(0);
    expect(textsTo(blocked!.phone!)).toHaveLength(0);
    expect(
      await rows(
        `SELECT patient, status::text, status_reason FROM broadcast_recipient WHERE broadcast = $1 AND status <> 'sent' ORDER BY patient`,
        [broadcast._id],
      ),
    ).toEqual(
      [
        { patient: optedOut!.id, status: 'blocked', status_reason: 'do-not-contact' },
        { patient: blocked!.id, status: 'blocked', status_reason: 'do-not-contact' },
        { patient: noPhone!.id, status: 'skipped', status_reason: 'no-contact-details' },
      ].sort((x, y) => x.patient.localeCompare(y.patient)),
    );

    // The vendor reports one delivered; the other patient answers, then texts STOP.
    const [message] = await rows(`SELECT id, external_id FROM message WHERE broadcast = $1 AND patient = $2`, [broadcast._id, reader!.id]);
    const status = await twilioCallback(service.app, fake, `/api/callback/twilio/${message.id}`, {
      MessageSid: message.external_id,
      MessageStatus: 'delivered',
      AccountSid: fake.accountSid,
      To: reader!.phone!,
    });
    expect(status.statusCode).toBe(204);
    clock.set('2026-09-01T12:05:00Z');
    for (const body of ['Thanks, see you then', 'STOP'])
      expect(
        (
          await twilioCallback(service.app, fake, '/api/callback/sms/reminders', {
            MessageSid: `SM${randomUUID().replace(/-/g, '')}`,
            AccountSid: fake.accountSid,
            From: replier!.phone!,
            To: CLINIC_NUMBER,
            Body: body,
            NumMedia: '0',
          })
        ).statusCode,
      ).toBe(200);
    clock.set('2026-09-01T12:00:00Z');
    const { stats } = await get(org.staff, broadcast._id);
    expect(stats).toEqual({ total: 5, queued: 0, sent: 2, delivered: 1, failed: 0, skipped: 3, cancelled: 0, replied: 1, optedOut: 1 });
    expect(stats.queued + stats.sent + stats.failed + stats.skipped + stats.cancelled).toBe(stats.total);
    // The replies are in the patient's conversation like any other.
    expect(await rows(`SELECT count(*)::int AS n FROM message WHERE patient = $1 AND type = 'inbound'`, [replier!.id])).toEqual([{ n: 2 }]);
    // Staff are told of the reply (not of the STOP), without its words.
    const [thanks] = await rows(`SELECT id FROM message WHERE patient = $1 AND type = 'inbound' AND text LIKE 'Thanks%'`, [replier!.id]);
    const notifications = await call(org.staff, 'GET', '/api/notifications?type=broadcast.reply');
    expect(notifications.json()).toMatchObject({
      total: 1,
      response: [{ type: 'broadcast.reply', ref: 'message', refId: thanks.id, patient: replier!.id, cleared: false }],
    });
    expect(notifications.body).not.toContain('see you');

    const xls = await call(org.staff, 'GET', `/api/broadcasts/${broadcast._id}/xls`);
    expect(xls.statusCode).toBe(200);
    expect(xls.headers['content-type']).toContain('spreadsheetml');
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.load(xls.rawPayload as unknown as ArrayBuffer);
    const sheet = workbook.getWorksheet('Recipients')!;
    const values = sheet.getSheetValues().filter(Boolean) as unknown[][];
    expect(values[0]!.slice(1)).toEqual(BROADCAST_WORKBOOK_HEADERS);
    expect(values).toHaveLength(6);
    const readerRow = values.find((row) => row[1] === reader!.id)!;
    expect(readerRow.slice(4, 7)).toEqual(['sms', reader!.phone, 'sent']);
    expect(readerRow[9]).toBe('delivered');
    expect(values.find((row) => row[1] === replier!.id)![10]).toBe('yes');
    expect(values.find((row) => row[1] === noPhone!.id)![7]).toBe('no-contact-details');
    expect((await call(organization().staff, 'GET', `/api/broadcasts/${broadcast._id}/xls`)).statusCode).toBe(404);
  });

  it('sends each recipient once when two replicas send one broadcast at the same time', { timeout: 120_000 }, async () => {
    const replica = await startMessaging('broadcasts-replica', await kafkaBrokers(), { replicaOf: service, twilio: fake });
    try {
      const org = organization();
      await settingsOf(org.id, { broadcastRatePerHour: 400 });
      const list = await patients(org.id, 600);
      const broadcast = await create(org.staff, { type: 'scheduled', audience: {} });
      const drainBoth = () =>
        Promise.all(
          [sender(), replica.built.broadcastSender].map(async (one) => {
            while ((await one.runOnce()) > 0);
          }),
        );
      await drainBoth();
      const texted = () => list.filter((one) => textsTo(one.phone!).length > 0);
      // Both replicas counted one hour of one organization: 400, not 400 each.
      expect(texted()).toHaveLength(400);
      clock.set('2026-09-01T13:00:01Z');
      await drainBoth();
      expect(texted()).toHaveLength(600);
      for (const one of list) expect(textsTo(one.phone!), one.id).toHaveLength(1);
      expect(await get(org.staff, broadcast._id)).toMatchObject({ processingStatus: 'success', stats: { sent: 600, total: 600 } });
    } finally {
      clock.set('2026-09-01T12:00:00Z');
      await replica.close();
    }
  });

  it('sends a 2,000-recipient broadcast once to each patient', { timeout: 120_000 }, async () => {
    const org = organization();
    const list = await patients(org.id, 2_000);
    const started = Date.now();
    const broadcast = await create(org.staff, { type: 'scheduled', audience: {}, configuration: { throttle: false } });
    await drain();
    const elapsed = Date.now() - started;
    const phones = new Set(list.map((one) => one.phone));
    const texts = fake.sent.filter((send) => send.kind === 'message' && phones.has(send.params['To']!));
    expect(texts).toHaveLength(2_000);
    expect(new Set(texts.map((send) => send.params['To'])).size).toBe(2_000);
    expect(await get(org.staff, broadcast._id)).toMatchObject({ processingStatus: 'success', rowCount: 2_000, stats: { sent: 2_000 } });
    expect(elapsed).toBeLessThan(60_000);
    const events = await rows(
      `SELECT count(*)::int AS n FROM outbox WHERE envelope->>'organization' = $1 AND envelope->>'type' = 'message.sent'`,
      [org.id],
    );
    expect(events).toEqual([{ n: 2_000 }]);
  });

  it('tries a recipient again after a refusal that may pass (the vendor failing), and texts it once', async () => {
    const org = organization();
    clock.set('2026-12-01T15:00:00Z');
    const [one] = await patients(org.id, 1);
    const broadcast = await create(org.staff, { patients: [one!.id], configuration: { throttle: false } });
    fake.fault = 'error';
    try {
      await sender().runOnce();
    } finally {
      fake.fault = 'none';
    }
    expect(await rows(`SELECT status::text, attempts FROM broadcast_recipient WHERE broadcast = $1`, [broadcast._id])).toEqual([
      { status: 'queued', attempts: 1 },
    ]);
    expect(textsTo(one!.phone!)).toHaveLength(0);
    // The retry comes after its backoff, and its refused message does not count as sent.
    clock.set('2026-12-01T15:02:00Z');
    await drain();
    expect(textsTo(one!.phone!)).toHaveLength(1);
    expect(await get(org.staff, broadcast._id)).toMatchObject({ processingStatus: 'success', stats: { sent: 1, failed: 0 } });
  });

  it('says the organization’s name as auth last named it, and a redelivered event changes nothing more', async () => {
    const org = organization();
    clock.set('2026-12-02T15:00:00Z');
    const [one] = await patients(org.id, 1);
    const named = createEvent(organizationCreatedV1, {
      source: '/services/auth',
      organization: org.id,
      subject: org.id,
      data: { _id: org.id, name: 'Harbour Health', active: true },
    });
    // Delivered twice: the second finds its id in the inbox.
    const record = { topic: organizationCreatedV1.topic, key: org.id, value: JSON.stringify(named) };
    await service.bus.publish([record]);
    await service.bus.publish([record]);
    const profile = async () => rows('SELECT name FROM organization_profile WHERE organization = $1', [org.id]);
    await waitFor(async () => (await profile()).length === 1, { timeoutMs: 30_000, message: 'organization kept' });
    await waitFor(
      async () => (await rows(`SELECT 1 FROM inbox WHERE event_id = $1 AND consumer = 'messaging.read-models'`, [named.id])).length === 1,
      { timeoutMs: 30_000, message: 'event handled' },
    );
    expect(await profile()).toEqual([{ name: 'Harbour Health' }]);
    const message = '{{organization.name}}: hi {{patient.firstname}}, flu shots are in.';
    const first = await create(org.staff, { patients: [one!.id], message, configuration: { throttle: false } });
    await drain();
    expect(textsTo(one!.phone!).map((send) => send.params['Body'])).toEqual(['Harbour Health: hi Rosa, flu shots are in.']);
    expect(await get(org.staff, first._id)).toMatchObject({ stats: { sent: 1 } });

    await publish(
      service.bus,
      organizationUpdatedV1,
      org.id,
      org.id,
      { _id: org.id, name: 'Harbour Family Health', active: true, changed: ['name'] },
      '/services/auth',
    );
    await waitFor(async () => (await profile())[0]?.name === 'Harbour Family Health', { timeoutMs: 30_000, message: 'rename kept' });
    // The first event again, under a new id and its old time: older than the rename, so the name stays.
    const stale = { ...named, id: randomUUID() };
    await service.bus.publish([{ ...record, value: JSON.stringify(stale) }]);
    await waitFor(
      async () => (await rows(`SELECT 1 FROM inbox WHERE event_id = $1 AND consumer = 'messaging.read-models'`, [stale.id])).length === 1,
      { timeoutMs: 30_000, message: 'stale event handled' },
    );
    clock.set('2026-12-02T16:00:00Z');
    await create(org.staff, { patients: [one!.id], message, configuration: { throttle: false } });
    await drain();
    expect(textsTo(one!.phone!).map((send) => send.params['Body'])).toEqual([
      'Harbour Health: hi Rosa, flu shots are in.',
      'Harbour Family Health: hi Rosa, flu shots are in.',
    ]);
    expect(await profile()).toEqual([{ name: 'Harbour Family Health' }]);
  });

  it('reaches patients by their tags, as patients’ events tag them, in the preview and when sending', async () => {
    const org = organization();
    clock.set('2026-12-03T15:00:00Z');
    const [diabetic] = await patients(org.id, 1, { tags: ['diabetic'] });
    const [both] = await patients(org.id, 1, { tags: ['flu-2026', 'diabetic'] });
    await patients(org.id, 2, { tags: ['other'] });
    await patients(org.id, 1);
    // Tagged by patients' own event, which the read model keeps.
    const tagged = patientData({ phone: nextPhone(), tags: ['flu-2026'] });
    await publish(service.bus, patientCreatedV1, org.id, tagged._id, tagged, '/services/patients');
    await waitFor(async () => (await rows('SELECT tags FROM patient_contact WHERE id = $1', [tagged._id]))[0]?.tags?.length === 1, {
      timeoutMs: 30_000,
      message: 'tags kept',
    });
    const preview = async (query: string) => {
      const response = await call(org.staff, 'GET', `/api/broadcasts/patients?${query}`);
      expect(response.statusCode, response.body).toBe(200);
      return response.json() as { total: number; response: Array<{ _id: string }> };
    };
    const ids = (page: { response: Array<{ _id: string }> }) => page.response.map((one) => one._id).sort();
    expect(ids(await preview('tags=diabetic'))).toEqual([diabetic!.id, both!.id].sort());
    expect(ids(await preview('tags=flu-2026,diabetic'))).toEqual([diabetic!.id, both!.id, tagged._id].sort());
    expect(ids(await preview('tags=flu-2026&tags=nobody'))).toEqual([both!.id, tagged._id].sort());
    expect((await preview('')).total).toBe(6);
    for (const query of [
      `tags=${'x'.repeat(41)}`,
      `tags=${Array.from({ length: 21 }, (_, index) => `t${index}`).join(',')}`,
      'tags=a,,b',
    ]) {
      const bad = await call(org.staff, 'GET', `/api/broadcasts/patients?${query}`);
      expect(bad.statusCode, query).toBe(400);
      expect(bad.body).toContain('tags');
    }
    const refused = await call(org.staff, 'POST', '/api/broadcasts', {
      title: 'Flu shots',
      type: 'scheduled',
      message: 'Hi',
      sendAt: clock().toISOString(),
      audience: { tags: [] },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().errors.map((error: { field: string }) => error.field)).toEqual(['body.audience.tags']);

    const broadcast = await create(org.staff, {
      type: 'scheduled',
      audience: { tags: ['flu-2026'] },
      configuration: { throttle: false },
    });
    await drain();
    expect(textsTo(both!.phone!)).toHaveLength(1);
    expect(textsTo(tagged.phone!)).toHaveLength(1);
    expect(textsTo(diabetic!.phone!)).toHaveLength(0);
    expect(await get(org.staff, broadcast._id)).toMatchObject({ audience: { tags: ['flu-2026'] }, rowCount: 2, stats: { sent: 2 } });
  });
});
