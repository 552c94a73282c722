import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import Fastify, { type FastifyInstance } from 'fastify';
import { createLogger, verifyIdentity } from '@pep/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, verifierFor } from './access-token.js';
import { buildApp } from './app.js';

const logger = createLogger({ service: 'gateway-test', level: 'silent' });
const SECRET = 'i'.repeat(40);
const ORG = '0f0e5d8c-5a55-4b6f-8a43-2d1c8c9b7a61';
type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

describe('gateway authentication', () => {
  let upstream: FastifyInstance;
  let upstreamUrl: string;
  let privateKey: KeyPair['privateKey'];
  let publicJwk: JWK;
  let verify: ReturnType<typeof verifierFor>;
  const seen: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'ES256', use: 'sig' };
    verify = verifierFor(createLocalJWKSet({ keys: [publicJwk] }));
    upstream = Fastify();
    upstream.all('/api/*', async (request) => {
      seen.push(request.headers);
      return { ok: true };
    });
    upstreamUrl = await upstream.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await upstream.close();
  });

  const token = (
    overrides: {
      kid?: string;
      aud?: string;
      iss?: string;
      exp?: number | string;
      key?: KeyPair['privateKey'];
      sub?: string;
      claims?: Record<string, unknown>;
    } = {},
  ) =>
    new SignJWT({ org: ORG, roles: ['admin'], kind: 'staff', ...overrides.claims })
      .setProtectedHeader({ alg: 'ES256', kid: overrides.kid ?? 'key-1', typ: 'at+jwt' })
      .setSubject(overrides.sub ?? 'user-1')
      .setJti(crypto.randomUUID())
      .setIssuer(overrides.iss ?? TOKEN_ISSUER)
      .setAudience(overrides.aud ?? TOKEN_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(overrides.exp ?? '15m')
      .sign(overrides.key ?? privateKey);
  const gateway = (extra: Partial<Parameters<typeof buildApp>[0]> = {}) =>
    buildApp({
      logger,
      upstreams: { patients: upstreamUrl, auth: upstreamUrl },
      internalAuthSecret: SECRET,
      verifyToken: verify,
      ...extra,
    });

  it('turns a valid token into a signed identity the service trusts, in every accepted header form', async () => {
    const app = await gateway();
    const valid = await token();
    for (const headers of [{ authorization: `Bearer ${valid}` }, { 'x-access-token': `Bearer ${valid}` }, { 'x-access-token': valid }]) {
      const response = await app.inject({ url: '/api/patients/1', headers });
      expect(response.statusCode).toBe(200);
      const forwarded = seen.at(-1)!['x-internal-identity'] as string;
      expect(await verifyIdentity(SECRET, forwarded)).toEqual({ organization: ORG, user: 'user-1', roles: ['admin'] });
    }
    await app.close();
  });

  it('refuses forged, foreign and stale tokens with 401 and forwards nothing', async () => {
    const app = await gateway();
    const valid = await token();
    const [header, payload, signature] = valid.split('.') as [string, string, string];
    const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const publicKeyBytes = Buffer.from(JSON.stringify(publicJwk));
    const hmac = (await import('node:crypto')).createHmac('sha256', publicKeyBytes);
    const hsHeader = b64({ alg: 'HS256', kid: 'key-1' });
    hmac.update(`${hsHeader}.${payload}`);
    const otherKey = (await generateKeyPair('ES256')).privateKey;
    const attacks: Record<string, string> = {
      'alg none': `${b64({ alg: 'none', kid: 'key-1' })}.${payload}.`,
      'HS256 signed with the public key': `${hsHeader}.${payload}.${hmac.digest('base64url')}`,
      'wrong audience': await token({ aud: 'someone-else' }),
      'wrong issuer': await token({ iss: 'evil' }),
      expired: await token({ exp: Math.floor(Date.now() / 1000) - 3600 }),
      'unknown kid': await token({ kid: 'key-404', key: otherKey }),
      'signed by another key': await token({ key: otherKey }),
      'tampered payload': `${header}.${b64({ ...claims, org: 'another-org' })}.${signature}`,
      'not an access token (typ)': await new SignJWT({ org: ORG, roles: ['admin'], kind: 'staff' })
        .setProtectedHeader({ alg: 'ES256', kid: 'key-1', typ: 'JWT' })
        .setSubject('user-1')
        .setJti('j')
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime('15m')
        .sign(privateKey),
      garbage: 'not-a-token',
    };
    const before = seen.length;
    for (const [attack, forged] of Object.entries(attacks)) {
      const response = await app.inject({ url: '/api/patients/1', headers: { authorization: `Bearer ${forged}` } });
      expect(response.statusCode, attack).toBe(401);
      expect(response.headers['content-type'], attack).toMatch(/problem\+json/);
      expect(response.headers['www-authenticate'], attack).toContain('invalid_token');
    }
    expect(seen.length).toBe(before);
    await app.close();
  });

  it('lets sign-in and refresh through with a stale token, without identity', async () => {
    const app = await gateway();
    const expired = await token({ exp: Math.floor(Date.now() / 1000) - 3600 });
    const response = await app.inject({
      method: 'POST',
      url: '/api/tokens/validate',
      headers: { authorization: `Bearer ${expired}` },
      payload: {},
    });
    expect(response.statusCode).toBe(200);
    expect(seen.at(-1)!['x-internal-identity']).toBeUndefined();
    expect(seen.at(-1)!['authorization']).toBe(`Bearer ${expired}`);
    await app.close();
  });

  it('rate limits per caller with RateLimit headers, Retry-After and a 429 problem', async () => {
    const app = await gateway({ rateLimitPerMinute: 3 });
    const responses = [];
    for (let i = 0; i < 4; i++) responses.push(await app.inject({ url: '/api/patients/1' }));
    expect(responses.slice(0, 3).map((response) => response.statusCode)).toEqual([200, 200, 200]);
    expect(responses[0]!.headers['ratelimit-limit']).toBe('3');
    expect(responses[0]!.headers['ratelimit-policy']).toBe('3;w=60');
    expect(responses.slice(0, 3).map((response) => response.headers['ratelimit-remaining'])).toEqual(['2', '1', '0']);
    expect(Number(responses[0]!.headers['ratelimit-reset'])).toBeGreaterThan(0);
    const limited = responses[3]!;
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['content-type']).toMatch(/problem\+json/);
    expect(limited.json()).toMatchObject({ status: 429, type: expect.stringContaining('rate-limited') });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['ratelimit-remaining']).toBe('0');
    expect(limited.headers['ratelimit-policy']).toBe('3;w=60');
    // Another caller has its own bucket.
    const other = await app.inject({ url: '/api/patients/1', headers: { authorization: `Bearer ${await token()}` } });
    expect(other.statusCode).toBe(200);
    await app.close();
  });

  it("gives an integrator client the limit its token carries, and everyone else the gateway's default", async () => {
    // A small default keeps it quick: 5 a minute refuses a client syncing 20 requests; its own 50 does not.
    const app = await gateway({ rateLimitPerMinute: 5 });
    const integrator = {
      authorization: `Bearer ${await token({ sub: 'client-1', claims: { kind: 'integrator', roles: ['integrator'], rate_limit_per_minute: 50 } })}`,
    };
    const staff = { authorization: `Bearer ${await token({ sub: 'user-2' })}` };
    const synced = [];
    for (let i = 0; i < 20; i++) synced.push(await app.inject({ url: '/api/patients/1', headers: integrator }));
    expect(synced.map((response) => response.statusCode)).toEqual(Array(20).fill(200));
    expect(synced[0]!.headers['ratelimit-limit']).toBe('50');
    expect(synced[0]!.headers['ratelimit-policy']).toBe('50;w=60');
    expect(synced.map((response) => Number(response.headers['ratelimit-remaining']))).toEqual(Array.from({ length: 20 }, (_, i) => 49 - i));
    const defaulted = [];
    for (let i = 0; i < 20; i++) defaulted.push(await app.inject({ url: '/api/patients/1', headers: staff }));
    expect(defaulted.filter((response) => response.statusCode === 200)).toHaveLength(5);
    expect(defaulted[0]!.headers['ratelimit-policy']).toBe('5;w=60');
    expect(defaulted[5]!.statusCode).toBe(429);
    expect(Number(defaulted[5]!.headers['retry-after'])).toBeGreaterThan(0);
    // A claim that is not a positive whole number is ignored: the default applies.
    const odd = await app.inject({
      url: '/api/patients/1',
      headers: { authorization: `Bearer ${await token({ sub: 'client-2', claims: { rate_limit_per_minute: 'lots' } })}` },
    });
    expect(odd.headers['ratelimit-limit']).toBe('5');
    await app.close();
  });

  it('lets browsers read the rate limit headers', async () => {
    const app = await gateway();
    const response = await app.inject({ url: '/api/patients/1', headers: { origin: 'https://clinic.example' } });
    const exposed = String(response.headers['access-control-expose-headers'])
      .split(',')
      .map((name) => name.trim().toLowerCase());
    for (const header of ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'ratelimit-policy', 'retry-after'])
      expect(exposed).toContain(header);
    await app.close();
  });

  it('answers CORS preflights and sets security headers', async () => {
    const app = await gateway();
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/api/patients',
      headers: { origin: 'https://clinic.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    const response = await app.inject({ url: '/api/status' });
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['strict-transport-security']).toBeDefined();
    await app.close();
  });
});
