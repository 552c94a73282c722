import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as auth from '@pep/auth';
import { InProcessBus } from '@pep/bus';
import { migrate, openDatabase, type Database } from '@pep/db';
import * as messaging from '@pep/messaging';
import * as patients from '@pep/patients';
import * as scheduling from '@pep/scheduling';
import { createLogger, signIdentity, type Identity, type ServiceApp } from '@pep/service-kit';
import { createTestDatabase, type TestDatabase } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SECRET = 'owner-lookups-internal-secret-0123456789';

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// A v1 client creates a patient, a provider or an appointment and names it in its very next request, before any event
// can arrive. Here every service has its own bus, so no event ever crosses: each id one service names of another is a
// miss in its read model, and only the real owner, asked over HTTP with the caller's identity, can vouch for it.
describe('services ask the owner about ids their read models have not heard of', () => {
  const databases: Array<{ database: Database; created: TestDatabase }> = [];
  const apps: ServiceApp[] = [];
  let mailDir: string;
  let schedulingApp: ServiceApp;
  let schedulingDatabase: Database;
  let patientsApp: ServiceApp;
  // Where scheduling finds patients; a test points it at a closed port to see patients unreachable.
  let patientsUrl: string | undefined;
  let patientsListensAt: string;
  let authApp: ServiceApp;
  let messagingApp: ServiceApp;

  /** A service on its own Postgres database and its own in-process bus, listening on loopback. */
  type Shared = { logger: ReturnType<typeof createLogger>; database: Database; bus: InProcessBus; internalAuthSecret: string };
  async function start(name: string, migrationsDir: string, build: (shared: Shared) => Promise<ServiceApp>) {
    const created = await createTestDatabase(`owners-${name}`);
    const database = await openDatabase({ kind: 'postgres', url: created.url });
    databases.push({ database, created });
    await migrate(database, { migrationsDir });
    const app = await build({
      logger: createLogger({ service: name, level: 'silent' }),
      database,
      bus: new InProcessBus(),
      internalAuthSecret: SECRET,
    });
    apps.push(app);
    return { app, database, url: await app.listen({ host: '127.0.0.1', port: 0 }) };
  }

  /** The admins of two organizations signed up in auth. */
  let orgA: Identity;
  let orgB: Identity;
  const signUp = async (name: string): Promise<Identity> => {
    const response = await authApp.inject({
      method: 'POST',
      url: '/api/users/signup',
      payload: {
        email: `admin@${name}.example`,
        password: 'correct horse battery staple',
        firstname: 'Ada',
        lastname: 'Admin',
        organizationName: name,
      },
    });
    expect(response.statusCode, response.body).toBe(200);
    return { organization: response.json().organization._id, user: response.json().user._id, roles: ['admin'] };
  };
  const call = async (
    app: ServiceApp,
    identity: Identity,
    method: 'GET' | 'POST' | 'PUT',
    url: string,
    payload?: Record<string, unknown>,
  ) =>
    app.inject({ method, url, headers: { 'x-internal-identity': await signIdentity(SECRET, identity) }, ...(payload ? { payload } : {}) });
  const create = async (app: ServiceApp, identity: Identity, url: string, payload: Record<string, unknown>) => {
    const response = await call(app, identity, 'POST', url, payload);
    expect(response.statusCode, `${url} ${response.body}`).toBe(200);
    return response.json()._id as string;
  };

  /** What each organization created a moment ago in patients and scheduling. */
  const records = async (identity: Identity, patientsApp: ServiceApp) => {
    const patient = await create(patientsApp, identity, '/api/patients', { firstname: 'Ada', lastname: 'Lovelace', phone: '+14155552671' });
    const provider = await create(schedulingApp, identity, '/api/providers', { firstname: 'Grace', lastname: 'Hopper' });
    const facility = await create(schedulingApp, identity, '/api/facilities', { name: 'Main Street Clinic', timeZone: 'America/New_York' });
    const type = await create(schedulingApp, identity, '/api/appointmentTypes', { name: 'Check-up', duration: 30 });
    const appointment = await create(schedulingApp, identity, '/api/appointments', {
      patient,
      provider,
      facility,
      type,
      date: '2036-07-20T15:00:00Z',
    });
    return { patient, provider, facility, type, appointment };
  };
  let a: Awaited<ReturnType<typeof records>>;
  let b: Awaited<ReturnType<typeof records>>;

  beforeAll(async () => {
    mailDir = await mkdtemp(join(tmpdir(), 'pep-owner-lookups-'));
    const patientsService = await start('patients', patients.migrationsDir, (shared) => patients.buildApp(shared));
    patientsApp = patientsService.app;
    patientsListensAt = patientsService.url;
    patientsUrl = patientsListensAt;
    const schedulingService = await start('scheduling', scheduling.migrationsDir, (shared) =>
      scheduling.buildApp({ ...shared, patientsUrl: () => patientsUrl, ownerLookupTimeoutMs: 1_000 }),
    );
    schedulingApp = schedulingService.app;
    schedulingDatabase = schedulingService.database;
    authApp = (
      await start('auth', auth.migrationsDir, (shared) =>
        auth.buildApp({
          ...shared,
          signingKeySecret: 'owner-lookups-signing-secret-0123456789',
          publicUrl: 'http://localhost:3000',
          mailer: { from: 'no-reply@localhost', directory: mailDir },
          schedulingUrl: schedulingService.url,
        }),
      )
    ).app;
    messagingApp = (
      await start('messaging', messaging.migrationsDir, (shared) =>
        messaging.buildApp({
          ...shared,
          publicUrl: 'http://localhost:3000',
          twilio: null,
          mailer: { from: 'no-reply@localhost', directory: mailDir },
          patientsUrl: patientsService.url,
          schedulingUrl: schedulingService.url,
        }),
      )
    ).app;
    orgA = await signUp('clinic-a');
    orgB = await signUp('clinic-b');
    a = await records(orgA, patientsService.app);
    b = await records(orgB, patientsService.app);
  }, 120_000);

  afterAll(async () => {
    for (const app of apps.reverse()) await app.close();
    for (const { database, created } of databases) {
      await database.close();
      await created.drop();
    }
    if (mailDir) await rm(mailDir, { recursive: true, force: true });
  });

  it('messaging plans a reminder for a patient and appointment created a moment ago, and refuses another organization’s or no one’s', async () => {
    const sendAt = '2036-07-18T15:00:00Z';
    const planned = await call(messagingApp, orgA, 'POST', '/api/reminders', {
      patient: a.patient,
      appointment: a.appointment,
      sendAt,
      text: 'See you soon',
    });
    expect(planned.statusCode, planned.body).toBe(200);
    expect(planned.json()).toMatchObject({ patient: a.patient, appointment: a.appointment, status: 'scheduled' });

    for (const [payload, field] of [
      [{ patient: b.patient, sendAt }, 'body.patient'],
      [{ patient: randomUUID(), sendAt }, 'body.patient'],
      [{ patient: a.patient, appointment: b.appointment, sendAt }, 'body.appointment'],
      [{ patient: a.patient, appointment: randomUUID(), sendAt }, 'body.appointment'],
    ] as const) {
      const refused = await call(messagingApp, orgA, 'POST', '/api/reminders', payload);
      expect(refused.statusCode, JSON.stringify(payload)).toBe(404);
      expect(refused.json().errors.map((error: { field: string }) => error.field)).toEqual([field]);
    }
    for (const url of [`/api/reminders/findByPatientId/${a.patient}`, `/api/reminders/findByApptId/${a.appointment}`]) {
      const list = await call(messagingApp, orgA, 'GET', url);
      expect(list.statusCode, url).toBe(200);
      expect(list.json().response.map((reminder: { _id: string }) => reminder._id)).toEqual([planned.json()._id]);
    }
    for (const url of [
      `/api/reminders/findByPatientId/${b.patient}`,
      `/api/reminders/findByApptId/${b.appointment}`,
      `/api/reminders/findByPatientId/${randomUUID()}`,
    ]) {
      expect((await call(messagingApp, orgA, 'GET', url)).statusCode, url).toBe(404);
    }
    expect((await call(messagingApp, orgA, 'GET', '/api/reminders')).json().total).toBe(1);
  });

  it('messaging answers 503 with Retry-After for a text to a patient whose contact details have not arrived, and 404 for another organization’s', async () => {
    const pending = await call(messagingApp, orgA, 'POST', '/api/messages', { patient: a.patient, text: 'Hello' });
    expect(pending.statusCode).toBe(503);
    expect(pending.headers['retry-after']).toBe('2');
    expect(pending.json()).toMatchObject({ type: '/problems/not-arrived-yet' });
    const resolved = await call(messagingApp, orgA, 'GET', `/api/messageTemplates/reminder/resolve?patient=${a.patient}`);
    expect(resolved.statusCode).toBe(503);
    expect((await call(messagingApp, orgA, 'POST', '/api/messages', { patient: b.patient, text: 'Hello' })).statusCode).toBe(404);
    expect((await call(messagingApp, orgA, 'GET', `/api/messageTemplates/reminder/resolve?patient=${b.patient}`)).statusCode).toBe(404);
    expect((await call(messagingApp, orgA, 'GET', '/api/messages')).json()).toEqual([]);
  });

  it('auth keeps settings and groups of providers, facilities and appointment types created a moment ago, and refuses others', async () => {
    for (const [ref, mine, theirs] of [
      ['provider', a.provider, b.provider],
      ['facility', a.facility, b.facility],
      ['appointment-type', a.type, b.type],
    ] as const) {
      const kept = await call(authApp, orgA, 'POST', '/api/settings', { ref, refId: mine });
      expect(kept.statusCode, `${ref} ${kept.body}`).toBe(200);
      for (const refId of [theirs, randomUUID()]) {
        const refused = await call(authApp, orgA, 'POST', '/api/settings', { ref, refId });
        expect(refused.statusCode, ref).toBe(404);
        expect(refused.json().errors).toEqual([{ field: 'body.refId', message: `no such ${ref.replace('-', ' ')} in your organization` }]);
      }
    }
    // A provider is no facility, even the caller's own.
    expect((await call(authApp, orgA, 'POST', '/api/settings', { ref: 'facility', refId: a.provider })).statusCode).toBe(404);

    const group = await call(authApp, orgA, 'POST', '/api/groups', { name: 'Front desk', facilities: [a.facility] });
    expect(group.statusCode, group.body).toBe(200);
    const mixed = await call(authApp, orgA, 'POST', '/api/groups', { name: 'Mixed', facilities: [a.facility, b.facility, randomUUID()] });
    expect(mixed.statusCode).toBe(404);
    expect(mixed.json().errors.map((error: { field: string }) => error.field)).toEqual(['body.facilities.1', 'body.facilities.2']);
    expect((await call(authApp, orgA, 'GET', '/api/groups')).json().total).toBe(1);
    expect((await call(authApp, orgA, 'GET', '/api/settings')).json().total).toBe(3);
  });

  /** Every row scheduling keeps (but the inbox and the patient read model, which events fill), and every event it wrote. */
  const schedulingRows = async () => {
    const session = await schedulingDatabase.sql.connect();
    try {
      const rows = async (table: string, order = 'id') => (await session.query(`SELECT * FROM ${table} ORDER BY ${order}`)).rows;
      return {
        providers: await rows('provider'),
        facilities: await rows('facility'),
        types: await rows('appointment_type'),
        appointments: await rows('appointment'),
        waitlists: await rows('waitlist'),
        offers: await rows('offer'),
        availabilities: await rows('availability'),
        recipients: await rows('offer_recipient', 'offer, waitlist'),
        events: (await session.query('SELECT id FROM outbox ORDER BY seq')).rows,
      };
    } finally {
      await session.release();
    }
  };
  /** Which of `ids` scheduling's patient read model holds. */
  const heardOf = async (ids: string[]) => {
    const session = await schedulingDatabase.sql.connect();
    try {
      return (await session.query<{ id: string }>('SELECT id FROM patient WHERE id = ANY($1::uuid[])', [ids])).rows.map((row) => row.id);
    } finally {
      await session.release();
    }
  };
  /** An opening of A's in scheduling, to book patients into. */
  const openingOfA = (date: string) =>
    create(schedulingApp, orgA, '/api/availabilities', { provider: a.provider, facility: a.facility, appointmentType: a.type, date });

  it('scheduling books and waitlists a patient created in patients a moment ago, and refuses another organization’s or no one’s in every patient field, writing nothing', async () => {
    const fresh = await create(patientsApp, orgA, '/api/patients', { firstname: 'Nina', lastname: 'Newcomer' });
    const theirs = await create(patientsApp, orgB, '/api/patients', { firstname: 'Nina', lastname: 'Elsewhere' });
    expect(await heardOf([fresh, theirs])).toEqual([]);
    const catalogOfA = { provider: a.provider, facility: a.facility, type: a.type };
    const booked = await call(schedulingApp, orgA, 'POST', '/api/appointments', {
      ...catalogOfA,
      patient: fresh,
      date: '2036-07-21T15:00:00Z',
    });
    expect(booked.statusCode, booked.body).toBe(200);
    expect(booked.json().patient).toBe(fresh);
    expect((await call(schedulingApp, orgA, 'POST', '/api/waitlists', { patient: fresh })).statusCode).toBe(200);
    expect((await call(schedulingApp, orgA, 'GET', `/api/appointments/getByPatientId/${fresh}`)).json().total).toBe(1);
    const opening = await openingOfA('2036-08-01T15:00:00Z');

    const before = await schedulingRows();
    for (const patient of [theirs, randomUUID()]) {
      const refused = await call(schedulingApp, orgA, 'POST', '/api/appointments', {
        ...catalogOfA,
        patient,
        date: '2036-07-22T15:00:00Z',
      });
      expect(refused.statusCode, refused.body).toBe(404);
      expect(refused.json().errors).toEqual([{ field: 'body.patient', message: 'no such patient' }]);
      const filters = [
        '/api/appointments',
        '/api/appointments/crudList',
        '/api/waitlists',
        '/api/waitlists/crudList',
        '/api/waitlists/filter',
        '/api/waitlists/count',
      ];
      for (const [method, url, payload, field] of [
        ['PUT', `/api/availabilities/${opening}/book`, { patient }, 'body.patient'],
        ['POST', `/api/availabilities/book/${opening}`, { patient }, 'body.patient'],
        ['POST', '/api/waitlists', { patient }, 'body.patient'],
        ['POST', '/api/waitlists/find/count', { patient }, 'body.patient'],
        ...[...filters, `/api/providers/${a.provider}/waitlists`].map(
          (url) => ['GET', `${url}?patient=${patient}`, undefined, 'querystring.patient'] as const,
        ),
        ['GET', `/api/appointments/getByPatientId/${patient}`, undefined, 'params.id'],
        ['GET', `/api/offers/findByPatientId/${patient}`, undefined, 'params.id'],
      ] as const) {
        const what = `${method} ${url} ${patient === theirs ? '(B’s)' : '(no one’s)'}`;
        const response = await call(schedulingApp, orgA, method, url, payload);
        expect(response.statusCode, `${what} → ${response.body}`).toBe(404);
        expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(
          response.json().errors.map((error: { field: string }) => error.field),
          what,
        ).toEqual([field]);
      }
    }
    expect(await schedulingRows()).toEqual(before);
  });

  it('scheduling answers 503 with Retry-After, writing nothing, while patients cannot be asked about a patient it has not heard of', async () => {
    // A real patient of A's: only the unreachable owner stands between it and the booking.
    const patient = await create(patientsApp, orgA, '/api/patients', { firstname: 'Otto', lastname: 'Offline' });
    const opening = await openingOfA('2036-08-02T15:00:00Z');
    const booking = { provider: a.provider, facility: a.facility, type: a.type, patient, date: '2036-07-23T15:00:00Z' };
    patientsUrl = `http://127.0.0.1:${await closedPort()}`;
    try {
      const before = await schedulingRows();
      for (const [method, url, payload] of [
        ['POST', '/api/appointments', booking],
        ['PUT', `/api/availabilities/${opening}/book`, { patient }],
        ['POST', '/api/waitlists', { patient }],
        ['GET', `/api/appointments/getByPatientId/${patient}`, undefined],
        ['GET', `/api/waitlists?patient=${patient}`, undefined],
      ] as const) {
        const response = await call(schedulingApp, orgA, method, url, payload);
        expect(response.statusCode, `${method} ${url}`).toBe(503);
        expect(response.headers['retry-after']).toBe('5');
        expect(response.json()).toMatchObject({ type: '/problems/owner-unavailable', status: 503 });
      }
      expect(await schedulingRows()).toEqual(before);
    } finally {
      patientsUrl = patientsListensAt;
    }
    // Patients back, the same booking goes through.
    const booked = await call(schedulingApp, orgA, 'POST', '/api/appointments', booking);
    expect(booked.statusCode, booked.body).toBe(200);
  });

  it('answers 503 with Retry-After, storing nothing, once the owner cannot be asked', async () => {
    await schedulingApp.close();
    const setting = await call(authApp, orgA, 'POST', '/api/settings', { ref: 'provider', refId: randomUUID() });
    expect(setting.statusCode).toBe(503);
    expect(setting.headers['retry-after']).toBe('5');
    const reminder = await call(messagingApp, orgA, 'POST', '/api/reminders', {
      patient: a.patient,
      appointment: randomUUID(),
      sendAt: '2036-07-18T15:00:00Z',
    });
    expect(reminder.statusCode).toBe(503);
    expect((await call(authApp, orgA, 'GET', '/api/settings')).json().total).toBe(3);
    expect((await call(messagingApp, orgA, 'GET', '/api/reminders')).json().total).toBe(1);
  });
});
