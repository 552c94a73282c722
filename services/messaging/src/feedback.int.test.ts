import { randomUUID } from 'node:crypto';
import { facilityCreatedV1, settingsChangedV1 } from '@pep/contracts';
import { kafkaBrokers, startTwilioFake, waitFor, type TwilioFake } from '@pep/testing';
import ExcelJS from 'exceljs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appointmentData,
  as,
  observe,
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
import { FEEDBACK_WORKBOOK_HEADERS } from './feedback-workbook.js';

const CLINIC_NUMBER = '+15005550006';
const SMS = '/api/callback/sms/reminders';
const REVIEW_PAGE = 'https://reviews.example/main-street-clinic';

describe('messaging service: feedback (NPS) after a visit', () => {
  let service: MessagingUnderTest;
  let fake: TwilioFake;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  // 10:00 in New York: inside the default allowed hours.
  const clock = testClock('2026-08-03T14:00:00Z');
  let phones = 0;

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    fake = await startTwilioFake();
    service = await startMessaging('feedback', brokers, { twilio: fake, clock });
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

  const rows = async (query: string, params: unknown[] = []) => (await sql.query(query, params)).rows;
  const drain = async () => {
    while ((await service.dispatcher.runOnce()) > 0);
  };
  const textsTo = (phone: string) =>
    fake.sent.filter((send) => send.kind === 'message' && send.params['To'] === phone).map((send) => String(send.params['Body']));
  const reply = (from: string, body: string, sid = `SM${randomUUID().replace(/-/g, '')}`) =>
    twilioCallback(service.app, fake, SMS, { MessageSid: sid, AccountSid: fake.accountSid, From: from, To: CLINIC_NUMBER, Body: body });
  const surveyOf = async (appointment: string) =>
    (
      await rows('SELECT *, category::text AS category, channel::text AS channel FROM feedback_response WHERE appointment = $1', [
        appointment,
      ])
    )[0];

  /** Auth's settings.changed for a facility's own setting. */
  const facilitySettings = (org: string, facility: string, settings: Record<string, unknown>) => {
    const id = randomUUID();
    return publish(
      service.bus,
      settingsChangedV1,
      org,
      id,
      { _id: id, organization: org, ref: 'facility', refId: facility, settings, unsubscribed: [], unsubscribedAll: false, deleted: false },
      '/services/auth',
    );
  };

  /** An organization with a patient, a facility with a review page, a provider, and `visits` appointments past. */
  const clinic = async (options: { visits?: number; reviewLink?: boolean } = {}) => {
    const org = organization();
    const phone = `+1555987${String(++phones).padStart(4, '0')}`;
    const records = await world(service.bus, org.id, { patient: { phone, firstname: 'Rosa' } });
    if (options.reviewLink !== false) await facilitySettings(org.id, records.facility._id, { reviewLink: REVIEW_PAGE });
    const appointments = [];
    for (let visit = 0; visit < (options.visits ?? 1); visit++) {
      const appointment = appointmentData(records, '2026-08-02T15:00:00.000Z', { status: 'confirmed' });
      await scheduling.book(service.bus, org.id, appointment);
      appointments.push(appointment);
    }
    await waitFor(
      async () =>
        (await rows('SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).length === 1 &&
        (await rows('SELECT 1 FROM facility WHERE id = $1', [records.facility._id])).length === 1 &&
        (await rows('SELECT 1 FROM appointment WHERE organization = $1', [org.id])).length === appointments.length &&
        (options.reviewLink === false || (await rows('SELECT 1 FROM review_link WHERE ref = $1', [records.facility._id])).length === 1),
      { timeoutMs: 30_000, message: 'read models kept' },
    );
    return { org, phone, records, appointments };
  };

  /** Asks for feedback on a visit and sends the survey text. */
  const ask = async (org: string, appointment: string) => {
    const survey = await service.built.feedback.requestFeedbackOn(org, appointment, randomUUID());
    await drain();
    return survey!;
  };

  it('texts one NPS question about a past visit, once however often it is asked', async () => {
    const { org, phone, appointments } = await clinic();
    const first = await ask(org.id, appointments[0]!._id);
    const again = await ask(org.id, appointments[0]!._id);
    expect(again.id).toBe(first.id);
    const texts = textsTo(phone);
    expect(texts).toHaveLength(1);
    expect(texts[0]).toContain('how likely are you to recommend Main Street Clinic');
    expect(texts[0]).toContain('0 (not at all) to 10');
    const survey = await surveyOf(appointments[0]!._id);
    expect(survey.sent_at).toEqual(clock.now);
    expect(survey.score).toBeNull();
    const [reminder] = await rows('SELECT type::text AS type, status::text AS status, message_template FROM reminder WHERE id = $1', [
      survey.reminder,
    ]);
    expect(reminder).toEqual({ type: 'feedback', status: 'sent', message_template: 'feedback-request' });
  });

  it('reads a reply of 9 as a promoter and texts the tracked review link, whose opening is counted once', async () => {
    const { org, phone, appointments } = await clinic();
    await ask(org.id, appointments[0]!._id);
    expect((await reply(phone, '9')).statusCode).toBe(200);
    await drain();
    const survey = await surveyOf(appointments[0]!._id);
    expect(survey).toMatchObject({ score: 9, category: 'promoter', channel: 'sms', follow_up_required: false, review_link: REVIEW_PAGE });
    const answer = textsTo(phone).at(-1)!;
    expect(answer).toContain('Would you share your experience');
    const link = /https:\/\/\S+/.exec(answer)![0];
    expect(link).toBe(`${PUBLIC_URL}/api/feedbackResponses/r/${survey.review_token}`);
    const path = link.slice(PUBLIC_URL.length);

    // The reply is a score, not a keyword: it is published as such, about the visit.
    const published = await waitFor(
      () => events.seen.find((event) => event.type === 'reply.received' && (event.data as { _id: string })._id === survey.reply),
      { timeoutMs: 30_000, message: 'reply.received' },
    );
    expect(published.data).toMatchObject({ intent: 'other', classification: 'positive', appointment: appointments[0]!._id });

    const opened = await service.app.inject({ url: path });
    expect(opened.statusCode).toBe(302);
    expect(opened.headers.location).toBe(REVIEW_PAGE);
    const firstOpening = (await surveyOf(appointments[0]!._id)).review_clicked_at;
    expect(firstOpening).toEqual(clock.now);
    clock.set('2026-08-03T14:05:00Z');
    expect((await service.app.inject({ url: path })).statusCode).toBe(302);
    expect((await surveyOf(appointments[0]!._id)).review_clicked_at).toEqual(firstOpening);
    clock.set('2026-08-03T14:00:00Z');
    expect((await service.app.inject({ url: '/api/feedbackResponses/r/AAAAAAAAAAAAAAAAAAAAAAAA' })).statusCode).toBe(404);

    const clicks = await service.app.inject({ url: '/api/feedbackResponses/reports/clicks', headers: await as(org.staff) });
    expect(clicks.json()).toMatchObject({ sent: 1, opened: 1, openRate: 100 });
  });

  it('thanks a promoter of a facility with no review page, without a link', async () => {
    const { org, phone, appointments } = await clinic({ reviewLink: false });
    await ask(org.id, appointments[0]!._id);
    await reply(phone, '10');
    await drain();
    expect(textsTo(phone).at(-1)).toBe('Thank you for your feedback, Rosa.');
    expect(await surveyOf(appointments[0]!._id)).toMatchObject({ category: 'promoter', review_token: null });
  });

  it('sends a promoter of a facility with no review page to the organization’s, and none once that setting is deleted', async () => {
    const { org, phone, appointments } = await clinic({ visits: 2, reviewLink: false });
    const settingId = randomUUID();
    const organizationSetting = (deleted: boolean) =>
      publish(
        service.bus,
        settingsChangedV1,
        org.id,
        settingId,
        {
          _id: settingId,
          organization: org.id,
          ref: 'organization',
          refId: org.id,
          settings: { reviewLink: 'https://reviews.example/whole-practice' },
          unsubscribed: [],
          unsubscribedAll: false,
          deleted,
        },
        '/services/auth',
      );
    await organizationSetting(false);
    await waitFor(async () => (await rows('SELECT url FROM review_link WHERE ref = $1', [org.id]))[0]?.url !== undefined, {
      timeoutMs: 30_000,
      message: 'organization review link kept',
    });
    await ask(org.id, appointments[0]!._id);
    await reply(phone, '9');
    expect(await surveyOf(appointments[0]!._id)).toMatchObject({ review_link: 'https://reviews.example/whole-practice' });

    await organizationSetting(true);
    await waitFor(async () => (await rows('SELECT url FROM review_link WHERE ref = $1', [org.id]))[0]?.url === null, {
      timeoutMs: 30_000,
      message: 'organization review link removed',
    });
    await ask(org.id, appointments[1]!._id);
    await reply(phone, '10');
    expect(await surveyOf(appointments[1]!._id)).toMatchObject({ category: 'promoter', review_link: null, review_token: null });
  });

  it('reads a reply of 3 as a detractor: an apology, and the survey waits for staff to follow up', async () => {
    const { org, phone, appointments } = await clinic();
    await ask(org.id, appointments[0]!._id);
    await reply(phone, '3');
    await drain();
    expect(textsTo(phone).at(-1)).toContain('We are sorry your visit to Main Street Clinic');
    const survey = await surveyOf(appointments[0]!._id);
    expect(survey).toMatchObject({ score: 3, category: 'detractor', follow_up_required: true, review_token: null });
    const waiting = await service.app.inject({
      url: '/api/feedbackResponses/reports/detractors?followUpRequired=true',
      headers: await as(org.staff),
    });
    expect(waiting.statusCode).toBe(200);
    expect(waiting.json().response.map((row: { _id: string }) => row._id)).toEqual([survey.id]);
  });

  it('tells staff of a detractor once, however often the score arrives; each user clears it from their own list', async () => {
    const { org, phone, records, appointments } = await clinic({ visits: 2 });
    await ask(org.id, appointments[0]!._id);
    const sid = `SM${randomUUID().replace(/-/g, '')}`;
    await reply(phone, '2', sid);
    await reply(phone, '2', sid);
    const survey = await surveyOf(appointments[0]!._id);
    // The same score again on the web is no change either.
    const again = await service.app.inject({
      method: 'POST',
      url: '/api/feedbackResponses/score',
      headers: await as(org.staff),
      payload: { feedbackRequest: survey.id, score: 2 },
    });
    expect(again.statusCode, again.body).toBe(200);
    // A promoter raises nothing.
    await ask(org.id, appointments[1]!._id);
    await reply(phone, '10');

    const list = async (identity: Parameters<typeof as>[0], query = '') => {
      const response = await service.app.inject({ url: `/api/notifications${query}`, headers: await as(identity) });
      expect(response.statusCode, response.body).toBe(200);
      return response.json() as { total: number; page: number; limit: number; response: Array<Record<string, unknown>> };
    };
    const mine = await list(org.staff);
    expect(mine.total).toBe(1);
    expect(mine.response[0]).toMatchObject({
      type: 'feedback.detractor',
      ref: 'feedback-response',
      refId: survey.id,
      patient: records.patient._id,
      facility: records.facility._id,
      provider: records.provider._id,
      cleared: false,
      user: org.id,
    });
    // Staff-facing and short: it names no patient.
    expect(JSON.stringify(mine.response[0])).not.toContain('Rosa');
    expect((await list(org.staff, `?facility=${records.facility._id}&provider=${records.provider._id}`)).total).toBe(1);
    const elsewhere = await service.app.inject({ url: `/api/notifications?facility=${randomUUID()}`, headers: await as(org.staff) });
    expect([elsewhere.statusCode, elsewhere.json().errors[0].field]).toEqual([404, 'querystring.facility']);
    expect((await list(organization().staff)).total).toBe(0);
    const bad = await service.app.inject({ url: '/api/notifications?cleared=maybe', headers: await as(org.staff) });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('cleared');

    const clear = async (identity: Parameters<typeof as>[0], payload?: Record<string, unknown>) =>
      service.app.inject({ method: 'PUT', url: '/api/notifications/clear', headers: await as(identity), ...(payload ? { payload } : {}) });
    const id = mine.response[0]!['_id'] as string;
    // Another organization's id: 404 naming it, nothing cleared.
    const foreign = await clear(organization().staff, { ids: [id] });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.body).toContain('body.ids.0');
    expect((await clear(org.staff, { ids: [id] })).json()).toEqual({ cleared: 1 });
    expect((await clear(org.staff)).json()).toEqual({ cleared: 0 });
    expect((await list(org.staff, '?cleared=false')).total).toBe(0);
    expect((await list(org.staff, '?cleared=true')).response[0]).toMatchObject({ _id: id, cleared: true });
    // Another user of the organization still has it.
    expect((await list(org.admin, '?cleared=false')).total).toBe(1);
    expect((await clear(org.admin)).json()).toEqual({ cleared: 1 });
    expect(await rows('SELECT cardinality(cleared_by) AS users FROM notification WHERE organization = $1', [org.id])).toEqual([
      { users: 2 },
    ]);
    // A patient is not staff.
    expect((await service.app.inject({ url: '/api/notifications', headers: await as(org.patient) })).statusCode).toBe(403);
  });

  it('reads 1 and 2 after a survey as scores, never as confirming or cancelling the visit', async () => {
    const { org, phone, appointments } = await clinic();
    await ask(org.id, appointments[0]!._id);
    await reply(phone, '2');
    const survey = await surveyOf(appointments[0]!._id);
    expect(survey).toMatchObject({ score: 2, category: 'detractor' });
    const [message] = await rows('SELECT classification::text AS classification FROM message WHERE id = $1', [survey.reply]);
    expect(message.classification).toBe('negative');
    const published = await waitFor(
      () => events.seen.find((event) => event.type === 'reply.received' && (event.data as { _id: string })._id === survey.reply),
      { timeoutMs: 30_000, message: 'reply.received' },
    );
    expect(published.data).toMatchObject({ intent: 'other' });
  });

  it('has one effect for a webhook delivered twice, and keeps the first score against a later reply', async () => {
    const { org, phone, appointments } = await clinic();
    await ask(org.id, appointments[0]!._id);
    const sid = `SM${randomUUID().replace(/-/g, '')}`;
    expect((await reply(phone, ' 10! ', sid)).statusCode).toBe(200);
    expect((await reply(phone, ' 10! ', sid)).statusCode).toBe(200);
    await reply(phone, '4');
    await drain();
    const survey = await surveyOf(appointments[0]!._id);
    expect(survey).toMatchObject({ score: 10, category: 'promoter' });
    const answers = await rows(`SELECT message_template FROM reminder WHERE appointment = $1 AND message_template <> 'feedback-request'`, [
      appointments[0]!._id,
    ]);
    expect(answers).toEqual([{ message_template: 'feedback-promoter' }]);
    expect(await rows(`SELECT 1 FROM message WHERE external_id = $1`, [sid])).toHaveLength(1);
    // Survey text, the promoter's answer; the later 4 earned nothing.
    expect(textsTo(phone)).toHaveLength(2);
  });

  it('scores on the web once: the patient their own survey, the same score again is no change, another is 409', async () => {
    const { org, phone, records, appointments } = await clinic();
    const survey = await ask(org.id, appointments[0]!._id);
    const patient = await as({ organization: org.id, user: records.patient._id, roles: ['patient'] });
    const stranger = await as({ organization: org.id, user: randomUUID(), roles: ['patient'] });
    const score = (headers: Record<string, string>, payload: Record<string, unknown>) =>
      service.app.inject({ method: 'POST', url: '/api/feedbackResponses/score', headers, payload });

    const bad = await score(patient, { feedbackRequest: survey.id, score: 11 });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(bad.json().errors.map((error: { field: string }) => error.field)).toContain('body.score');
    const unnamed = await score(patient, { score: 5 });
    expect(unnamed.json().errors.map((error: { field: string }) => error.field)).toContain('body.feedbackRequest');
    expect((await score(stranger, { feedbackRequest: survey.id, score: 9 })).statusCode).toBe(404);
    expect(await surveyOf(appointments[0]!._id)).toMatchObject({ score: null });

    const scored = await score(patient, { id: survey.id, score: 6, comment: 'Waited forty minutes' });
    expect(scored.statusCode, scored.body).toBe(200);
    expect(scored.json()).toMatchObject({ score: 6, category: 'detractor', channel: 'web', negativeComment: 'Waited forty minutes' });
    expect((await score(patient, { id: survey.id, score: 6 })).statusCode).toBe(200);
    const changed = await score(patient, { id: survey.id, score: 9 });
    expect(changed.statusCode).toBe(409);
    expect(changed.json().errors).toEqual([{ field: 'body.score', message: 'already answered with 6' }]);
    await drain();
    expect(textsTo(phone).at(-1)).toContain('We are sorry');
  });

  it('records and reads positive and negative comments', async () => {
    const { org, appointments } = await clinic();
    const survey = await ask(org.id, appointments[0]!._id);
    const staff = await as(org.staff);
    const posted = await service.app.inject({
      method: 'POST',
      url: '/api/feedbackResponses/positive',
      headers: staff,
      payload: { feedbackRequest: survey.id, comment: 'Lovely front desk' },
    });
    expect(posted.statusCode, posted.body).toBe(200);
    const read = await service.app.inject({ url: `/api/feedbackResponses/positive/${survey.id}`, headers: staff });
    expect(read.json()).toMatchObject({ _id: survey.id, positiveComment: 'Lovely front desk', negativeComment: null });
    expect((await service.app.inject({ url: `/api/feedbackResponses/negative/${survey.id}`, headers: staff })).statusCode).toBe(404);
    const empty = await service.app.inject({
      method: 'POST',
      url: '/api/feedbackResponses/negative',
      headers: staff,
      payload: { feedbackRequest: survey.id, comment: '   ' },
    });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().errors.map((error: { field: string }) => error.field)).toContain('body.comment');
  });

  it('reports NPS for a period, by facility and by month, in lists and a workbook', async () => {
    const { org, records, appointments } = await clinic({ visits: 5 });
    // Five more visits at a second facility.
    const second = { ...records.facility, _id: randomUUID(), name: 'Harbour Branch' };
    await publish(service.bus, facilityCreatedV1, org.id, second._id, second, '/services/scheduling');
    for (let visit = 0; visit < 5; visit++) {
      const appointment = appointmentData(records, '2026-07-30T15:00:00.000Z', { status: 'confirmed', facility: second._id });
      await scheduling.book(service.bus, org.id, appointment);
      appointments.push(appointment);
    }
    await waitFor(
      async () =>
        (await rows('SELECT 1 FROM facility WHERE id = $1', [second._id])).length === 1 &&
        (await rows('SELECT 1 FROM appointment WHERE organization = $1', [org.id])).length === 10,
      { timeoutMs: 30_000, message: 'second facility and its visits kept' },
    );
    const staff = await as(org.staff);
    // Main Street: 9, 9, 10, 10, 3 (NPS 60); Harbour: 9, 7, 8, 0, 6 (NPS −20); all: 5 promoters, 2 passives, 3 detractors.
    const scores = [9, 9, 10, 10, 3, 9, 7, 8, 0, 6];
    for (const [index, appointment] of appointments.entries()) {
      // The first three asked and answered in July, the rest in August.
      clock.set(index < 3 ? '2026-07-31T14:00:00Z' : '2026-08-03T14:00:00Z');
      const survey = await ask(org.id, appointment._id);
      const answered = await service.app.inject({
        method: 'POST',
        url: '/api/feedbackResponses/score',
        headers: staff,
        payload: { feedbackRequest: survey.id, score: scores[index] },
      });
      expect(answered.statusCode, answered.body).toBe(200);
    }
    clock.set('2026-08-03T14:00:00Z');
    const get = async (url: string) => {
      const response = await service.app.inject({ url, headers: staff });
      expect(response.statusCode, `${url}: ${response.body}`).toBe(200);
      return response.json();
    };
    expect(await get('/api/feedbackResponses/reports/npsscore')).toEqual({
      answered: 10,
      promoters: 5,
      passives: 2,
      detractors: 3,
      nps: 20,
    });
    // August: 10, 3, 9, 7, 8, 0, 6: (2 − 3) / 7 = −14.3%.
    expect(await get('/api/feedbackResponses/reports/npsscore?from=2026-08-01T00:00:00Z')).toMatchObject({ answered: 7, nps: -14 });
    const byFacility = await get('/api/feedbackResponses/reports/npsscores?by=facility');
    expect(byFacility.response).toEqual([
      { key: second._id, name: 'Harbour Branch', answered: 5, promoters: 1, passives: 2, detractors: 2, nps: -20 },
      { key: records.facility._id, name: 'Main Street Clinic', answered: 5, promoters: 4, passives: 0, detractors: 1, nps: 60 },
    ]);
    const byMonth = await get('/api/feedbackResponses/reports/npsscores?by=month');
    expect(byMonth.response.map((row: { key: string; answered: number; nps: number }) => [row.key, row.answered, row.nps])).toEqual([
      ['2026-07', 3, 100],
      ['2026-08', 7, -14],
    ]);
    expect((await get('/api/feedbackResponses/reports/npsscores?by=provider')).response).toEqual([
      { key: records.provider._id, name: 'Grace Hopper', answered: 10, promoters: 5, passives: 2, detractors: 3, nps: 20 },
    ]);
    expect(await get('/api/feedbackResponses/reports/summary')).toMatchObject({
      sent: 10,
      answered: 10,
      responseRate: 100,
      nps: 20,
      followUpRequired: 3,
      reviewLinksSent: 4,
      reviewLinksOpened: 0,
    });
    expect((await get('/api/feedbackResponses/promoters')).total).toBe(5);
    expect((await get('/api/feedbackResponses/detractors')).total).toBe(3);
    expect((await get('/api/feedbackResponses/reports/promoters?limit=2')).response).toHaveLength(2);
    expect((await get('/api/feedbackResponses/reports/find?category=passive')).total).toBe(2);
    expect((await get('/api/feedbackResponses/reports/findAll')).response).toHaveLength(10);
    expect((await get('/api/feedbackResponses?answered=false')).total).toBe(0);

    const workbook = await service.app.inject({ url: '/api/feedbackResponses/reports/xls?category=detractor', headers: staff });
    expect(workbook.statusCode).toBe(200);
    expect(workbook.headers['content-type']).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    const book = new ExcelJS.Workbook();
    await book.xlsx.load(workbook.rawPayload as unknown as ArrayBuffer);
    const sheet = book.getWorksheet('Feedback')!;
    expect((sheet.getRow(1).values as unknown[]).slice(1)).toEqual(FEEDBACK_WORKBOOK_HEADERS);
    expect(sheet.rowCount).toBe(4);
    expect([2, 3, 4].map((row) => sheet.getRow(row).getCell(7).value).sort((x, y) => Number(x) - Number(y))).toEqual([0, 3, 6]);
  });
});
