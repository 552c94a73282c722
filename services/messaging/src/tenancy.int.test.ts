import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { assertNoSchemaDrift } from '@pep/schema-drift';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appointmentData,
  as,
  organization,
  scheduling,
  startMessaging,
  testClock,
  world,
  type MessagingUnderTest,
} from '../test/harness.js';
import { NOT_BUILT } from './not-built.routes.js';

describe('messaging service: one organization never reaches another’s records', () => {
  let service: MessagingUnderTest;
  let sql: pg.Client;
  const a = organization();
  const b = organization();
  const ofB = {
    reminder: '',
    message: '',
    template: '',
    cannedReply: '',
    patient: '',
    appointment: '',
    broadcast: '',
    facility: '',
    provider: '',
    survey: '',
    followup: '',
    notification: '',
  };
  /** A's own patient, and an appointment of another patient of A's. */
  let worldOfA: Awaited<ReturnType<typeof world>>;
  const ofA = { appointmentOfAnother: '', reminder: '' };

  beforeAll(async () => {
    service = await startMessaging('tenancy', await kafkaBrokers(), { clock: testClock('2026-07-01T15:00:00Z') });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    const asB = await as(b.admin);
    const records = await world(service.bus, b.id, { patient: { firstname: 'Bella', lastname: 'Bravo', phone: '+15551234321' } });
    worldOfA = await world(service.bus, a.id);
    const anotherOfA = await world(service.bus, a.id);
    for (const patient of [records.patient._id, worldOfA.patient._id, anotherOfA.patient._id]) {
      await waitFor(async () => (await sql.query('SELECT 1 FROM patient_contact WHERE id = $1', [patient])).rows.length === 1, {
        timeoutMs: 30_000,
        message: 'contact kept',
      });
    }
    const appointmentOfAnother = appointmentData(anotherOfA, '2026-07-21T15:00:00.000Z');
    ofA.appointmentOfAnother = appointmentOfAnother._id;
    await scheduling.book(service.bus, a.id, appointmentOfAnother);
    const appointment = appointmentData(records, '2026-07-20T15:00:00.000Z');
    await scheduling.book(service.bus, b.id, appointment);
    for (const booked of [appointment._id, ofA.appointmentOfAnother]) {
      await waitFor(async () => (await sql.query('SELECT 1 FROM reminder WHERE appointment = $1', [booked])).rows.length === 3, {
        timeoutMs: 30_000,
        message: 'reminders planned',
      });
    }
    const create = async (url: string, payload: Record<string, unknown>) => {
      const response = await service.app.inject({ method: 'POST', url, headers: asB, payload });
      expect(response.statusCode, response.body).toBe(200);
      return response.json()._id as string;
    };
    ofB.patient = records.patient._id;
    ofB.appointment = appointment._id;
    ofB.facility = records.facility._id;
    ofB.provider = records.provider._id;
    ofB.reminder = await create('/api/reminders', {
      patient: records.patient._id,
      sendAt: '2026-07-10T15:00:00Z',
      text: 'Bravo secret reminder',
    });
    ofB.message = await create('/api/messages', { patient: records.patient._id, text: 'Bravo secret message' });
    ofB.template = await create('/api/messageTemplates', { key: 'reminder', text: 'Bravo wording {{patient.firstname}}' });
    // A key only B has wording for.
    await create('/api/messageTemplates', { key: 'bravo-only', text: 'Bravo special' });
    ofB.cannedReply = await create('/api/patientMessageTemplates', { name: 'Bravo canned', text: 'Bravo canned text' });
    ofB.survey = (await service.built.feedback.requestFeedbackOn(b.id, appointment._id, randomUUID()))!.id;
    // A detractor's score raises B a notification.
    expect(
      (
        await service.app.inject({
          method: 'POST',
          url: '/api/feedbackResponses/score',
          headers: asB,
          payload: { feedbackRequest: ofB.survey, score: 1 },
        })
      ).statusCode,
    ).toBe(200);
    ofB.notification = (await sql.query('SELECT id FROM notification WHERE organization = $1', [b.id])).rows[0].id;
    for (const kind of ['positive', 'negative'])
      await create(`/api/feedbackResponses/${kind}`, { feedbackRequest: ofB.survey, comment: `Bravo ${kind}` });
    ofB.broadcast = await create('/api/broadcasts', {
      title: 'Bravo broadcast',
      type: 'uploaded',
      patients: [records.patient._id],
      message: 'Bravo secret broadcast',
      sendAt: '2026-08-01T15:00:00Z',
    });
    ofB.followup = await create('/api/followups', {
      name: 'Bravo no-show rule',
      group: 'Bravo group',
      trigger: { event: 'no-show', delayDays: 1, sendAt: '09:00' },
      conditions: { facilities: [records.facility._id] },
      action: 'text',
      text: 'Bravo secret follow-up',
    });
    const own = await service.app.inject({
      method: 'POST',
      url: '/api/reminders',
      headers: await as(a.admin),
      payload: { patient: worldOfA.patient._id, sendAt: '2026-07-14T15:00:00Z', text: 'A reminder' },
    });
    expect(own.statusCode, own.body).toBe(200);
    ofA.reminder = own.json()._id;
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  /** Every row that belongs to organization B. */
  const snapshotOfB = async () => {
    const query = async (table: string) => (await sql.query(`SELECT * FROM ${table} WHERE organization = $1 ORDER BY id`, [b.id])).rows;
    return {
      reminders: await query('reminder'),
      messages: await query('message'),
      templates: await query('message_template'),
      cannedReplies: await query('patient_message_template'),
      surveys: await query('feedback_response'),
      broadcasts: await query('broadcast'),
      followups: await query('followup_rule'),
      notifications: await query('notification'),
      events: (await sql.query("SELECT id FROM outbox WHERE envelope->>'organization' = $1 ORDER BY seq", [b.id])).rows,
    };
  };

  /** Each built route that takes an id, called by A with B's ids. */
  const attempts = () =>
    (
      [
        { method: 'GET', route: '/api/reminders/:id', id: ofB.reminder },
        { method: 'PUT', route: '/api/reminders/:id', id: ofB.reminder, payload: { text: 'Hacked' } },
        { method: 'DELETE', route: '/api/reminders/:id', id: ofB.reminder },
        { method: 'GET', route: '/api/messages/:id', id: ofB.message },
        { method: 'DELETE', route: '/api/messageTemplates/:id', id: ofB.template },
        { method: 'GET', route: '/api/patientMessageTemplates/:id', id: ofB.cannedReply },
        { method: 'PUT', route: '/api/patientMessageTemplates/:id', id: ofB.cannedReply, payload: { text: 'Hacked' } },
        { method: 'DELETE', route: '/api/patientMessageTemplates/:id', id: ofB.cannedReply },
        { method: 'GET', route: '/api/feedbackResponses/positive/:id', id: ofB.survey },
        { method: 'GET', route: '/api/feedbackResponses/negative/:id', id: ofB.survey },
        { method: 'GET', route: '/api/broadcasts/:id', id: ofB.broadcast },
        { method: 'PUT', route: '/api/broadcasts/:id', id: ofB.broadcast, payload: { title: 'Hacked' } },
        { method: 'DELETE', route: '/api/broadcasts/:id', id: ofB.broadcast },
        { method: 'GET', route: '/api/broadcasts/:id/xls', id: ofB.broadcast },
        { method: 'GET', route: '/api/followups/:id', id: ofB.followup },
        { method: 'PUT', route: '/api/followups/:id', id: ofB.followup, payload: { name: 'Hacked' } },
        { method: 'DELETE', route: '/api/followups/:id', id: ofB.followup },
      ] as Array<{ method: 'GET' | 'PUT' | 'DELETE'; route: string; id: string; payload?: Record<string, unknown> }>
    ).map((attempt) => ({ ...attempt, url: attempt.route.replace(':id', attempt.id) }));

  it('has no drift between its migrations and schema.prisma on Postgres', async () => {
    await assertNoSchemaDrift({ schemaPath: fileURLToPath(new URL('../prisma/schema.prisma', import.meta.url)), db: service.database });
  });

  it('covers every built route that takes an id', async () => {
    const document = (await service.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const notBuilt = new Set(NOT_BUILT.map(([method, url]) => `${method} ${url}`));
    const withIds = Object.entries(document.paths)
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`))
      .filter((route) => route.includes('/:') && !notBuilt.has(route));
    const covered = new Set([
      ...attempts().map((attempt) => `${attempt.method} ${attempt.route}`),
      // Ids of patients and appointments filter A's own reminders; keys name A's own templates (tested below).
      'GET /api/reminders/findByApptId/:id',
      'GET /api/reminders/findByPatientId/:id',
      'GET /api/messageTemplates/:key',
      'POST /api/messageTemplates/:key',
      'GET /api/messageTemplates/:key/resolve',
      // Signed by Twilio rather than called by a user: tested with signatures in messages.int.test.ts.
      'POST /api/callback/twilio/:id',
      // Public, found by its unguessable token, and answering only a redirect: tested in feedback.int.test.ts.
      'GET /api/feedbackResponses/r/:token',
    ]);
    expect(withIds.filter((route) => !covered.has(route))).toEqual([]);
  });

  it("answers 404 for B's ids to A's admin and changes none of B's rows", async () => {
    const before = await snapshotOfB();
    const headers = await as(a.admin);
    for (const attempt of attempts()) {
      const response = await service.app.inject({
        method: attempt.method,
        url: attempt.url,
        headers,
        ...(attempt.payload ? { payload: attempt.payload } : {}),
      });
      expect(response.statusCode, `${attempt.method} ${attempt.url}`).toBe(404);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      for (const secret of ['Bravo', 'Bella', '+15551234321']) expect(response.body).not.toContain(secret);
    }
    expect(await snapshotOfB()).toEqual(before);
  });

  it("shows A nothing of B's in lists, reports and templates", async () => {
    const before = await snapshotOfB();
    const headers = await as(a.admin);
    for (const url of [
      '/api/reminders',
      '/api/reminders/crudList',
      '/api/reminders/reports/find',
      '/api/messages',
      '/api/messages/crudList',
      '/api/messageTemplates/list',
      '/api/messageTemplates/',
      '/api/patientMessageTemplates',
      '/api/feedbackResponses',
      '/api/feedbackResponses/reports/findAll',
      '/api/broadcasts',
      '/api/followups',
      '/api/followups/groups',
      '/api/notifications',
    ]) {
      const list = await service.app.inject({ url, headers });
      expect(list.statusCode, url).toBe(200);
      // GET /api/messages is a bare array (v1); the other lists are {response: [...]}.
      const records = Array.isArray(list.json()) ? list.json() : list.json().response;
      expect(
        records.some((record: { _id: string | null }) => Object.values(ofB).includes(record._id ?? '')),
        url,
      ).toBe(false);
      expect(list.body, url).not.toContain('Bravo');
    }
    const remindersOfA = (await sql.query('SELECT count(*)::int AS n FROM reminder WHERE organization = $1 AND NOT deleted', [a.id]))
      .rows[0].n;
    expect((await service.app.inject({ url: '/api/reminders/reports/summary', headers })).json().total).toBe(remindersOfA);
    expect((await service.app.inject({ url: '/api/messageTemplates/reminder', headers })).json()).toMatchObject({ builtIn: true });
    // A's own template with B's key stays A's.
    expect(
      (await service.app.inject({ method: 'POST', url: '/api/messageTemplates/reminder', headers, payload: { text: 'A wording' } }))
        .statusCode,
    ).toBe(200);
    expect(await snapshotOfB()).toEqual(before);
  });

  /** Every row of organization A that a request naming references could add or change. */
  const snapshotOfA = async () => {
    const query = async (table: string) => (await sql.query(`SELECT * FROM ${table} WHERE organization = $1 ORDER BY id`, [a.id])).rows;
    return {
      reminders: await query('reminder'),
      messages: await query('message'),
      templates: await query('message_template'),
      events: (await sql.query("SELECT id FROM outbox WHERE envelope->>'organization' = $1 ORDER BY seq", [a.id])).rows,
    };
  };

  /** Requests of A naming, in their bodies, paths and queries, B's records or records of the wrong patient. */
  const referenceAttempts = () => {
    const sendAt = '2026-07-15T15:00:00Z';
    const patient = worldOfA.patient._id;
    return [
      { method: 'POST', url: '/api/reminders', payload: { patient: ofB.patient, sendAt }, status: 404, field: 'body.patient' },
      {
        method: 'POST',
        url: '/api/reminders',
        payload: { patient, appointment: ofB.appointment, sendAt },
        status: 404,
        field: 'body.appointment',
      },
      {
        method: 'POST',
        url: '/api/reminders',
        payload: { patient: ofB.patient, appointment: ofB.appointment, sendAt },
        status: 404,
        field: 'body.patient',
      },
      {
        method: 'POST',
        url: '/api/reminders',
        payload: { patient, appointment: ofA.appointmentOfAnother, sendAt },
        status: 400,
        field: 'body.appointment',
      },
      {
        method: 'POST',
        url: '/api/reminders',
        payload: { patient, sendAt, messageTemplate: 'bravo-only' },
        status: 404,
        field: 'body.messageTemplate',
      },
      {
        method: 'PUT',
        url: `/api/reminders/${ofA.reminder}`,
        payload: { messageTemplate: 'bravo-only' },
        status: 404,
        field: 'body.messageTemplate',
      },
      { method: 'POST', url: '/api/messages', payload: { patient: ofB.patient, text: 'x' }, status: 404, field: 'body.patient' },
      {
        method: 'POST',
        url: '/api/messages',
        payload: { patient, appointment: ofB.appointment, text: 'x' },
        status: 404,
        field: 'body.appointment',
      },
      {
        method: 'POST',
        url: '/api/messages',
        payload: { patient, appointment: ofA.appointmentOfAnother, text: 'x' },
        status: 400,
        field: 'body.appointment',
      },
      {
        method: 'POST',
        url: '/api/broadcasts',
        payload: { title: 'x', type: 'uploaded', patients: [patient, ofB.patient], message: 'x', sendAt },
        status: 404,
        field: 'body.patients',
      },
      {
        method: 'POST',
        url: '/api/broadcasts/bulk/action',
        payload: { action: 'cancel', ids: [ofB.broadcast] },
        status: 404,
        field: 'body.ids',
      },
      { method: 'GET', url: `/api/broadcasts/patients?facility=${ofB.facility}`, status: 404, field: 'querystring.facility' },
      { method: 'GET', url: `/api/broadcasts/patients?provider=${ofB.provider}`, status: 404, field: 'querystring.provider' },
      {
        method: 'POST',
        url: '/api/followups',
        payload: { name: 'x', trigger: { event: 'no-show' }, conditions: { facilities: [ofB.facility] }, action: 'text' },
        status: 400,
        field: 'body.conditions.facilities.0',
      },
      {
        method: 'POST',
        url: '/api/followups/bulk',
        payload: { followups: [{ _id: ofB.followup, name: 'Hacked', trigger: { event: 'no-show' }, action: 'text' }] },
        status: 404,
        field: 'body.followups.0._id',
      },
      ...['/api/feedbackResponses/score', '/api/feedbackResponses/positive', '/api/feedbackResponses/negative'].flatMap((url) =>
        ['feedbackRequest', 'id'].map((field) => ({
          method: 'POST',
          url,
          payload: { [field]: ofB.survey, ...(url.endsWith('score') ? { score: 9 } : { comment: 'Hacked' }) },
          status: 404,
          field: `body.${field}`,
        })),
      ),
      ...[
        '',
        '/promoters',
        '/detractors',
        '/reports/find',
        '/reports/findAll',
        '/reports/promoters',
        '/reports/detractors',
        '/reports/npsscore',
        '/reports/npsscores',
        '/reports/summary',
        '/reports/clicks',
        '/reports/xls',
      ].flatMap((path) =>
        (['facility', 'provider'] as const).map((field) => ({
          method: 'GET',
          url: `/api/feedbackResponses${path}?${field}=${ofB[field]}`,
          status: 404,
          field: `querystring.${field}`,
        })),
      ),
      { method: 'PUT', url: '/api/notifications/clear', payload: { ids: [ofB.notification] }, status: 404, field: 'body.ids.0' },
      ...(['facility', 'provider'] as const).map((field) => ({
        method: 'GET',
        url: `/api/notifications?${field}=${ofB[field]}`,
        status: 404,
        field: `querystring.${field}`,
      })),
      { method: 'GET', url: `/api/reminders/findByApptId/${ofB.appointment}`, status: 404, field: 'params.id' },
      { method: 'GET', url: `/api/reminders/findByPatientId/${ofB.patient}`, status: 404, field: 'params.id' },
      ...['/api/reminders', '/api/reminders/crudList', '/api/reminders/reports/find'].flatMap((url) => [
        { method: 'GET', url: `${url}?patient=${ofB.patient}`, status: 404, field: 'querystring.patient' },
        { method: 'GET', url: `${url}?appointment=${ofB.appointment}`, status: 404, field: 'querystring.appointment' },
      ]),
      { method: 'GET', url: `/api/messages?patient=${ofB.patient}`, status: 404, field: 'querystring.patient' },
      { method: 'GET', url: `/api/messages/crudList?patient=${ofB.patient}`, status: 404, field: 'querystring.patient' },
      { method: 'GET', url: `/api/messageTemplates/reminder/resolve?patient=${ofB.patient}`, status: 404, field: 'querystring.patient' },
      {
        method: 'GET',
        url: `/api/messageTemplates/reminder/resolve?patient=${patient}&appointment=${ofB.appointment}`,
        status: 404,
        field: 'querystring.appointment',
      },
      {
        method: 'GET',
        url: `/api/messageTemplates/reminder/resolve?patient=${patient}&appointment=${ofA.appointmentOfAnother}`,
        status: 400,
        field: 'querystring.appointment',
      },
    ] as Array<{ method: 'GET' | 'POST' | 'PUT'; url: string; payload?: Record<string, unknown>; status: number; field: string }>;
  };

  it('covers every reference field of every route, in bodies, paths and queries', async () => {
    const document = (await service.app.inject({ url: '/openapi.json' })).json() as {
      paths: Record<
        string,
        Record<
          string,
          {
            parameters?: Array<{ in: string; name: string; schema?: { format?: string } }>;
            requestBody?: {
              content: Record<string, { schema: { properties?: Record<string, { format?: string; items?: { format?: string } }> } }>;
            };
          }
        >
      >;
    };
    const notBuilt = new Set(NOT_BUILT.map(([method, url]) => `${method} ${url}`));
    const referenceFields = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).flatMap(([method, operation]) => {
        const route = `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`;
        if (notBuilt.has(route)) return [];
        const body = Object.entries(operation.requestBody?.content['application/json']?.schema.properties ?? {})
          .filter(([name, schema]) => schema.format === 'uuid' || schema.items?.format === 'uuid' || name === 'messageTemplate')
          .map(([name]) => `${route} body.${name}`);
        const query = (operation.parameters ?? [])
          .filter((parameter) => parameter.in === 'query' && parameter.schema?.format === 'uuid')
          .map((parameter) => `${route} querystring.${parameter.name}`);
        return [...body, ...query];
      }),
    );
    const attempted = new Set(
      referenceAttempts().map((attempt) => {
        const path = attempt.url.split('?')[0]!;
        return `${attempt.method} ${path.replace(/\/[0-9a-f-]{36}(?=\/|$)/g, '/:id').replace('/reminder/resolve', '/:key/resolve')} ${attempt.field}`;
      }),
    );
    // Variants of one route answer from the same code as the one attempted: the slash-suffixed list and the report list.
    for (const [route, twin] of [
      ['POST /api/reminders/', 'POST /api/reminders'],
      ['GET /api/reminders/', 'GET /api/reminders'],
      ['POST /api/messages/', 'POST /api/messages'],
      ['GET /api/messages/', 'GET /api/messages'],
    ]) {
      for (const field of [...attempted]) if (field.startsWith(`${twin} `)) attempted.add(field.replace(`${twin} `, `${route} `));
    }
    // Filters by a record messaging keeps no copy of: another organization's appointment type matches none of this
    // organization's appointments, so it reveals nothing and answers an empty audience rather than 404.
    const filtersOnly = new Set(['GET /api/broadcasts/patients querystring.appointmentType']);
    expect(referenceFields.length).toBeGreaterThanOrEqual(8);
    expect(referenceFields.filter((field) => !attempted.has(field) && !filtersOnly.has(field))).toEqual([]);
  });

  it("answers 404 naming the field for B's patients, appointments and template keys, 400 for another patient's appointment, and writes nothing", async () => {
    const headers = await as(a.admin);
    const beforeA = await snapshotOfA();
    const beforeB = await snapshotOfB();
    for (const attempt of referenceAttempts()) {
      const response = await service.app.inject({
        method: attempt.method,
        url: attempt.url,
        headers,
        ...(attempt.payload ? { payload: attempt.payload } : {}),
      });
      const label = `${attempt.method} ${attempt.url} ${JSON.stringify(attempt.payload ?? {})}`;
      expect(response.statusCode, label).toBe(attempt.status);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(
        response.json().errors.map((error: { field: string }) => error.field),
        label,
      ).toEqual([attempt.field]);
      for (const secret of ['Bravo', 'Bella', '+15551234321']) expect(response.body, label).not.toContain(secret);
    }
    expect(await snapshotOfA()).toEqual(beforeA);
    expect(await snapshotOfB()).toEqual(beforeB);
  });

  it('asks the owner about ids messaging has not heard of, and answers 503 with Retry-After when it cannot, writing and sending nothing', async () => {
    const headers = await as(a.admin);
    const before = await snapshotOfA();
    // Neither patients nor scheduling runs in this suite (services/embedded/src/owner-lookups.int.test.ts asks the real
    // ones): an id no event brought cannot be checked, so it is neither accepted blindly nor refused.
    const unheardOf = randomUUID();
    for (const [method, url, payload] of [
      ['POST', '/api/reminders', { patient: unheardOf, sendAt: '2026-07-15T15:00:00Z' }],
      ['POST', '/api/reminders', { patient: worldOfA.patient._id, appointment: unheardOf, sendAt: '2026-07-15T15:00:00Z' }],
      ['POST', '/api/messages', { patient: unheardOf, text: 'x' }],
      ['GET', `/api/reminders/findByPatientId/${unheardOf}`],
      ['GET', `/api/reminders/findByApptId/${unheardOf}`],
      ['GET', `/api/messages?patient=${unheardOf}`],
      ['GET', `/api/messageTemplates/reminder/resolve?patient=${unheardOf}`],
    ] as Array<['GET' | 'POST', string, Record<string, unknown>?]>) {
      const response = await service.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
      expect(response.statusCode, `${method} ${url}`).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(response.json()).toMatchObject({ status: 503, type: '/problems/owner-unavailable' });
    }
    expect(await snapshotOfA()).toEqual(before);
  });
});
