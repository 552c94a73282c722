import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { requireIdentity, signIdentity } from './identity.js';
import { HttpProblem } from './problem.js';
import { createLogger } from './logger.js';
import { createServiceApp, type ServiceApp } from './service-app.js';

const SECRET = 'x'.repeat(40);
const silent = createLogger({ service: 'test', level: 'silent' });

async function buildTestApp(options: { ready?: () => Promise<boolean>; beforeReady?: (app: ServiceApp) => void } = {}) {
  const stored: unknown[] = [];
  const app = await createServiceApp({
    name: 'test',
    logger: silent,
    bodyLimit: 1024,
    internalAuthSecret: SECRET,
    readiness: { database: options.ready ?? (async () => true) },
  });
  app.post('/things', { schema: { body: z.object({ name: z.string(), count: z.number().int() }).strict() } }, async (request) => {
    stored.push(request.body);
    return { ok: true };
  });
  app.get('/me', async (request) => requireIdentity(request, ['admin']));
  app.get('/busy', async () => {
    throw new HttpProblem(429, 'rate-limited', 'Slow down.', { retryAfter: 30 });
  });
  options.beforeReady?.(app);
  await app.ready();
  return { app, stored };
}

describe('service app', () => {
  it('answers malformed JSON with a 400 problem and stores nothing', async () => {
    const { app, stored } = await buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/things',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ status: 400, title: 'Bad Request', type: expect.stringContaining('malformed-body') });
    expect(stored).toHaveLength(0);
  });

  it('lists every invalid field, including unknown ones', async () => {
    const { app, stored } = await buildTestApp();
    const response = await app.inject({ method: 'POST', url: '/things', payload: { name: 7, count: 'many', extra: true } });
    expect(response.statusCode).toBe(400);
    const fields = (response.json().errors as Array<{ field: string }>).map((error) => error.field).sort();
    expect(fields).toEqual(['body.count', 'body.extra', 'body.name']);
    expect(stored).toHaveLength(0);
  });

  it('refuses oversized bodies with 413', async () => {
    const { app, stored } = await buildTestApp();
    const response = await app.inject({ method: 'POST', url: '/things', payload: { name: 'a'.repeat(2000), count: 1 } });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ status: 413 });
    expect(stored).toHaveLength(0);
  });

  it('refuses non-JSON bodies with 415', async () => {
    const { app } = await buildTestApp();
    const response = await app.inject({ method: 'POST', url: '/things', headers: { 'content-type': 'text/csv' }, payload: 'a,b' });
    expect(response.statusCode).toBe(415);
    expect(response.headers['content-type']).toMatch(/problem\+json/);
  });

  it('sends Retry-After with problems that say when to come back', async () => {
    const { app } = await buildTestApp();
    const response = await app.inject({ url: '/busy' });
    expect(response.statusCode).toBe(429);
    expect(response.headers['retry-after']).toBe('30');
    expect(response.json()).toMatchObject({ status: 429, retryAfter: 30 });
  });

  it('answers an error that exposes its status (http-errors style, as a database contention error does) with its type, detail and Retry-After', async () => {
    const exposed = (status: number, headers: Record<string, string>) =>
      Object.assign(new Error('The database is too busy; try again shortly.'), {
        statusCode: status,
        expose: true,
        problemType: 'database-busy',
        headers,
      });
    const { app } = await buildTestApp({
      beforeReady: (app) => {
        app.get('/contended', async () => {
          throw exposed(409, {});
        });
        app.get('/overloaded', async () => {
          throw exposed(503, { 'retry-after': '1' });
        });
        app.get('/broken', async () => {
          throw Object.assign(new Error('secret internals'), { statusCode: 503 });
        });
      },
    });
    const contended = await app.inject({ url: '/contended' });
    expect(contended.statusCode).toBe(409);
    expect(contended.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(contended.json()).toMatchObject({ type: '/problems/database-busy', status: 409, title: 'Conflict' });
    const overloaded = await app.inject({ url: '/overloaded' });
    expect(overloaded.statusCode).toBe(503);
    expect(overloaded.headers['retry-after']).toBe('1');
    expect(overloaded.json()).toMatchObject({
      type: '/problems/database-busy',
      status: 503,
      detail: 'The database is too busy; try again shortly.',
    });
    // A server error that does not say its message is safe keeps the generic detail.
    const broken = await app.inject({ url: '/broken' });
    expect(broken.json()).toMatchObject({ type: '/problems/internal', status: 503, detail: 'An unexpected error occurred.' });
  });

  it('answers unknown routes with a 404 problem', async () => {
    const { app } = await buildTestApp();
    const response = await app.inject({ method: 'GET', url: '/nowhere?name=secret' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ status: 404, instance: '/nowhere' });
  });

  it('echoes a valid caller request id and makes one otherwise', async () => {
    const { app } = await buildTestApp();
    const given = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers['x-request-id']).toBe('abc-123');
    const made = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'bad id with spaces' } });
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('is not ready while a dependency fails, nor once closing', async () => {
    let up = false;
    let duringClose: number | undefined;
    let address = '';
    const { app } = await buildTestApp({
      ready: async () => up,
      // Registered after the kit's own preClose hook, so it observes the app as a probe would mid-shutdown.
      beforeReady: (built) =>
        built.addHook('preClose', async () => {
          duringClose = (await fetch(`${address}/health/ready`)).status;
        }),
    });
    address = await app.listen({ host: '127.0.0.1', port: 0 });
    expect((await app.inject({ url: '/health/ready' })).statusCode).toBe(503);
    up = true;
    expect((await app.inject({ url: '/health/ready' })).statusCode).toBe(200);
    await app.close();
    expect(duringClose).toBe(503);
  });

  it('stays ready while a report-only dependency fails or a consumer is joining, and shows both in details and metrics', async () => {
    let broker = false;
    let state: 'joining' | 'joined' | 'stopped' = 'joining';
    const app = await createServiceApp({
      name: 'test',
      logger: silent,
      readiness: { database: async () => true },
      reportOnly: { broker: async () => broker },
      consumers: () => [{ groupId: 'test.things', state: () => state }, null],
    });
    await app.ready();
    const degraded = await app.inject({ url: '/health/ready' });
    expect(degraded.statusCode).toBe(200);
    expect(degraded.json()).toEqual({
      status: 'degraded',
      checks: { database: 'ok', broker: 'failing' },
      consumers: { 'test.things': 'joining' },
    });
    const joiningMetrics = (await app.inject({ url: '/metrics' })).body;
    expect(joiningMetrics).toMatch(/^bus_consumer_joined\{[^}]*group="test\.things"[^}]*\} 0$/m);
    expect(joiningMetrics).toMatch(/^health_check_up\{[^}]*check="broker"[^}]*required="false"[^}]*\} 0$/m);
    expect(joiningMetrics).toMatch(/^health_check_up\{[^}]*check="database"[^}]*required="true"[^}]*\} 1$/m);

    broker = true;
    state = 'joined';
    const healthy = await app.inject({ url: '/health/ready' });
    expect(healthy.json()).toEqual({ status: 'ok', checks: { database: 'ok', broker: 'ok' }, consumers: { 'test.things': 'joined' } });
    const joinedMetrics = (await app.inject({ url: '/metrics' })).body;
    expect(joinedMetrics).toMatch(/^bus_consumer_joined\{[^}]*group="test\.things"[^}]*\} 1$/m);
    expect(joinedMetrics).toMatch(/^health_check_up\{[^}]*check="broker"[^}]*\} 1$/m);

    // A stopped consumer is no longer reported.
    state = 'stopped';
    expect((await app.inject({ url: '/health/ready' })).json()).toEqual({ status: 'ok', checks: { database: 'ok', broker: 'ok' } });
    expect((await app.inject({ url: '/metrics' })).body).not.toMatch(/^bus_consumer_joined/m);
    await app.close();
  });

  it("shows each consumer group's highest lag per topic in the metrics", async () => {
    const lags: Record<string, Record<string, number>> = { a: { orders: 3, invoices: 0 }, b: { orders: 7 } };
    const app = await createServiceApp({
      name: 'test',
      logger: silent,
      // Two subscriptions of one group (members in one process) and one transport that cannot tell its lag.
      consumers: () => [
        { groupId: 'test.orders', state: () => 'joined' as const, lag: () => lags['a']! },
        { groupId: 'test.orders', state: () => 'joined' as const, lag: () => lags['b']! },
        { groupId: 'test.embedded', state: () => 'joined' as const },
      ],
    });
    await app.ready();
    const metrics = (await app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/^bus_consumer_lag\{[^}]*group="test\.orders"[^}]*topic="orders"[^}]*\} 7$/m);
    expect(metrics).toMatch(/^bus_consumer_lag\{[^}]*group="test\.orders"[^}]*topic="invoices"[^}]*\} 0$/m);
    expect(metrics).not.toMatch(/^bus_consumer_lag\{[^}]*group="test\.embedded"/m);
    lags['b'] = { orders: 1 };
    expect((await app.inject({ url: '/metrics' })).body).toMatch(/^bus_consumer_lag\{[^}]*topic="orders"[^}]*\} 3$/m);
    await app.close();
  });

  it('trusts only identities signed with the internal secret', async () => {
    const { app } = await buildTestApp();
    const identity = { organization: 'org-1', user: 'user-1', roles: ['admin'] };
    const good = await app.inject({ url: '/me', headers: { 'x-internal-identity': await signIdentity(SECRET, identity) } });
    expect(good.statusCode).toBe(200);
    expect(good.json()).toEqual(identity);
    const forged = await app.inject({ url: '/me', headers: { 'x-internal-identity': await signIdentity('y'.repeat(40), identity) } });
    expect(forged.statusCode).toBe(401);
    const wrongRole = await app.inject({
      url: '/me',
      headers: { 'x-internal-identity': await signIdentity(SECRET, { ...identity, roles: ['patient'] }) },
    });
    expect(wrongRole.statusCode).toBe(403);
  });

  it('exposes request metrics by route pattern', async () => {
    const { app } = await buildTestApp();
    await app.inject({ method: 'POST', url: '/things', payload: { name: 'a', count: 1 } });
    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.body).toMatch(/http_request_duration_seconds_count\{[^}]*route="\/things"[^}]*status_code="200"/);
  });
});
