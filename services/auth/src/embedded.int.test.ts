import { InProcessBus } from '@pep/bus';
import { migrate, openDatabase, type Database } from '@pep/db';
import { createLogger, type ServiceApp } from '@pep/service-kit';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, PUBLIC_URL, SECRET, SIGNING_SECRET, signup, UNREACHABLE } from '../test/harness.js';
import { buildApp } from './app.js';
import { PrismaClient } from './generated/prisma/client.js';
import { migrationsDir } from './migrations.js';
import { SigningKeyStore } from './signing-keys.js';

// The embedded runtime runs the same code on PGlite and the in-process bus; this proves the raw SQL works there too.
describe('auth service on PGlite and the in-process bus (embedded runtime)', () => {
  let database: Database;
  let bus: InProcessBus;
  let app: ServiceApp;
  let mailDir: string;

  beforeAll(async () => {
    database = await openDatabase({ kind: 'pglite', dataDir: null });
    await migrate(database, { migrationsDir });
    bus = new InProcessBus();
    mailDir = await mkdtemp(join(tmpdir(), 'auth-embedded-mail-'));
    app = await buildApp({
      logger: createLogger({ service: 'auth', level: 'silent' }),
      database,
      bus,
      internalAuthSecret: SECRET,
      signingKeySecret: SIGNING_SECRET,
      publicUrl: PUBLIC_URL,
      mailer: { from: 'auth@example.test', directory: mailDir },
      schedulingUrl: UNREACHABLE,
    });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await bus?.close();
    await database?.close();
    await rm(mailDir, { recursive: true, force: true });
  });

  it('signs up, logs in, refreshes, rate limits and mails reset links', async () => {
    const account = await signup(app);
    const login = (password: string) =>
      app.inject({ method: 'POST', url: '/api/users/login', payload: { email: account.email, password } });
    expect((await login(account.password)).statusCode).toBe(200);
    const refreshed = await app.inject({ method: 'POST', url: '/api/tokens/validate', payload: { refreshToken: account.refreshToken } });
    expect(refreshed.statusCode).toBe(200);
    expect((await app.inject({ url: '/api/tokens/validate', headers: { 'x-access-token': refreshed.json().token } })).statusCode).toBe(200);
    expect(
      (await app.inject({ method: 'POST', url: '/api/tokens/validate', payload: { refreshToken: account.refreshToken } })).statusCode,
    ).toBe(401);

    for (let attempt = 0; attempt < 5; attempt++) expect((await login('wrong password!')).statusCode).toBe(401);
    expect((await login(account.password)).statusCode).toBe(429);

    await app.inject({ method: 'POST', url: '/api/users/forgot-password', payload: { email: account.email } });
    await waitFor(async () => (await readdir(mailDir)).length === 1, { message: 'an .eml file' });
  });

  it('keeps settings, toggling subscriptions under the row lock', async () => {
    const account = await signup(app);
    const headers = await bearer(account.token);
    const created = await app.inject({
      method: 'POST',
      url: '/api/settings',
      headers,
      payload: { ref: 'organization', settings: { timeZone: 'UTC' } },
    });
    expect(created.statusCode).toBe(200);
    const unsubscribed = await app.inject({ method: 'PUT', url: `/api/settings/${created.json()._id}/unsubscribe/reminder`, headers });
    expect(unsubscribed.json().unsubscribed).toEqual(['reminder']);
  });

  it('serves integrator logins and groups with their raw SQL', async () => {
    const account = await signup(app);
    const headers = await bearer(account.token);
    const client = (await app.inject({ method: 'POST', url: '/api/integratorClients', headers, payload: { name: 'EHR' } })).json();
    const login = await app.inject({
      method: 'POST',
      url: '/api/integratorClients/login',
      payload: { clientId: client.clientId, clientSecret: client.clientSecret },
    });
    expect(login.statusCode).toBe(200);
    const group = (await app.inject({ method: 'POST', url: '/api/groups', headers, payload: { name: 'Desk' } })).json();
    const added = await app.inject({ method: 'POST', url: `/api/groups/${group._id}/${account.user._id}`, headers });
    expect(added.json().users).toEqual([account.user._id]);
    const invited = await app.inject({
      method: 'POST',
      url: `/api/groups/${group._id}/invite-user`,
      headers,
      payload: { email: 'new@clinic.example' },
    });
    expect(invited.statusCode).toBe(200);
  });

  it('signs inside a transaction with keys gone stale, without waiting on its own single connection', async () => {
    const prisma = new PrismaClient({ adapter: database.adapter });
    const logger = createLogger({ service: 'auth', level: 'silent' });
    const keys = new SigningKeyStore({
      prisma,
      secret: SIGNING_SECRET,
      rotationDays: 90,
      clock: () => new Date(),
      logger,
      refreshIntervalMs: 0,
    });
    const first = await keys.current();
    // Every call finds the keys stale; a reload awaited here would queue behind this very transaction until it timed out.
    const signed = await prisma.$transaction(
      async (tx) => {
        await tx.signingKey.count();
        return keys.current();
      },
      { timeout: 3_000 },
    );
    expect(signed.kid).toBe(first.kid);
    await prisma.$disconnect();
  });
});
