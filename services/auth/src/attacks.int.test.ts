import { createHmac } from 'node:crypto';
import { kafkaBrokers } from '@pep/testing';
import { base64url, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signup, SIGNING_SECRET, startAuth, type AuthUnderTest } from '../test/harness.js';
import { decrypt, deriveEncryptionKey } from './signing-keys.js';

describe('auth service: forged and tampered access tokens are refused', () => {
  let service: AuthUnderTest;
  let genuine: { token: string; user: string; organization: string };
  let realKey: { kid: string; privateKey: CryptoKey; publicJwk: JWK };

  beforeAll(async () => {
    service = await startAuth('attacks', await kafkaBrokers());
    const account = await signup(service.app);
    genuine = { token: account.token, user: account.user._id, organization: account.organization._id };
    const sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    const { rows } = await sql.query('SELECT kid, public_jwk, private_jwk_ciphertext FROM signing_key');
    await sql.end();
    const row = rows[0];
    const privateJwk = JSON.parse(decrypt(deriveEncryptionKey(SIGNING_SECRET), row.private_jwk_ciphertext, row.kid)) as JWK;
    realKey = { kid: row.kid, privateKey: (await importJWK(privateJwk, 'ES256')) as CryptoKey, publicJwk: row.public_jwk };
  });
  afterAll(async () => {
    await service?.close();
  });

  const validate = (token: string) => service.app.inject({ url: '/api/tokens/validate', headers: { authorization: `Bearer ${token}` } });
  const encode = (value: object) => base64url.encode(JSON.stringify(value));
  const now = () => Math.floor(Date.now() / 1000);

  /** A token shaped exactly like a real one, signed with the real key, with some claims changed. */
  const forge = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
    new SignJWT({ org: genuine.organization, roles: ['admin'], kind: 'staff', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: realKey.kid, typ: 'at+jwt', ...header })
      .setSubject(genuine.user)
      .setJti('forged')
      .setIssuedAt(now() - 10)
      .setExpirationTime(now() + 600)
      .setIssuer(typeof claims['iss'] === 'string' ? claims['iss'] : 'pep-auth')
      .setAudience(typeof claims['aud'] === 'string' ? claims['aud'] : 'pep-api')
      .sign(realKey.privateKey);

  it('accepts the genuine token and a correctly forged one (the harness itself is sound)', async () => {
    expect((await validate(genuine.token)).statusCode).toBe(200);
    expect((await validate(await forge())).statusCode).toBe(200);
  });

  it('refuses alg "none"', async () => {
    const [, payload] = genuine.token.split('.');
    for (const alg of ['none', 'None', 'NONE']) {
      expect((await validate(`${encode({ alg, typ: 'at+jwt', kid: realKey.kid })}.${payload}.`)).statusCode, alg).toBe(401);
    }
  });

  it('refuses HS256 tokens keyed with the public key', async () => {
    const [, payload] = genuine.token.split('.');
    const header = encode({ alg: 'HS256', typ: 'at+jwt', kid: realKey.kid });
    for (const secret of [
      JSON.stringify(realKey.publicJwk),
      JSON.stringify((await service.app.inject({ url: '/.well-known/jwks.json' })).json()),
    ]) {
      const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
      expect((await validate(`${header}.${payload}.${signature}`)).statusCode).toBe(401);
    }
  });

  it('refuses a wrong audience, a wrong issuer and an expired token even when genuinely signed', async () => {
    expect((await validate(await forge({ aud: 'pep-services' }))).statusCode).toBe(401);
    expect((await validate(await forge({ iss: 'pep-gateway' }))).statusCode).toBe(401);
    const expired = await new SignJWT({ org: genuine.organization, roles: ['admin'], kind: 'staff' })
      .setProtectedHeader({ alg: 'ES256', kid: realKey.kid, typ: 'at+jwt' })
      .setSubject(genuine.user)
      .setJti('expired')
      .setIssuer('pep-auth')
      .setAudience('pep-api')
      .setIssuedAt(now() - 1000)
      .setExpirationTime(now() - 60)
      .sign(realKey.privateKey);
    expect((await validate(expired)).statusCode).toBe(401);
  });

  it('refuses other token types and malformed claims', async () => {
    expect((await validate(await forge({}, { typ: 'JWT' }))).statusCode).toBe(401);
    expect((await validate(await forge({ kind: 'superuser' }))).statusCode).toBe(401);
    expect((await validate(await forge({ roles: 'admin' }))).statusCode).toBe(401);
  });

  it('refuses an unknown kid, and a token signed by another key under the real kid', async () => {
    expect((await validate(await forge({}, { kid: 'not-a-key-we-know' }))).statusCode).toBe(401);
    const { privateKey: stranger } = await generateKeyPair('ES256');
    const impostor = await new SignJWT({ org: genuine.organization, roles: ['admin'], kind: 'staff' })
      .setProtectedHeader({ alg: 'ES256', kid: realKey.kid, typ: 'at+jwt' })
      .setSubject(genuine.user)
      .setJti('impostor')
      .setIssuer('pep-auth')
      .setAudience('pep-api')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(stranger);
    expect((await validate(impostor)).statusCode).toBe(401);
    const noKid = await forge({}, { kid: undefined });
    expect((await validate(noKid)).statusCode).toBe(401);
  });

  it('refuses a tampered payload (roles raised, organization or subject swapped)', async () => {
    const [header, payload, signature] = genuine.token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    for (const change of [
      { roles: ['admin', 'integrator'] },
      { org: '00000000-0000-4000-8000-000000000000' },
      { sub: 'someone-else' },
      { exp: claims.exp + 86_400 },
    ]) {
      expect((await validate(`${header}.${encode({ ...claims, ...change })}.${signature}`)).statusCode, JSON.stringify(change)).toBe(401);
    }
    // A flipped bit in the signature as well.
    const flipped = signature.slice(0, -2) + (signature.at(-2) === 'A' ? 'B' : 'A') + signature.at(-1);
    expect((await validate(`${header}.${payload}.${flipped}`)).statusCode).toBe(401);
  });
});
