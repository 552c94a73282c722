import { ACCESS_REVOCATIONS_PATH, REVOCATIONS_READER_ROLE, type AccessRevocationsSnapshot } from '@pep/contracts';
import { signIdentity } from '@pep/service-kit';
import { kafkaBrokers, waitFor } from '@pep/testing';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembership, mailsTo } from '../test/fixtures.js';
import { bearer, PUBLIC_URL, SECRET, signup, startAuth, type AuthUnderTest } from '../test/harness.js';

/** The millisecond issue instant auth stamps on every access token (`iat` has whole seconds only). */
const issuedAt = (token: string) => decodeJwt(token)['iat_ms'] as number;

describe('auth: every revocation cause is recorded for the gateway, with an event and an instant tokens compare against', () => {
  let service: AuthUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    service = await startAuth('revocations', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const snapshot = async (): Promise<AccessRevocationsSnapshot> => {
    const identity = await signIdentity(SECRET, { organization: 'platform', user: 'gateway', roles: [REVOCATIONS_READER_ROLE] });
    const response = await service.app.inject({ url: ACCESS_REVOCATIONS_PATH, headers: { 'x-internal-identity': identity } });
    expect(response.statusCode).toBe(200);
    return response.json();
  };
  /** The one revocation of a scope in the snapshot, and the outbox event that announced it (same instant). */
  const revocationOf = async (
    match: { scope: string; subject?: string; organization?: string },
    eventType: string,
    eventSubject: string,
  ) => {
    const found = (await snapshot()).revocations.filter(
      (r) => r.scope === match.scope && r.subject === match.subject && r.organization === match.organization,
    );
    expect(found).toHaveLength(1);
    const { rows } = await sql.query("SELECT envelope FROM outbox WHERE envelope->>'type' = $1 AND envelope->>'subject' = $2", [
      eventType,
      eventSubject,
    ]);
    expect(rows).toHaveLength(1);
    expect(Date.parse(rows[0].envelope.time)).toBe(Date.parse(found[0]!.notBefore));
    return Date.parse(found[0]!.notBefore);
  };

  it('stamps access tokens with a millisecond issue instant', async () => {
    const account = await signup(service.app);
    const claims = decodeJwt(account.token);
    expect(Math.floor(issuedAt(account.token) / 1000)).toBe(claims.iat);
  });

  it('a decommissioned user: their tokens in that organization were issued before the revocation', async () => {
    const owner = await signup(service.app);
    const colleague = await signup(service.app);
    await addMembership(sql, owner.organization._id, colleague.user._id, ['staff']);
    const switched = await service.app.inject({
      method: 'POST',
      url: `/api/organizations/${owner.organization._id}/users/${colleague.user._id}/switch`,
      headers: await bearer(colleague.token),
    });
    const colleagueThere = switched.json().token as string;
    const response = await service.app.inject({
      method: 'POST',
      url: `/api/users/decommission/${colleague.user._id}`,
      headers: await bearer(owner.token),
    });
    expect(response.statusCode).toBe(200);
    const notBefore = await revocationOf(
      { scope: 'member', subject: colleague.user._id, organization: owner.organization._id },
      'user.deactivated',
      colleague.user._id,
    );
    expect(issuedAt(colleagueThere)).toBeLessThanOrEqual(notBefore);
  });

  it('a deactivated or deleted integrator client: its tokens were issued before; a reactivated one’s new token after', async () => {
    const owner = await signup(service.app);
    const headers = await bearer(owner.token);
    const clientLogin = async ({ clientId, clientSecret }: { clientId: string; clientSecret: string }) => {
      const headers = { 'x-forwarded-for': '203.0.113.77' };
      const response = await service.app.inject({
        method: 'POST',
        url: '/api/integratorClients/login',
        payload: { clientId, clientSecret },
        headers,
      });
      return response.json().token as string;
    };
    for (const how of ['deactivate', 'delete'] as const) {
      const client = (
        await service.app.inject({ method: 'POST', url: '/api/integratorClients', headers, payload: { name: `EHR ${how}` } })
      ).json();
      const before = await clientLogin(client);
      const changed =
        how === 'deactivate'
          ? await service.app.inject({ method: 'PUT', url: `/api/integratorClients/${client._id}`, headers, payload: { active: false } })
          : await service.app.inject({ method: 'DELETE', url: `/api/integratorClients/${client._id}`, headers });
      expect(changed.statusCode).toBe(200);
      const notBefore = await revocationOf(
        { scope: 'subject', subject: client._id },
        how === 'deactivate' ? 'integrator-client.updated' : 'integrator-client.deleted',
        client._id,
      );
      expect(issuedAt(before)).toBeLessThanOrEqual(notBefore);
      if (how === 'deactivate') {
        await service.app.inject({ method: 'PUT', url: `/api/integratorClients/${client._id}`, headers, payload: { active: true } });
        expect(issuedAt(await clientLogin(client))).toBeGreaterThan(notBefore);
      }
    }
  });

  it('a deleted organization: every token there was issued before', async () => {
    const owner = await signup(service.app);
    const response = await service.app.inject({
      method: 'DELETE',
      url: `/api/organizations/${owner.organization._id}`,
      headers: await bearer(owner.token),
    });
    expect(response.statusCode).toBe(200);
    const notBefore = await revocationOf(
      { scope: 'organization', organization: owner.organization._id },
      'organization.deleted',
      owner.organization._id,
    );
    expect(issuedAt(owner.token)).toBeLessThanOrEqual(notBefore);
  });

  it('a changed password: tokens from before are revoked everywhere, the token of the next login is not', async () => {
    const account = await signup(service.app);
    await service.app.inject({
      method: 'POST',
      url: '/api/users/forgot-password',
      payload: { email: account.email },
      headers: { 'x-forwarded-for': '203.0.113.78' },
    });
    const mail = await waitFor(async () => (await mailsTo(service.mailDir, account.email))[0], { timeoutMs: 10_000 });
    const link = new RegExp(`${PUBLIC_URL}/reset-password/([\\w-]+)`).exec(mail.text)![1]!;
    const reset = await service.app.inject({
      method: 'POST',
      url: `/api/users/reset-password/${link}`,
      payload: { password: 'a brand new passphrase' },
    });
    expect(reset.statusCode).toBe(200);
    const notBefore = await revocationOf({ scope: 'subject', subject: account.user._id }, 'user.password-changed', account.user._id);
    expect(issuedAt(account.token)).toBeLessThanOrEqual(notBefore);
    const login = await service.app.inject({
      method: 'POST',
      url: '/api/users/login',
      payload: { email: account.email, password: 'a brand new passphrase' },
    });
    expect(issuedAt(login.json().token)).toBeGreaterThan(notBefore);
    // Auth's own token check, which the gateway lets through unchecked, agrees.
    const validate = (token: string) => service.app.inject({ url: '/api/tokens/validate', headers: { authorization: `Bearer ${token}` } });
    expect((await validate(account.token)).statusCode).toBe(401);
    expect((await validate(login.json().token)).statusCode).toBe(200);
  });

  it('revoked sessions: a refresh token presented twice revokes the access tokens of that session’s user there', async () => {
    const account = await signup(service.app);
    const first = await service.app.inject({
      method: 'POST',
      url: '/api/tokens/validate',
      payload: { refreshToken: account.refreshToken },
    });
    expect(first.statusCode).toBe(200);
    const reused = await service.app.inject({
      method: 'POST',
      url: '/api/tokens/validate',
      payload: { refreshToken: account.refreshToken },
    });
    expect(reused.statusCode).toBe(401);
    const notBefore = await revocationOf(
      { scope: 'member', subject: account.user._id, organization: account.organization._id },
      'user.sessions-revoked',
      account.user._id,
    );
    expect(issuedAt(first.json().token)).toBeLessThanOrEqual(notBefore);
    // Presenting it a third time finds nothing left to revoke: no second revocation, no second event.
    await service.app.inject({ method: 'POST', url: '/api/tokens/validate', payload: { refreshToken: account.refreshToken } });
    await revocationOf(
      { scope: 'member', subject: account.user._id, organization: account.organization._id },
      'user.sessions-revoked',
      account.user._id,
    );
  });

  it('serves revocations to the gateway’s internal identity only', async () => {
    const account = await signup(service.app);
    expect((await service.app.inject({ url: ACCESS_REVOCATIONS_PATH })).statusCode).toBe(401);
    const asAdmin = await service.app.inject({ url: ACCESS_REVOCATIONS_PATH, headers: await bearer(account.token) });
    expect(asAdmin.statusCode).toBe(403);
    expect(asAdmin.headers['content-type']).toContain('application/problem+json');
  });

  it('leaves out revocations older than the token lifetime: no live token predates them', async () => {
    const owner = await signup(service.app);
    await service.app.inject({ method: 'DELETE', url: `/api/organizations/${owner.organization._id}`, headers: await bearer(owner.token) });
    expect((await snapshot()).revocations.some((r) => r.organization === owner.organization._id)).toBe(true);
    service.clock.advance(20 * 60_000);
    expect((await snapshot()).revocations.some((r) => r.organization === owner.organization._id)).toBe(false);
  });
});
