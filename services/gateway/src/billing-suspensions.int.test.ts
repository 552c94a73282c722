import { KafkaBus } from '@pep/bus';
import {
  ACCESS_REVOCATIONS_PATH,
  createEvent,
  organizationDeletedV1,
  organizationUpdatedV1,
  REVOCATIONS_READER_ROLE,
  type AccessRevocationsSnapshot,
  type EventEnvelope,
} from '@pep/contracts';
import { createLogger, IDENTITY_HEADER, type ServiceApp, verifyIdentity } from '@pep/service-kit';
import { kafkaBrokers, uniqueTopicPrefix, waitFor } from '@pep/testing';
import Fastify, { type FastifyInstance } from 'fastify';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, verifierFor } from './access-token.js';
import { buildApp } from './app.js';

const logger = createLogger({ service: 'gateway-test', level: 'silent' });
const SECRET = 'b'.repeat(40);
const uuid = () => crypto.randomUUID();
type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

describe('gateway: an organization suspended for billing reads but does not write (402), on every replica', () => {
  let privateKey: Key;
  let verify: ReturnType<typeof verifierFor>;
  let upstream: FastifyInstance;
  let upstreamUrl: string;
  let billingSuspended: NonNullable<AccessRevocationsSnapshot['billingSuspended']> = [];
  let producer: KafkaBus;
  let brokers: string[];
  let topicPrefix: string;
  const buses: KafkaBus[] = [];
  const replicas: ServiceApp[] = [];
  const reached: string[] = [];

  const startReplica = async () => {
    const bus = new KafkaBus({ brokers, clientId: 'gateway-test', topicPrefix, logger });
    buses.push(bus);
    const app = await buildApp({
      logger,
      upstreams: { patients: upstreamUrl, auth: upstreamUrl, billing: upstreamUrl, scheduling: upstreamUrl },
      internalAuthSecret: SECRET,
      verifyToken: verify,
      revocations: { bus, authUrl: upstreamUrl, refreshIntervalMs: 60_000 },
    });
    await app.ready();
    await waitFor(async () => (await app.inject({ url: '/health/ready' })).statusCode === 200, { timeoutMs: 30_000 });
    replicas.push(app);
    return app;
  };
  const token = (org: string) =>
    new SignJWT({ org, roles: ['admin'], kind: 'staff', iat_ms: Date.now() })
      .setProtectedHeader({ alg: 'ES256', kid: 'key-1', typ: 'at+jwt' })
      .setSubject(uuid())
      .setJti(uuid())
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('15m')
      .sign(privateKey);
  const call = (app: ServiceApp, accessToken: string, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${accessToken}` },
      ...(method === 'GET' || method === 'DELETE' ? {} : { payload: {} }),
    });
  const suspendedOn = (app: ServiceApp) => app.inject({ url: '/metrics' }).then((r) => r.body);
  /** Publishes auth's organization.updated for a billing change and waits until every replica has applied it. */
  const announce = async (org: string, suspended: boolean) => {
    const event = createEvent(organizationUpdatedV1, {
      source: '/services/auth',
      organization: org,
      subject: org,
      time: new Date(),
      data: { _id: org, name: 'Clinic', active: true, billingSuspended: suspended, changed: ['billingSuspended'] },
    }) as EventEnvelope;
    const gauge = async (app: ServiceApp) =>
      Number(/^gateway_billing_suspended_organizations(?:{[^}]*})? (\d+)/m.exec(await suspendedOn(app))?.[1]);
    const before = await Promise.all(replicas.map(gauge));
    await producer.publish([{ topic: organizationUpdatedV1.topic, key: org, value: JSON.stringify(event) }]);
    await waitFor(async () => (await Promise.all(replicas.map(gauge))).every((n, i) => n === before[i]! + (suspended ? 1 : -1)), {
      timeoutMs: 20_000,
      message: 'every replica applied the billing change',
    });
  };

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    verify = verifierFor(createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'ES256', use: 'sig' }] }));
    upstream = Fastify();
    upstream.get(ACCESS_REVOCATIONS_PATH, async (request, reply) => {
      const caller = await verifyIdentity(SECRET, request.headers[IDENTITY_HEADER] as string | undefined);
      if (!caller?.roles.includes(REVOCATIONS_READER_ROLE)) return reply.code(401).send({ status: 401 });
      return { asOf: new Date().toISOString(), tokenLifetimeSeconds: 900, revocations: [], billingSuspended };
    });
    upstream.all('/api/*', async (request) => {
      reached.push(`${request.method} ${request.url}`);
      return { ok: true };
    });
    upstreamUrl = await upstream.listen({ host: '127.0.0.1', port: 0 });
    brokers = await kafkaBrokers();
    topicPrefix = uniqueTopicPrefix('gateway-billing');
    producer = new KafkaBus({ brokers, clientId: 'gateway-test-producer', topicPrefix, logger });
    // The topics exist before the replicas join, so their "start from now" position is the topics' end.
    await producer.publish([{ topic: organizationDeletedV1.topic, key: 'warm-up', value: '{}' }]);
    await startReplica();
    await startReplica();
  }, 90_000);
  afterAll(async () => {
    for (const app of replicas) await app.close();
    for (const bus of [...buses, producer]) await bus?.close();
    await upstream?.close();
  });

  it('answers writes with 402 problem+json, keeps reads and the billing and sign-in routes open, and lifts at once', async () => {
    const org = uuid();
    const other = uuid();
    const [mine, theirs] = [await token(org), await token(other)];
    await announce(org, true);
    for (const app of replicas) {
      for (const [method, url] of [
        ['POST', '/api/patients'],
        ['PUT', '/api/patients/p1'],
        ['PATCH', '/api/appointments/a1'],
        ['DELETE', '/api/patients/p1'],
      ] as const) {
        const refused = await call(app, mine, method, url);
        expect(refused.statusCode, `${method} ${url}`).toBe(402);
        expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(refused.json()).toMatchObject({ type: '/problems/payment-required', status: 402, title: 'Payment Required' });
        expect(refused.json().detail).toMatch(/pay the outstanding invoice or update the payment method/i);
      }
      const before = reached.length;
      expect((await call(app, mine, 'GET', '/api/patients/p1')).statusCode).toBe(200);
      expect((await call(app, mine, 'GET', '/api/patients/search?name=x')).statusCode).toBe(200);
      // Paying stays open: the billing account, its subscriptions, and signing in.
      expect((await call(app, mine, 'PUT', '/api/billing')).statusCode).toBe(200);
      expect((await call(app, mine, 'POST', '/api/billing/subscriptions')).statusCode).toBe(200);
      expect((await call(app, mine, 'POST', '/api/users/login')).statusCode).toBe(200);
      expect(reached.length - before).toBe(5);
      // Another organization writes as before.
      expect((await call(app, theirs, 'POST', '/api/patients')).statusCode).toBe(200);
    }
    // The refused writes never reached a service.
    expect(reached.filter((line) => line.startsWith('PATCH'))).toEqual([]);

    await announce(org, false);
    for (const app of replicas) expect((await call(app, mine, 'POST', '/api/patients')).statusCode).toBe(200);
  });

  it('a replica started after the suspension knows it from auth’s snapshot', async () => {
    const org = uuid();
    billingSuspended = [{ organization: org, since: new Date(Date.now() - 60_000).toISOString() }];
    const late = await startReplica();
    expect((await call(late, await token(org), 'POST', '/api/patients')).statusCode).toBe(402);
    expect((await call(late, await token(org), 'GET', '/api/patients')).statusCode).toBe(200);
    billingSuspended = [];
  });
});
