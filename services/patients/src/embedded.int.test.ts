import { InProcessBus } from '@pep/bus';
import { migrate, openDatabase, type Database } from '@pep/db';
import { createLogger, type ServiceApp } from '@pep/service-kit';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createPatient } from '../test/fixtures.js';
import { orgA, SECRET } from '../test/harness.js';
import { buildApp } from './app.js';
import { migrationsDir } from './migrations.js';

// The embedded runtime runs the same code on PGlite and the in-process bus; this proves the raw SQL works there too.
describe('patients service on PGlite and the in-process bus (embedded runtime)', () => {
  let database: Database;
  let bus: InProcessBus;
  let app: ServiceApp;

  beforeAll(async () => {
    database = await openDatabase({ kind: 'pglite', dataDir: null });
    await migrate(database, { migrationsDir });
    bus = new InProcessBus();
    app = await buildApp({
      logger: createLogger({ service: 'patients', level: 'silent' }),
      database,
      bus,
      internalAuthSecret: SECRET,
      outboxPollIntervalMs: 100,
    });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await bus?.close();
    await database?.close();
  });

  it('creates, flags duplicates, updates, searches, follows and merges', async () => {
    const first = await createPatient(app, orgA, { firstname: 'Émile', lastname: 'Zola', phone: '415-555-2621' });
    const second = await createPatient(app, orgA, {
      firstname: 'emile',
      lastname: 'ZOLA',
      phone: '(415) 555-2621',
      contact: [{ type: 'email', value: 'EZ@example.com' }],
    });
    expect(second['possibleDuplicateOf']).toEqual([first._id]);
    expect((await call(app, orgA, 'PUT', `/api/patients/${first._id}`, { doNotContact: true, city: 'Paris' })).status).toBe(200);
    expect((await call(app, orgA, 'GET', '/api/patients/search?type=email&value=ez@EXAMPLE.com')).body).toHaveLength(1);
    expect((await call(app, orgA, 'GET', '/api/patients/search?type=name&value=emil')).body).toHaveLength(2);
    expect((await call(app, orgA, 'POST', `/api/patients/${first._id}/follow`)).body.subscribers).toEqual([orgA.user]);
    expect((await call(app, orgA, 'POST', '/api/patients/recent', { patient: first._id })).body.total).toBe(1);
    const merged = await call(app, orgA, 'POST', '/api/patients/merge', { survivor: first._id, merged: second._id });
    expect(merged.status).toBe(200);
    expect(merged.body).toMatchObject({ email: 'ez@example.com', doNotContact: true, possibleDuplicateOf: [] });
    await waitFor(
      async () =>
        ((await call(app, orgA, 'GET', `/api/patients/${first._id}/journey`)).body.response as Array<{ type: string }>).some(
          (e) => e.type === 'patient.merged',
        ),
      { message: 'journey through the in-process bus' },
    );
  });
});
