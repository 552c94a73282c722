import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { CLIENT_ADDRESS_HEADER, createLogger, createServiceApp, verifyClientAddress } from '@pep/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './app.js';
import { mergeDocuments } from './openapi.js';
import { listGroups, ownerOf } from './route-table.js';

const logger = createLogger({ service: 'gateway-test', level: 'silent' });
const SECRET = 's'.repeat(40);

describe('gateway', () => {
  let upstream: FastifyInstance;
  let upstreamUrl: string;
  const seen: Array<{ url: string; headers: Record<string, unknown>; body: unknown }> = [];

  beforeAll(async () => {
    upstream = Fastify();
    upstream.get('/health/ready', async () => ({ status: 'ok', checks: { database: 'ok' } }));
    upstream.all('/api/*', async (request) => {
      seen.push({ url: request.url, headers: request.headers, body: request.body });
      return { echoed: request.url, method: request.method };
    });
    upstream.post('/webhooks/*', async (request) => {
      seen.push({ url: request.url, headers: request.headers, body: request.body });
      return { echoed: request.url, method: request.method };
    });
    upstreamUrl = await upstream.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await upstream.close();
  });

  const gateway = (upstreams: Record<string, string>) => buildApp({ logger, upstreams, internalAuthSecret: SECRET, bodyLimit: 1024 });

  it('forwards a group to its owner with path, query, body and request id', async () => {
    const app = await gateway({ patients: upstreamUrl });
    const response = await app.inject({
      method: 'POST',
      url: '/api/patients/search?type=name&value=ada',
      headers: { 'x-request-id': 'req-42' },
      payload: { hello: 'world' },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ echoed: '/api/patients/search?type=name&value=ada', method: 'POST' });
    const last = seen.at(-1)!;
    expect(last.body).toEqual({ hello: 'world' });
    expect(last.headers['x-request-id']).toBe('req-42');
    await app.close();
  });

  it('logs what it forwards, and to whom, without the query or the values in the path', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const app = await buildApp({
      logger: createLogger({ service: 'gateway', level: 'trace', destination }),
      upstreams: { patients: upstreamUrl, messaging: upstreamUrl },
      internalAuthSecret: SECRET,
      bodyLimit: 1024,
    });
    expect((await app.inject({ method: 'GET', url: '/api/patients/search?type=email&value=ada.lovelace%40example.com' })).statusCode).toBe(
      200,
    );
    expect(
      (await app.inject({ method: 'GET', url: '/api/callback/sms/reminders?From=%2B14155550147&Body=my+biopsy+results' })).statusCode,
    ).toBe(200);
    expect((await app.inject({ method: 'PUT', url: '/api/patients/Lovelace', payload: {} })).statusCode).toBe(200);
    await app.close();
    // Forwarded with the query (the service needs it), logged without it.
    expect(seen.at(-2)!.url).toBe('/api/callback/sms/reminders?From=%2B14155550147&Body=my+biopsy+results');
    const logged = lines.join('').toLowerCase();
    for (const leak of ['ada.lovelace', 'lovelace', '14155550147', 'biopsy', 'from=', 'value=']) expect(logged).not.toContain(leak);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.filter((entry) => entry['msg'] === 'forwarding to service').map((entry) => entry['upstream'])).toEqual([
      'patients',
      'messaging',
      'patients',
    ]);
    // One line per request, naming the service that answered it.
    const answered = entries.filter((entry) => entry['msg'] === 'request completed');
    expect(answered.map((entry) => [entry['upstream'], (entry['res'] as { statusCode: number }).statusCode])).toEqual([
      ['patients', 200],
      ['messaging', 200],
      ['patients', 200],
    ]);
    expect(entries.filter((entry) => entry['msg'] === 'incoming request')).toEqual([]);
  });

  it('routes the vendors’ webhooks at the host root to messaging, with the client address it established signed, never the client’s claim', async () => {
    const app = await buildApp({
      logger,
      upstreams: { messaging: upstreamUrl },
      internalAuthSecret: SECRET,
      bodyLimit: 1024,
      trustProxyHops: 1,
    });
    const payload = [{ type: 'message-received', message: { id: 'm-1', from: '+15551230001', text: 'C' } }];
    const response = await app.inject({
      method: 'POST',
      url: '/webhooks/reply/bandwidth/sms',
      headers: { 'x-forwarded-for': '203.0.113.9', [CLIENT_ADDRESS_HEADER]: 'claimed-by-the-client', authorization: 'Basic dXNlcjpwYXNz' },
      payload,
    });
    expect(response.statusCode).toBe(200);
    const last = seen.at(-1)!;
    expect(last.url).toBe('/webhooks/reply/bandwidth/sms');
    expect(last.body).toEqual(payload);
    // Bandwidth's own credentials pass through; the address is the one the gateway worked out (one trusted hop), signed.
    expect(last.headers['authorization']).toBe('Basic dXNlcjpwYXNz');
    expect(last.headers['x-forwarded-for']).toBe('203.0.113.9');
    expect(await verifyClientAddress(SECRET, last.headers[CLIENT_ADDRESS_HEADER] as string)).toBe('203.0.113.9');
    expect((await app.inject({ method: 'POST', url: '/webhooks/reply/bandwidth/sms', payload })).statusCode).toBe(200);
    expect(await verifyClientAddress(SECRET, seen.at(-1)!.headers[CLIENT_ADDRESS_HEADER] as string)).toBe('127.0.0.1');
    await app.close();
    const without = await gateway({ patients: upstreamUrl });
    expect((await without.inject({ method: 'POST', url: '/webhooks/reply/bandwidth/sms', payload })).statusCode).toBe(501);
    await without.close();
  });

  it('shows the vendors’ webhooks in the merged OpenAPI document, with their Basic scheme', () => {
    const operation = { summary: 'A reply', security: [{ vendorBasic: [] }] };
    const merged = mergeDocuments({ openapi: '3.1.0', info: {} }, [
      {
        service: 'messaging',
        document: {
          openapi: '3.1.0',
          info: {},
          paths: { '/webhooks/reply/bandwidth/sms': { post: operation }, '/health/ready': { get: {} } },
        },
      },
    ]);
    expect(merged.paths?.['/webhooks/reply/bandwidth/sms']?.['post']).toMatchObject({ ...operation, 'x-service': 'messaging' });
    expect(merged.paths?.['/health/ready']).toBeUndefined();
    expect(merged.components?.securitySchemes?.['vendorBasic']).toMatchObject({ type: 'http', scheme: 'basic' });
  });

  it('documents the rate limit headers on every answer and the 429 in the merged OpenAPI document', () => {
    const merged = mergeDocuments({ openapi: '3.1.0', info: {} }, [
      {
        service: 'patients',
        document: {
          openapi: '3.1.0',
          info: {},
          paths: { '/api/patients/{id}': { get: { responses: { 200: { description: 'A patient' } } } } },
        },
      },
    ]);
    const operation = merged.paths?.['/api/patients/{id}']?.['get'] as {
      responses: Record<string, { headers?: Record<string, unknown>; $ref?: string }>;
    };
    expect(Object.keys(operation.responses['200']!.headers ?? {})).toEqual([
      'RateLimit-Limit',
      'RateLimit-Remaining',
      'RateLimit-Reset',
      'RateLimit-Policy',
    ]);
    expect(operation.responses['429']).toEqual({ $ref: '#/components/responses/RateLimited' });
    expect(merged.components?.headers).toHaveProperty('Retry-After');
    expect(merged.components?.responses?.['RateLimited']).toMatchObject({
      headers: { 'Retry-After': { $ref: '#/components/headers/Retry-After' } },
    });
  });

  it('shares named components across services and refuses a name or an operationId given twice', () => {
    const patient = { type: 'object', properties: { _id: { type: 'string', format: 'uuid' } } };
    const document = (schema: unknown, operationId: string, path: string) => ({
      openapi: '3.1.0',
      info: {},
      paths: { [path]: { get: { operationId, responses: { 200: { $ref: '#/components/schemas/Patient' } } } } },
      components: { schemas: { Patient: schema }, responses: { NotFound: { description: 'No such record.' } } },
    });
    const merged = mergeDocuments({ openapi: '3.1.0', info: {} }, [
      { service: 'patients', document: document(patient, 'getPatient', '/api/patients/{id}') },
      { service: 'scheduling', document: document(patient, 'listPatients', '/api/patients') },
    ]);
    expect(merged.components?.schemas?.['Patient']).toEqual(patient);
    expect(merged.components?.schemas).toHaveProperty('Problem');
    expect(merged.components?.responses?.['NotFound']).toEqual({ description: 'No such record.' });
    expect(() =>
      mergeDocuments({ openapi: '3.1.0', info: {} }, [
        { service: 'patients', document: document(patient, 'getPatient', '/api/patients/{id}') },
        { service: 'scheduling', document: document({ type: 'string' }, 'listPatients', '/api/patients') },
      ]),
    ).toThrow(/scheduling defines components\.schemas\.Patient differently/);
    expect(() =>
      mergeDocuments({ openapi: '3.1.0', info: {} }, [
        { service: 'patients', document: document(patient, 'getPatient', '/api/patients/{id}') },
        { service: 'scheduling', document: document(patient, 'getPatient', '/api/patients') },
      ]),
    ).toThrow(/operationId getPatient names both GET \/api\/patients\/\{id\} and GET \/api\/patients/);
  });

  it('gives each client behind one proxy its own rate-limit bucket with TRUST_PROXY_HOPS=1, never one it names itself', async () => {
    const behindProxy = (trustProxyHops: number) =>
      buildApp({ logger, upstreams: {}, internalAuthSecret: SECRET, rateLimitPerMinute: 2, trustProxyHops });
    // The ingress controller at 10.0.0.5 appends the address it saw to X-Forwarded-For.
    const from = (app: Awaited<ReturnType<typeof behindProxy>>, forwardedFor: string) =>
      app.inject({ url: '/api/downtimeMessage', remoteAddress: '10.0.0.5', headers: { 'x-forwarded-for': forwardedFor } });

    const app = await behindProxy(1);
    expect((await from(app, '203.0.113.1')).statusCode).toBe(200);
    expect((await from(app, '203.0.113.1')).statusCode).toBe(200);
    expect((await from(app, '203.0.113.1')).statusCode).toBe(429);
    // Another client behind the same proxy has a bucket of its own.
    expect((await from(app, '203.0.113.2')).statusCode).toBe(200);
    // A client putting an address of its choosing in front of the one the proxy appended stays in its own bucket.
    const spoofed = await from(app, '198.51.100.77, 203.0.113.1');
    expect(spoofed.statusCode).toBe(429);
    expect(spoofed.headers['content-type']).toContain('application/problem+json');
    await app.close();

    // TRUST_PROXY_HOPS=0 behind a proxy (the wrong value): every client is the proxy, in one shared bucket.
    const misconfigured = await behindProxy(0);
    expect((await from(misconfigured, '203.0.113.1')).statusCode).toBe(200);
    expect((await from(misconfigured, '203.0.113.2')).statusCode).toBe(200);
    expect((await from(misconfigured, '203.0.113.3')).statusCode).toBe(429);
    await misconfigured.close();
  });

  it('sends Strict-Transport-Security on every answer, as it sits behind TLS termination', async () => {
    const app = await buildApp({ logger, upstreams: {}, internalAuthSecret: SECRET, trustProxyHops: 1 });
    for (const headers of [{}, { 'x-forwarded-proto': 'https' }]) {
      const response = await app.inject({ url: '/api/downtimeMessage', headers });
      expect(response.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    }
    expect((await app.inject({ url: '/api/nothing-here' })).headers['strict-transport-security']).toBe(
      'max-age=31536000; includeSubDomains',
    );
    await app.close();
  });

  it('never forwards a client-supplied internal identity', async () => {
    const app = await gateway({ patients: upstreamUrl });
    await app.inject({ method: 'GET', url: '/api/patients/1', headers: { 'x-internal-identity': 'forged' } });
    expect(seen.at(-1)!.headers['x-internal-identity']).toBeUndefined();
    await app.close();
  });

  it('never forwards a client’s trace context: a service would continue a trace the client chose', async () => {
    const app = await gateway({ patients: upstreamUrl });
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await app.inject({ method: 'GET', url: '/api/patients/1', headers: { traceparent, tracestate: 'vendor=1' } });
    expect(seen.at(-1)!.headers['traceparent']).toBeUndefined();
    expect(seen.at(-1)!.headers['tracestate']).toBeUndefined();
    await app.close();
  });

  it('passes Idempotency-Key to the owner, lets browsers send it and read Idempotent-Replayed', async () => {
    const app = await gateway({ scheduling: upstreamUrl });
    await app.inject({ method: 'POST', url: '/api/appointments', headers: { 'idempotency-key': 'retry-me-1' }, payload: {} });
    expect(seen.at(-1)!.headers['idempotency-key']).toBe('retry-me-1');
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/api/appointments',
      headers: {
        origin: 'https://clinic.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,idempotency-key',
      },
    });
    expect(preflight.statusCode).toBe(204);
    expect(String(preflight.headers['access-control-allow-headers']).split(/,\s*/)).toContain('idempotency-key');
    const answer = await app.inject({
      method: 'POST',
      url: '/api/appointments',
      headers: { origin: 'https://clinic.example' },
      payload: {},
    });
    expect(String(answer.headers['access-control-expose-headers']).split(/,\s*/)).toContain('idempotent-replayed');
    await app.close();
  });

  it('answers 501 naming the owner for a group whose service is not deployed', async () => {
    const app = await gateway({ patients: upstreamUrl });
    const response = await app.inject({ method: 'GET', url: '/api/appointments/123' });
    expect(response.statusCode).toBe(501);
    expect(response.headers['content-type']).toMatch(/problem\+json/);
    expect(response.json()).toMatchObject({ status: 501, service: 'scheduling' });
    const stripe = await app.inject({ method: 'POST', url: '/api/callback/stripe/charges' });
    expect(stripe.json()).toMatchObject({ status: 501, service: 'billing' });
    // The credential check of patient logins is auth's, though the path is in the patients group.
    const login = await app.inject({ method: 'POST', url: '/api/patients/login', payload: {} });
    expect(login.json()).toMatchObject({ status: 501, service: 'auth' });
    const before = seen.length;
    await app.inject({ method: 'GET', url: '/api/patients/login' });
    expect(seen.length).toBe(before + 1);
    await app.close();
  });

  it('sends referring providers and the NPI registry to patients, and the rest of providers to scheduling', async () => {
    const app = await gateway({ patients: upstreamUrl });
    for (const [method, url] of [
      ['GET', '/api/providers/referring?name=ada'],
      ['POST', '/api/providers/referring/abc/share'],
      ['GET', '/api/providers/npi/search?last_name=doe'],
    ] as const) {
      const response = await app.inject({ method, url, ...(method === 'POST' ? { payload: {} } : {}) });
      expect(response.statusCode, url).toBe(200);
      expect(response.json(), url).toEqual({ echoed: url, method });
    }
    // Scheduling is not deployed here: its own providers answer 501 naming it, not patients' upstream.
    expect((await app.inject({ method: 'GET', url: '/api/providers/abc' })).json()).toMatchObject({ status: 501, service: 'scheduling' });
    await app.close();
  });

  it('passes a service’s 405 and its Allow through, and answers 405 itself for a wrong method on its own paths', async () => {
    const service = await createServiceApp({ name: 'patients', logger });
    service.get('/api/patients', { config: { roles: 'public' } }, async () => ({ listed: true }));
    const serviceUrl = await service.listen({ host: '127.0.0.1', port: 0 });
    const app = await gateway({ patients: serviceUrl });
    try {
      const wrong = await app.inject({ method: 'DELETE', url: '/api/patients' });
      expect(wrong.statusCode).toBe(405);
      expect(wrong.headers['allow']).toBe('GET, HEAD');
      expect(wrong.headers['content-type']).toMatch(/problem\+json/);
      expect(wrong.json()).toMatchObject({ status: 405, type: '/problems/method-not-allowed' });
      // A trailing slash reaches the same route, through the gateway as on the service.
      const slashed = await app.inject({ method: 'GET', url: '/api/patients/' });
      expect(slashed.statusCode).toBe(200);
      expect(slashed.json()).toEqual({ listed: true });
      const own = await app.inject({ method: 'POST', url: '/api/status/' });
      expect(own.statusCode).toBe(405);
      expect(own.headers['allow']).toBe('GET, HEAD');
      expect((await app.inject({ method: 'GET', url: '/api/downtimeMessage/' })).statusCode).toBe(200);
      // Groups of services not deployed answer 501 to every method, never 405.
      for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const) {
        const notDeployed = await app.inject({ method, url: '/api/appointments/' });
        expect(notDeployed.statusCode).toBe(501);
      }
    } finally {
      await app.close();
      await service.close();
    }
  });

  it('answers 404 problem+json for paths of no group', async () => {
    const app = await gateway({});
    for (const url of ['/api/nothing-here', '/api', '/elsewhere']) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode).toBe(404);
      expect(response.headers['content-type']).toMatch(/problem\+json/);
    }
    await app.close();
  });

  it('answers 502 when the owner does not answer', async () => {
    const app = await gateway({ patients: 'http://127.0.0.1:1' });
    const response = await app.inject({ method: 'GET', url: '/api/patients/1' });
    expect(response.statusCode).toBe(502);
    expect(response.json()).toMatchObject({ status: 502, detail: expect.stringContaining('patients') });
    await app.close();
  });

  it('refuses bodies over the limit before forwarding', async () => {
    const app = await gateway({ patients: upstreamUrl });
    const before = seen.length;
    const response = await app.inject({ method: 'POST', url: '/api/patients', payload: { big: 'x'.repeat(4096) } });
    expect(response.statusCode).toBe(413);
    expect(seen.length).toBe(before);
    await app.close();
  });

  it('reports every service on /api/status', async () => {
    const app = await gateway({ patients: upstreamUrl, billing: 'http://127.0.0.1:1' });
    const status = (await app.inject({ url: '/api/status' })).json() as {
      status: string;
      services: Array<{ name: string; status: string }>;
    };
    const byName = Object.fromEntries(status.services.map((service) => [service.name, service.status]));
    expect(byName).toEqual({
      gateway: 'ok',
      auth: 'not-deployed',
      scheduling: 'not-deployed',
      messaging: 'not-deployed',
      patients: 'ok',
      billing: 'unavailable',
    });
    expect(status.status).toBe('degraded');
    expect((await app.inject({ url: '/api/status/services/patients' })).json()).toMatchObject({ name: 'patients', status: 'ok' });
    expect((await app.inject({ url: '/api/status/services/nope' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/api/downtimeMessage' })).json()).toEqual({ message: null });
    await app.close();
  });

  it('maps every group of the seed to exactly one owner', () => {
    expect(ownerOf('/api/callback/stripe/charges')).toEqual({ group: 'callback/stripe', service: 'billing' });
    expect(ownerOf('/api/callback/twilio/abc')).toEqual({ group: 'callback', service: 'messaging' });
    expect(ownerOf('/api/admin/dedupe/patient')).toEqual({ group: 'admin/dedupe', service: 'patients' });
    expect(ownerOf('/api/admin/shorten')).toEqual({ group: 'admin/shorten', service: 'messaging' });
    expect(ownerOf('/api/admin')).toBeNull();
    // The longer prefix wins: referring providers and the NPI registry are patients', other providers scheduling's.
    expect(ownerOf('/api/providers/referring/abc/share')).toEqual({ group: 'providers/referring', service: 'patients' });
    expect(ownerOf('/api/providers/referring')).toEqual({ group: 'providers/referring', service: 'patients' });
    expect(ownerOf('/api/providers/npi/search?last_name=doe')).toEqual({ group: 'providers/npi', service: 'patients' });
    expect(ownerOf('/api/providers/abc')).toEqual({ group: 'providers', service: 'scheduling' });
    const groups = listGroups().map((entry) => entry.group);
    expect(new Set(groups).size).toBe(groups.length);
  });
});

describe('route table against the v1 endpoint list', () => {
  it('gives every v1 endpoint an owner', async () => {
    const { readFile } = await import('node:fs/promises');
    const lines = (await readFile(new URL('../test/v1-endpoints.txt', import.meta.url), 'utf8')).split('\n').filter(Boolean);
    const orphans = lines
      .map((line) => line.split(' ')[1]!)
      .filter((path) => path !== '/api/*')
      .filter((path) => ownerOf(path) === null);
    expect(orphans).toEqual([]);
    expect(lines.length).toBeGreaterThan(300);
  });
});
