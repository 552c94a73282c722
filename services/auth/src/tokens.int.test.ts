import { createLogger } from '@pep/service-kit';
import { KafkaBus } from '@pep/bus';
import { kafkaBrokers } from '@pep/testing';
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, signup, SECRET, SIGNING_SECRET, PUBLIC_URL, startAuth, UNREACHABLE, type AuthUnderTest } from '../test/harness.js';
import { buildApp } from './app.js';

describe('auth service: access tokens, refresh rotation and signing keys', () => {
  let service: AuthUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    service = await startAuth('tokens', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const validate = (headers: Record<string, string>) => service.app.inject({ url: '/api/tokens/validate', headers });
  const refresh = (refreshToken: string) => service.app.inject({ method: 'POST', url: '/api/tokens/validate', payload: { refreshToken } });
  const jwks = async () => (await service.app.inject({ url: '/.well-known/jwks.json' })).json() as { keys: JWK[] };

  it('issues ES256 access tokens with the agreed claims, verifiable with the published JWKS', async () => {
    const account = await signup(service.app);
    const header = decodeProtectedHeader(account.token);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const claims = decodeJwt(account.token);
    expect(claims).toMatchObject({
      iss: 'pep-auth',
      aud: 'pep-api',
      sub: account.user._id,
      org: account.organization._id,
      roles: ['admin'],
      kind: 'staff',
    });
    expect(claims.exp! - claims.iat!).toBe(900);
    expect(claims.jti).toBeTypeOf('string');

    const set = await jwks();
    expect(set.keys).toHaveLength(1);
    const jwk = set.keys[0]!;
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: header.kid });
    expect(jwk).not.toHaveProperty('d');
    const { payload } = await jwtVerify(account.token, await importJWK(jwk, 'ES256'), {
      algorithms: ['ES256'],
      issuer: 'pep-auth',
      audience: 'pep-api',
    });
    expect(payload.sub).toBe(account.user._id);

    // The private key is stored encrypted, not as a JWK anyone could read.
    const { rows } = await sql.query('SELECT private_jwk_ciphertext FROM signing_key');
    expect(rows).toHaveLength(1);
    expect(rows[0].private_jwk_ciphertext).toMatch(/^v1\./);
    expect(rows[0].private_jwk_ciphertext).not.toContain('"d"');
  });

  it('validates the token from Authorization or x-access-token, with or without Bearer', async () => {
    const account = await signup(service.app);
    const accepted: Record<string, string>[] = [
      { authorization: `Bearer ${account.token}` },
      { 'x-access-token': `Bearer ${account.token}` },
      { 'x-access-token': account.token },
    ];
    for (const headers of accepted) {
      const response = await validate(headers);
      expect(response.statusCode, Object.keys(headers)[0]).toBe(200);
      expect(response.json()).toMatchObject({ sub: account.user._id, org: account.organization._id, roles: ['admin'], kind: 'staff' });
    }
    const refused: Record<string, string>[] = [
      {},
      { authorization: 'Bearer' },
      { authorization: `Basic ${account.token}` },
      { 'x-access-token': 'garbage' },
    ];
    for (const headers of refused) {
      const response = await validate(headers);
      expect(response.statusCode).toBe(401);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
  });

  it('rotates refresh tokens: each works once, and reusing a spent one revokes the whole family', async () => {
    const account = await signup(service.app);
    const second = await refresh(account.refreshToken);
    expect(second.statusCode).toBe(200);
    const pair2 = second.json();
    expect(pair2.refreshToken).not.toBe(account.refreshToken);
    expect((await validate({ authorization: `Bearer ${pair2.token}` })).statusCode).toBe(200);

    const third = await refresh(pair2.refreshToken);
    expect(third.statusCode).toBe(200);
    const pair3 = third.json();

    // The first token was already exchanged: presenting it again means it leaked.
    const replay = await refresh(account.refreshToken);
    expect(replay.statusCode).toBe(401);
    expect((await refresh(pair3.refreshToken)).statusCode).toBe(401);

    const { rows } = await sql.query(
      'SELECT count(*)::int AS total, count(revoked_at)::int AS revoked, count(parent_id)::int AS with_parent FROM refresh_token WHERE "user" = $1',
      [account.user._id],
    );
    expect(rows[0]).toEqual({ total: 3, revoked: 3, with_parent: 2 });
  });

  it('lets only one of two concurrent exchanges of one refresh token through', async () => {
    const account = await signup(service.app);
    const results = await Promise.all([refresh(account.refreshToken), refresh(account.refreshToken)]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401]);
  });

  it('refuses unknown and expired refresh tokens', async () => {
    expect((await refresh('A'.repeat(43))).statusCode).toBe(401);
    const account = await signup(service.app);
    service.clock.advance(31 * 86_400_000);
    try {
      expect((await refresh(account.refreshToken)).statusCode).toBe(401);
    } finally {
      service.clock.advance(-31 * 86_400_000);
    }
  });

  it('expires access tokens after their lifetime', async () => {
    const account = await signup(service.app);
    service.clock.advance(901_000);
    try {
      expect((await validate({ authorization: `Bearer ${account.token}` })).statusCode).toBe(401);
    } finally {
      service.clock.advance(-901_000);
    }
  });

  it('rotates the signing key after the rotation period, keeping the previous one verifiable', async () => {
    const before = await signup(service.app);
    const oldKid = decodeProtectedHeader(before.token).kid;
    // Just under the token lifetime remains for the old token after the clock moves past the rotation.
    service.clock.advance(30 * 86_400_000);
    try {
      const after = await signup(service.app);
      const newKid = decodeProtectedHeader(after.token).kid;
      expect(newKid).not.toBe(oldKid);
      expect((await jwks()).keys.map((key) => key.kid)).toEqual([newKid, oldKid]);
      expect((await validate({ authorization: `Bearer ${after.token}` })).statusCode).toBe(200);
      const { rows } = await sql.query('SELECT generation FROM signing_key ORDER BY generation');
      expect(rows.map((row) => row.generation)).toEqual([1, 2]);
    } finally {
      service.clock.advance(-30 * 86_400_000);
    }
  });

  it('lets the gateway forward callers: protected routes accept the signed identity', async () => {
    const account = await signup(service.app);
    const response = await service.app.inject({ url: `/api/users/${account.user._id}`, headers: await bearer(account.token) });
    expect(response.statusCode).toBe(200);
    expect(
      (await service.app.inject({ url: `/api/users/${account.user._id}`, headers: { authorization: `Bearer ${account.token}` } }))
        .statusCode,
    ).toBe(401);
  });

  it('creates exactly one key when two replicas start together on a fresh database', async () => {
    const fresh = await startAuth('tokens-replicas', await kafkaBrokers());
    // Drop the key the harness's replica made, then start two more replicas at once.
    await fresh.app.close();
    const admin = new pg.Client({ connectionString: fresh.databaseUrl });
    await admin.connect();
    try {
      await admin.query('DELETE FROM signing_key');
      const logger = createLogger({ service: 'auth', level: 'silent' });
      const bus = new KafkaBus({ brokers: await kafkaBrokers(), clientId: 'replicas', topicPrefix: fresh.topicPrefix, logger });
      const replicas = await Promise.all(
        [1, 2].map(() =>
          buildApp({
            logger,
            database: fresh.database,
            bus,
            internalAuthSecret: SECRET,
            signingKeySecret: SIGNING_SECRET,
            publicUrl: PUBLIC_URL,
            mailer: { from: 'auth@example.test', directory: fresh.mailDir },
            schedulingUrl: UNREACHABLE,
          }),
        ),
      );
      await Promise.all(replicas.map((replica) => replica.ready()));
      const { rows } = await admin.query('SELECT count(*)::int AS n FROM signing_key');
      expect(rows[0].n).toBe(1);
      const sets = await Promise.all(replicas.map(async (replica) => (await replica.inject({ url: '/.well-known/jwks.json' })).json()));
      expect(sets[0]).toEqual(sets[1]);
      for (const replica of replicas) await replica.close();
      await bus.close();
    } finally {
      await admin.end();
      await fresh.close().catch(() => undefined);
    }
  });
});
