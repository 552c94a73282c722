import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseEvent, type EventEnvelope } from '@pep/contracts';
import { KafkaBus, type Subscription } from '@pep/bus';
import { assertNoSchemaDrift } from '@pep/schema-drift';
import { createLogger } from '@pep/service-kit';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSignup, signup, startAuth, type AuthUnderTest } from '../test/harness.js';
import { AUTH_V1_ENDPOINTS } from '../test/v1-endpoints.js';

describe('auth service: signup and login against real Postgres and Kafka', () => {
  let service: AuthUnderTest;
  let sql: pg.Client;
  let observer: KafkaBus;
  let subscription: Subscription;
  const seen: EventEnvelope[] = [];
  const logLines: string[] = [];

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    const destination = new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk));
        done();
      },
    });
    service = await startAuth('auth', brokers, { logger: createLogger({ service: 'auth', level: 'debug', destination }) });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    observer = new KafkaBus({
      brokers,
      clientId: 'auth-observer',
      topicPrefix: service.topicPrefix,
      logger: createLogger({ service: 'observer', level: 'silent' }),
    });
    subscription = await observer.subscribe({
      groupId: 'test.observer',
      topics: ['auth.organization', 'auth.user'],
      handler: async (message) => {
        seen.push(parseEvent(message.value));
      },
    });
  });
  afterAll(async () => {
    await subscription?.stop();
    await observer?.close();
    await sql?.end();
    await service?.close();
  });

  const counts = async () =>
    (
      await sql.query(
        'SELECT (SELECT count(*) FROM "user")::int AS users, (SELECT count(*) FROM organization)::int AS orgs, (SELECT count(*) FROM outbox)::int AS outbox',
      )
    ).rows[0];
  const login = (email: string, password: string, address = '203.0.113.10') =>
    service.app.inject({
      method: 'POST',
      url: '/api/users/login',
      payload: { email, password },
      headers: { 'x-forwarded-for': `${address}, 10.0.0.1` },
    });

  it('has no drift between its migrations and schema.prisma', async () => {
    await assertNoSchemaDrift({ schemaPath: fileURLToPath(new URL('../prisma/schema.prisma', import.meta.url)), db: service.database });
  });

  it('signs up an organization and its admin, publishing both events through the outbox', async () => {
    const result = await signup(service.app, { email: 'Ada.Admin@Clinic.Example', firstname: 'Ada', lastname: 'Admin' });
    expect(result.user).toMatchObject({
      email: 'ada.admin@clinic.example',
      firstname: 'Ada',
      name: 'Ada Admin',
      roles: ['admin'],
      organization: result.organization._id,
      active: 1,
      type: 'staff',
    });
    expect(result.token.split('.')).toHaveLength(3);
    expect(result.refreshToken).toMatch(/^[\w-]{43}$/);
    expect(result).not.toHaveProperty('user.passwordHash');

    const events = await waitFor(
      () => {
        const mine = seen.filter((event) => event.organization === result.organization._id);
        return mine.length >= 2 ? mine : null;
      },
      { timeoutMs: 30_000, message: 'signup events on the bus' },
    );
    const byType = Object.fromEntries(events.map((event) => [event.type, event]));
    expect(byType['organization.created']).toMatchObject({
      subject: result.organization._id,
      data: { _id: result.organization._id, active: true },
    });
    expect(byType['user.created']).toMatchObject({
      subject: result.user._id,
      data: { _id: result.user._id, roles: ['admin'], active: true },
    });
    expect(JSON.stringify(byType['user.created'])).not.toContain('ada.admin@clinic.example');

    const { rows } = await sql.query('SELECT password_hash FROM "user" WHERE id = $1', [result.user._id]);
    // argon2id with OWASP's parameters, never the password itself.
    expect(rows[0].password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('refuses a second account for the same e-mail, whatever its case', async () => {
    const first = await signup(service.app);
    const before = await counts();
    const again = await service.app.inject({
      method: 'POST',
      url: '/api/users/signup',
      payload: newSignup({ email: first.email.toUpperCase() }),
    });
    expect(again.statusCode).toBe(409);
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(await counts()).toEqual(before);
  });

  it('refuses bad signups with problem+json naming the fields, storing nothing', async () => {
    const before = await counts();
    const attempts: Array<[Record<string, unknown>, string]> = [
      [newSignup({ password: 'short' }), 'body.password'],
      [newSignup({ password: 'x'.repeat(257) }), 'body.password'],
      [newSignup({ email: 'not-an-email' }), 'body.email'],
      [newSignup({ organizationName: '' }), 'body.organizationName'],
      [{ ...newSignup(), roles: ['admin'] }, 'body.roles'],
    ];
    for (const [payload, field] of attempts) {
      const response = await service.app.inject({ method: 'POST', url: '/api/users/signup', payload });
      expect(response.statusCode, field).toBe(400);
      expect(response.json().errors.map((error: { field: string }) => error.field)).toContain(field);
    }
    expect(await counts()).toEqual(before);
  });

  it('logs in with the right password, in any e-mail case', async () => {
    const account = await signup(service.app);
    const response = await login(account.email.toUpperCase(), account.password);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ user: { _id: account.user._id, organization: account.organization._id } });
    expect(response.json().token).toBeTypeOf('string');
    expect(response.json().user.lastLogin).not.toBeNull();
  });

  it('answers a wrong password and an unknown e-mail identically', async () => {
    const account = await signup(service.app);
    const wrongPassword = await login(account.email, 'not the right password', '203.0.113.20');
    const unknownEmail = await login('nobody-here@clinic.example', account.password, '203.0.113.21');
    expect(wrongPassword.statusCode).toBe(401);
    expect(unknownEmail.statusCode).toBe(401);
    const strip = (body: Record<string, unknown>) => ({ ...body, requestId: undefined });
    expect(strip(wrongPassword.json())).toEqual(strip(unknownEmail.json()));
  });

  it('locks an account after 5 failures in 15 minutes, with Retry-After, from any address', async () => {
    const account = await signup(service.app);
    for (let attempt = 1; attempt <= 5; attempt++) {
      expect((await login(account.email, 'wrong password!', `198.51.100.${attempt}`)).statusCode).toBe(401);
    }
    const locked = await login(account.email, account.password, '198.51.100.99');
    expect(locked.statusCode).toBe(429);
    expect(locked.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(15 * 60);

    service.clock.advance(15 * 60 * 1000 + 1000);
    expect((await login(account.email, account.password, '198.51.100.99')).statusCode).toBe(200);
  });

  it('limits one address to 20 failures in 15 minutes across accounts', async () => {
    const address = '192.0.2.77';
    for (let attempt = 1; attempt <= 20; attempt++) {
      expect((await login(`someone-${attempt}@clinic.example`, 'wrong password!', address)).statusCode).toBe(401);
    }
    const account = await signup(service.app);
    expect((await login(account.email, account.password, address)).statusCode).toBe(429);
    expect((await login(account.email, account.password, '192.0.2.78')).statusCode).toBe(200);
  });

  it('serves every v1 endpoint auth owns', async () => {
    const missing = AUTH_V1_ENDPOINTS.filter(([method, url]) => !service.app.hasRoute({ method, url: url.replace(/\/$/, '') }));
    expect(missing).toEqual([]);
  });

  it('documents every route with tags and a summary', async () => {
    const document = (await service.app.inject({ url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { tags?: string[]; summary?: string }>>;
    };
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ path, method, op })),
    );
    expect(operations.length).toBeGreaterThan(50);
    for (const { path, method, op } of operations) {
      expect(op.tags?.length, `${method} ${path}`).toBeGreaterThan(0);
      expect(op.summary, `${method} ${path}`).toBeTruthy();
    }
  });

  it('never writes e-mails, names or passwords to its logs', async () => {
    const text = logLines.join('');
    expect(text.length).toBeGreaterThan(0);
    for (const secret of ['ada.admin@clinic.example', 'Ada Admin', 'correct horse battery staple', '@clinic.example']) {
      expect(text).not.toContain(secret);
    }
  });
});
