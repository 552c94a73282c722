import { KafkaBus } from '@pep/bus';
import {
  ACCESS_REVOCATIONS_PATH,
  createEvent,
  findEventDefinition,
  integratorClientDeletedV1,
  integratorClientUpdatedV1,
  organizationDeletedV1,
  organizationUpdatedV1,
  REVOCATIONS_READER_ROLE,
  userDeactivatedV1,
  userPasswordChangedV1,
  userSessionsRevokedV1,
  type AccessRevocation,
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
const SECRET = 'r'.repeat(40);
const uuid = () => crypto.randomUUID();
type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/** The value of a gateway counter or gauge, summed over the label sets whose text contains `labels`. */
async function metric(app: ServiceApp, name: string, labels = ''): Promise<number> {
  const text = (await app.inject({ url: '/metrics' })).body;
  return text
    .split('\n')
    .filter((line) => line.startsWith(name) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

describe('gateway: revoked access tokens are refused on every replica as soon as the event arrives', () => {
  let privateKey: Key;
  let verify: ReturnType<typeof verifierFor>;
  let fakeAuth: FastifyInstance;
  let authUrl: string;
  let snapshot: AccessRevocation[] = [];
  let snapshotStatus = 200;
  let producer: KafkaBus;
  let brokers: string[];
  let topicPrefix: string;
  const buses: KafkaBus[] = [];
  const replicas: ServiceApp[] = [];

  const startReplica = async (options: { maxStalenessMs?: number; createTopics?: boolean } = {}) => {
    const { createTopics, ...feed } = options;
    const bus = new KafkaBus({
      brokers,
      clientId: 'gateway-test',
      topicPrefix,
      logger,
      ...(createTopics === undefined ? {} : { createTopics }),
    });
    buses.push(bus);
    const app = await buildApp({
      logger,
      upstreams: { patients: authUrl, auth: authUrl },
      internalAuthSecret: SECRET,
      verifyToken: verify,
      revocations: { bus, authUrl, refreshIntervalMs: 60_000, ...feed },
    });
    await app.ready();
    replicas.push(app);
    return app;
  };

  /** An access token as auth signs it: `iat` in seconds and `iat_ms` to the millisecond. */
  const token = (claims: { sub: string; org: string; issuedAtMs?: number }) => {
    const issuedAtMs = claims.issuedAtMs ?? Date.now();
    return new SignJWT({ org: claims.org, roles: ['admin'], kind: 'staff', iat_ms: issuedAtMs })
      .setProtectedHeader({ alg: 'ES256', kid: 'key-1', typ: 'at+jwt' })
      .setSubject(claims.sub)
      .setJti(uuid())
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setIssuedAt(Math.floor(issuedAtMs / 1000))
      .setExpirationTime('15m')
      .sign(privateKey);
  };
  const call = (app: ServiceApp, accessToken: string) =>
    app.inject({ url: '/api/patients/anything', headers: { authorization: `Bearer ${accessToken}` } });

  /** Publishes an auth event, as auth's outbox relay would, and waits until every replica has applied it. */
  const deliver = async (event: EventEnvelope) => {
    const applied = () => Promise.all(replicas.map((app) => metric(app, 'gateway_revocation_events_total', `type="${event.type}"`)));
    const before = await applied();
    const topic = findEventDefinition(event.type, event.dataversion)!.topic;
    await producer.publish([{ topic, key: event.subject, value: JSON.stringify(event) }]);
    await waitFor(async () => (await applied()).every((count, i) => count > before[i]!), { timeoutMs: 20_000 });
  };
  const event = <T>(definition: Parameters<typeof createEvent>[0], organization: string, subject: string, data: T, time = new Date()) =>
    createEvent(definition, { source: '/services/auth', organization, subject, data, time }) as EventEnvelope;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    verify = verifierFor(createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'ES256', use: 'sig' }] }));
    fakeAuth = Fastify();
    fakeAuth.get(ACCESS_REVOCATIONS_PATH, async (request, reply) => {
      const caller = await verifyIdentity(SECRET, request.headers[IDENTITY_HEADER] as string | undefined);
      if (!caller?.roles.includes(REVOCATIONS_READER_ROLE)) return reply.code(401).send({ status: 401 });
      if (snapshotStatus !== 200) return reply.code(snapshotStatus).send({ status: snapshotStatus });
      return { asOf: new Date().toISOString(), tokenLifetimeSeconds: 900, revocations: snapshot };
    });
    fakeAuth.all('/api/*', async () => ({ ok: true }));
    authUrl = await fakeAuth.listen({ host: '127.0.0.1', port: 0 });
    brokers = await kafkaBrokers();
    topicPrefix = uniqueTopicPrefix('gateway-revocations');
    producer = new KafkaBus({ brokers, clientId: 'gateway-test-producer', topicPrefix, logger });
    // The topics exist before the replicas join, so their "start from now" position is the topics' end.
    await producer.publish(
      [userDeactivatedV1, organizationDeletedV1, integratorClientDeletedV1].map((d) => ({ topic: d.topic, key: 'warm-up', value: '{}' })),
    );
    await startReplica();
    await startReplica();
    await waitFor(
      async () => (await Promise.all(replicas.map((app) => app.inject({ url: '/health/ready' })))).every((r) => r.statusCode === 200),
      {
        timeoutMs: 30_000,
      },
    );
  }, 60_000);
  afterAll(async () => {
    for (const app of replicas) await app.close();
    for (const bus of [...buses, producer]) await bus?.close();
    await fakeAuth?.close();
  });

  it('refuses a decommissioned user’s token in that organization only, on both replicas', async () => {
    const [org, otherOrg, user] = [uuid(), uuid(), uuid()];
    const here = await token({ sub: user, org });
    const elsewhere = await token({ sub: user, org: otherOrg });
    for (const app of replicas) expect((await call(app, here)).statusCode).toBe(200);
    await deliver(event(userDeactivatedV1, org, user, { _id: user }));
    for (const app of replicas) {
      const refused = await call(app, here);
      expect(refused.statusCode).toBe(401);
      expect(refused.headers['content-type']).toContain('application/problem+json');
      expect(refused.json()).toMatchObject({ status: 401, type: expect.stringContaining('invalid-token') });
      expect((await call(app, elsewhere)).statusCode).toBe(200);
    }
    expect(await metric(replicas[0]!, 'gateway_revoked_tokens_refused_total')).toBeGreaterThan(0);
  });

  it('skips an unreadable event instead of holding the partition, where no dead-letter topic may be created', async () => {
    // Topics are declared in production: a replica's own group has no dead-letter topic, so retrying an unreadable event
    // would hold every revocation behind it.
    const declared = await startReplica({ createTopics: false });
    await waitFor(async () => (await declared.inject({ url: '/health/ready' })).statusCode === 200, { timeoutMs: 30_000 });
    const [org, user] = [uuid(), uuid()];
    const held = await token({ sub: user, org });
    await producer.publish([{ topic: userDeactivatedV1.topic, key: user, value: '{"not":"an event"}' }]);
    await deliver(event(userDeactivatedV1, org, user, { _id: user }));
    for (const app of replicas) expect((await call(app, held)).statusCode).toBe(401);
  });

  it('refuses every token of a deleted organization, and of a suspended one', async () => {
    for (const revoke of [
      (org: string) => event(organizationDeletedV1, org, org, { _id: org }),
      (org: string) => event(organizationUpdatedV1, org, org, { _id: org, name: 'Clinic', active: false, changed: ['active'] }),
    ]) {
      const org = uuid();
      const tokens = [await token({ sub: uuid(), org }), await token({ sub: uuid(), org })];
      await deliver(revoke(org));
      for (const app of replicas) for (const t of tokens) expect((await call(app, t)).statusCode).toBe(401);
    }
  });

  it('refuses a deleted or deactivated integrator client’s token', async () => {
    const org = uuid();
    const deleted = uuid();
    const deactivated = uuid();
    const tokens = { deleted: await token({ sub: deleted, org }), deactivated: await token({ sub: deactivated, org }) };
    await deliver(event(integratorClientDeletedV1, org, deleted, { _id: deleted }));
    await deliver(
      event(integratorClientUpdatedV1, org, deactivated, {
        _id: deactivated,
        name: 'EHR',
        clientId: 'ehr',
        roles: ['admin'],
        active: false,
        changed: ['active'],
      }),
    );
    for (const app of replicas) {
      expect((await call(app, tokens.deleted)).statusCode).toBe(401);
      expect((await call(app, tokens.deactivated)).statusCode).toBe(401);
    }
  });

  it('after a password change or revoked sessions refuses tokens issued before it and accepts one issued just after, in the same second', async () => {
    for (const definition of [userPasswordChangedV1, userSessionsRevokedV1]) {
      const [org, user] = [uuid(), uuid()];
      // Mid-second, so the tokens either side share their whole-second `iat`.
      const change = Math.floor(Date.now() / 1000) * 1000 + 500;
      const before = await token({ sub: user, org, issuedAtMs: change - 100 });
      const after = await token({ sub: user, org, issuedAtMs: change + 100 });
      const data = definition === userSessionsRevokedV1 ? { _id: user, reason: 'refresh-token-reuse' } : { _id: user };
      await deliver(event(definition, org, user, data, new Date(change)));
      for (const app of replicas) {
        expect((await call(app, before)).statusCode).toBe(401);
        expect((await call(app, after)).statusCode).toBe(200);
      }
    }
  });

  it('a replica started after a revocation knows it from auth’s snapshot', async () => {
    const [org, user] = [uuid(), uuid()];
    const old = await token({ sub: user, org, issuedAtMs: Date.now() - 1_000 });
    snapshot = [{ scope: 'member', subject: user, organization: org, notBefore: new Date().toISOString() }];
    const late = await startReplica();
    await waitFor(async () => (await late.inject({ url: '/health/ready' })).statusCode === 200, { timeoutMs: 30_000 });
    expect((await call(late, old)).statusCode).toBe(401);
    expect((await call(late, await token({ sub: user, org }))).statusCode).toBe(200);
  });

  it('fails closed: a replica that cannot load the snapshot is not ready and answers 503 to tokens, while sign-in passes', async () => {
    snapshotStatus = 500;
    try {
      const blind = await startReplica({ maxStalenessMs: 1_000 });
      const ready = await blind.inject({ url: '/health/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().checks).toMatchObject({ revocations: 'failing' });
      expect(await metric(blind, 'gateway_revocation_feed_up')).toBe(0);
      const refused = await call(blind, await token({ sub: uuid(), org: uuid() }));
      expect(refused.statusCode).toBe(503);
      expect(refused.json()).toMatchObject({ status: 503, type: expect.stringContaining('revocations-unavailable') });
      const login = await blind.inject({
        method: 'POST',
        url: '/api/users/login',
        payload: {},
        headers: { authorization: `Bearer ${await token({ sub: uuid(), org: uuid() })}` },
      });
      expect(login.statusCode).toBe(200);
    } finally {
      snapshotStatus = 200;
    }
  });
});
