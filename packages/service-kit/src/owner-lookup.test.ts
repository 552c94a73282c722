import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIdentity, type Identity } from './identity.js';
import { createLogger } from './logger.js';
import { createOwnerLookup, OWNER_LOOKUP_HEADER, registerOwnerLookupRoutes, type OwnerLookup } from './owner-lookup.js';
import { HttpProblem } from './problem.js';
import { createServiceApp, type ServiceApp } from './service-app.js';

const SECRET = 'owner-lookup-secret-0123456789abcdef';
const silent = createLogger({ service: 'test', level: 'silent' });
const orgA: Identity = { organization: randomUUID(), user: randomUUID(), roles: ['staff'] };
const orgB: Identity = { organization: randomUUID(), user: randomUUID(), roles: ['staff'] };

/** A port nothing listens on: bound, read and released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A service that asks the owner in a route, so the problem goes through the real error handler. */
async function callerApp(lookup: OwnerLookup): Promise<ServiceApp> {
  const app = await createServiceApp({ name: 'caller', logger: silent, internalAuthSecret: SECRET });
  app.get('/check/:kind/:id', async (request) => {
    const { kind, id } = request.params as { kind: string; id: string };
    return { found: await lookup.exists(orgA, kind, id) };
  });
  await app.ready();
  return app;
}

describe('owner lookup', () => {
  let owner: ServiceApp;
  let ownerUrl: string;
  const widgetOfA = randomUUID();
  const seen: Array<{ organization: string; id: string }> = [];
  // The slow owner answers only when the test lets it, so no request is left hanging at the end.
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));

  beforeAll(async () => {
    owner = await createServiceApp({ name: 'owner', logger: silent, internalAuthSecret: SECRET });
    registerOwnerLookupRoutes(owner, {
      widget: async (identity, id) => {
        seen.push({ organization: identity.organization, id });
        return identity.organization === orgA.organization && id === widgetOfA;
      },
      slow: async () => {
        await held;
        return true;
      },
      broken: async () => {
        throw new Error('database down');
      },
    });
    ownerUrl = await owner.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    release();
    // The connection of the request the caller gave up on is not idle to Node's server until its keep-alive lapses.
    owner?.server.closeAllConnections();
    await owner?.close();
  });

  it("answers true for the caller's record and false for another organization's or an unknown id, over HTTP with the caller's identity", async () => {
    const lookup = createOwnerLookup({ owner: 'owner', baseUrl: ownerUrl, internalAuthSecret: SECRET });
    expect(await lookup.exists(orgA, 'widget', widgetOfA)).toBe(true);
    expect(await lookup.exists(orgB, 'widget', widgetOfA)).toBe(false);
    expect(await lookup.exists(orgA, 'widget', randomUUID())).toBe(false);
    expect(seen.slice(-3).map((call) => call.organization)).toEqual([orgA.organization, orgB.organization, orgA.organization]);
  });

  it('serves 204 and 404 problems naming the kind it looked up, and refuses callers without a signed identity', async () => {
    const forged = await fetch(`${ownerUrl}/internal/records/widget/${widgetOfA}`, { headers: { 'x-internal-identity': 'forged' } });
    expect(forged.status).toBe(401);
    await forged.text();
    const lookup = createOwnerLookup({ owner: 'owner', baseUrl: ownerUrl, internalAuthSecret: 'another-secret-0123456789abcdefghij' });
    await expect(lookup.exists(orgA, 'widget', widgetOfA)).rejects.toMatchObject({ status: 503 });
    const missing = await owner.inject({
      url: `/internal/records/widget/${randomUUID()}`,
      headers: { 'x-internal-identity': await signIdentity(SECRET, orgA) },
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers[OWNER_LOOKUP_HEADER]).toBe('widget');
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('answers 503 rather than "not found" when the owner has no route for the kind (an older version, a misspelled kind)', async () => {
    const lookup = createOwnerLookup({ owner: 'owner', baseUrl: ownerUrl, internalAuthSecret: SECRET });
    await expect(lookup.exists(orgA, 'gadget', widgetOfA)).rejects.toMatchObject({ status: 503, slug: 'owner-unavailable' });
    await expect(lookup.exists(orgA, 'broken', widgetOfA)).rejects.toMatchObject({ status: 503 });
  });

  it('answers 503 with Retry-After when the owner cannot be reached', async () => {
    const warnings: unknown[] = [];
    const lookup = createOwnerLookup({
      owner: 'owner',
      baseUrl: `http://127.0.0.1:${await closedPort()}`,
      internalAuthSecret: SECRET,
      logger: { warn: (fields: unknown) => warnings.push(fields) } as never,
    });
    const error = await lookup.exists(orgA, 'widget', widgetOfA).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HttpProblem);
    expect(error).toMatchObject({ status: 503, extensions: { retryAfter: 5 } });
    expect(warnings).toEqual([expect.objectContaining({ owner: 'owner', kind: 'widget', reason: 'unreachable' })]);

    const caller = await callerApp(lookup);
    const response = await caller.inject({ url: `/check/widget/${widgetOfA}` });
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ type: '/problems/owner-unavailable', status: 503 });
    await caller.close();
  });

  it('answers 503 within the timeout when the owner is slow', async () => {
    const lookup = createOwnerLookup({ owner: 'owner', baseUrl: ownerUrl, internalAuthSecret: SECRET, timeoutMs: 300 });
    const started = performance.now();
    await expect(lookup.exists(orgA, 'slow', widgetOfA)).rejects.toMatchObject({ status: 503, extensions: { retryAfter: 5 } });
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1_500);
    release();
  });

  it('answers 503 while the owner has no address yet (embedded runtime, still starting)', async () => {
    const listening: { url?: string } = {};
    const lookup = createOwnerLookup({ owner: 'owner', baseUrl: () => listening.url, internalAuthSecret: SECRET });
    await expect(lookup.exists(orgA, 'widget', widgetOfA)).rejects.toMatchObject({ status: 503 });
    listening.url = `${ownerUrl}/`;
    expect(await lookup.exists(orgA, 'widget', widgetOfA)).toBe(true);
  });
});
