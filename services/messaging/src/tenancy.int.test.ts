import { fileURLToPath } from 'node:url';
import { assertNoSchemaDrift } from '@pep/db';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appointmentData, as, organization, scheduling, startMessaging, testClock, world, type MessagingUnderTest } from '../test/harness.js';
import { NOT_BUILT } from './not-built.routes.js';

describe('messaging service: one organization never reaches another’s records', () => {
  let service: MessagingUnderTest;
  let sql: pg.Client;
  const a = organization();
  const b = organization();
  const ofB = { reminder: '', message: '', template: '', cannedReply: '', patient: '', appointment: '' };

  beforeAll(async () => {
    service = await startMessaging('tenancy', await kafkaBrokers(), { clock: testClock('2026-07-01T15:00:00Z') });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    const asB = await as(b.admin);
    const records = await world(service.bus, b.id, { patient: { firstname: 'Bella', lastname: 'Bravo', phone: '+15551234321' } });
    await world(service.bus, a.id);
    await waitFor(async () => (await sql.query('SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).rows.length === 1, { timeoutMs: 30_000, message: 'contact kept' });
    const appointment = appointmentData(records, '2026-07-20T15:00:00.000Z');
    await scheduling.book(service.bus, b.id, appointment);
    await waitFor(async () => (await sql.query('SELECT 1 FROM reminder WHERE appointment = $1', [appointment._id])).rows.length === 3, { timeoutMs: 30_000, message: 'reminders planned' });
    const create = async (url: string, payload: Record<string, unknown>) => {
      const response = await service.app.inject({ method: 'POST', url, headers: asB, payload });
      expect(response.statusCode, response.body).toBe(200);
      return response.json()._id as string;
    };
    ofB.patient = records.patient._id;
    ofB.appointment = appointment._id;
    ofB.reminder = await create('/api/reminders', { patient: records.patient._id, sendAt: '2026-07-10T15:00:00Z', text: 'Bravo secret reminder' });
    ofB.message = await create('/api/messages', { patient: records.patient._id, text: 'Bravo secret message' });
    ofB.template = await create('/api/messageTemplates', { key: 'reminder', text: 'Bravo wording {{patient.firstname}}' });
    ofB.cannedReply = await create('/api/patientMessageTemplates', { name: 'Bravo canned', text: 'Bravo canned text' });
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
    ]);
    expect(withIds.filter((route) => !covered.has(route))).toEqual([]);
  });

  it("answers 404 for B's ids to A's admin and changes none of B's rows", async () => {
    const before = await snapshotOfB();
    const headers = await as(a.admin);
    for (const attempt of attempts()) {
      const response = await service.app.inject({ method: attempt.method, url: attempt.url, headers, ...(attempt.payload ? { payload: attempt.payload } : {}) });
      expect(response.statusCode, `${attempt.method} ${attempt.url}`).toBe(404);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      for (const secret of ['Bravo', 'Bella', '+15551234321']) expect(response.body).not.toContain(secret);
    }
    expect(await snapshotOfB()).toEqual(before);
  });

  it("shows A nothing of B's in lists, reports and templates, and refuses B's patient and appointment", async () => {
    const before = await snapshotOfB();
    const headers = await as(a.admin);
    for (const url of [
      '/api/reminders',
      '/api/reminders/crudList',
      '/api/reminders/reports/find',
      `/api/reminders/findByApptId/${ofB.appointment}`,
      `/api/reminders/findByPatientId/${ofB.patient}`,
      `/api/reminders?patient=${ofB.patient}`,
      '/api/messages',
      `/api/messages?patient=${ofB.patient}`,
      '/api/messages/crudList',
      '/api/messageTemplates/list',
      '/api/messageTemplates/',
      '/api/patientMessageTemplates',
    ]) {
      const list = await service.app.inject({ url, headers });
      expect(list.statusCode, url).toBe(200);
      expect(list.json().response.some((record: { _id: string | null }) => Object.values(ofB).includes(record._id ?? '')), url).toBe(false);
      expect(list.body, url).not.toContain('Bravo');
    }
    expect((await service.app.inject({ url: '/api/reminders/reports/summary', headers })).json().total).toBe(0);
    expect((await service.app.inject({ url: '/api/messageTemplates/reminder', headers })).json()).toMatchObject({ builtIn: true });
    const resolved = await service.app.inject({ url: `/api/messageTemplates/reminder/resolve?patient=${ofB.patient}&appointment=${ofB.appointment}`, headers });
    expect(resolved.statusCode).toBe(200);
    for (const secret of ['Bravo', 'Bella', 'Main Street', 'Grace']) expect(resolved.body).not.toContain(secret);

    expect((await service.app.inject({ method: 'POST', url: '/api/messages', headers, payload: { patient: ofB.patient, text: 'x' } })).statusCode).toBe(400);
    const planned = await service.app.inject({ method: 'POST', url: '/api/reminders', headers, payload: { patient: ofB.patient, appointment: ofB.appointment, sendAt: '2026-07-15T15:00:00Z' } });
    expect(planned.statusCode).toBe(400);
    expect(planned.json().errors).toEqual([{ field: 'body.appointment', message: 'no such appointment' }]);
    // A's own template with B's key stays A's.
    expect((await service.app.inject({ method: 'POST', url: '/api/messageTemplates/reminder', headers, payload: { text: 'A wording' } })).statusCode).toBe(200);
    expect(await snapshotOfB()).toEqual(before);
  });
});
