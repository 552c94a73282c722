import { signIdentity } from '@pep/service-kit';
import { kafkaBrokers } from '@pep/testing';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembership } from '../test/fixtures.js';
import { bearer, SECRET, signup, startAuth, type AuthUnderTest } from '../test/harness.js';

describe('auth service: integrator clients', () => {
  let service: AuthUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    service = await startAuth('integrators', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  let address = 0;
  const login = (clientId: string, clientSecret: string, from = `203.0.113.${++address % 250}`) =>
    service.app.inject({
      method: 'POST',
      url: '/api/integratorClients/login',
      payload: { clientId, clientSecret },
      headers: { 'x-forwarded-for': from },
    });
  const register = async (headers: Record<string, string>, payload: Record<string, unknown> = { name: 'EHR bridge' }) =>
    service.app.inject({ method: 'POST', url: '/api/integratorClients', headers, payload });

  it('registers a client whose secret is shown once and stored as an argon2id hash', async () => {
    const admin = await signup(service.app);
    const headers = await bearer(admin.token);
    const response = await register(headers);
    expect(response.statusCode).toBe(200);
    const client = response.json();
    expect(client).toMatchObject({
      name: 'EHR bridge',
      roles: ['integrator'],
      active: true,
      organization: admin.organization._id,
      lastLogin: null,
      createdBy: admin.user._id,
    });
    expect(client.clientSecret).toMatch(/^[\w-]{43}$/);
    expect(client.clientId).toMatch(/^[\w-]{22}$/);

    const { rows } = await sql.query('SELECT secret_hash FROM integrator_client WHERE id = $1', [client._id]);
    expect(rows[0].secret_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(rows[0].secret_hash).not.toContain(client.clientSecret);

    const fetched = (await service.app.inject({ url: `/api/integratorClients/${client._id}`, headers })).json();
    expect(fetched).not.toHaveProperty('clientSecret');
    const list = (await service.app.inject({ url: '/api/integratorClients/', headers })).json();
    expect(list).toMatchObject({ page: 1, limit: 25, total: 1 });
    expect(JSON.stringify(list)).not.toContain(client.clientSecret);
    const events = await sql.query("SELECT envelope FROM outbox WHERE key = $1 AND envelope->>'type' = 'integrator-client.created'", [
      client._id,
    ]);
    expect(events.rows[0].envelope.data).toEqual({
      _id: client._id,
      name: 'EHR bridge',
      clientId: client.clientId,
      roles: ['integrator'],
      active: true,
    });
    expect(JSON.stringify(events.rows)).not.toContain(client.clientSecret);
  });

  it('logs a client in with an integrator access token carrying its roles, and no refresh token', async () => {
    const admin = await signup(service.app);
    const client = (await register(await bearer(admin.token), { name: 'Scheduler sync', roles: ['integrator', 'staff'] })).json();
    const response = await login(client.clientId, client.clientSecret);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(Object.keys(body).sort()).toEqual(['expiresIn', 'token']);
    expect(body.expiresIn).toBe(900);
    expect(decodeJwt(body.token)).toMatchObject({
      iss: 'pep-auth',
      aud: 'pep-api',
      sub: client._id,
      org: admin.organization._id,
      roles: ['integrator', 'staff'],
      kind: 'integrator',
    });
    // The same validation as user tokens.
    const validated = await service.app.inject({ url: '/api/tokens/validate', headers: { authorization: `Bearer ${body.token}` } });
    expect(validated.json()).toMatchObject({ kind: 'integrator', sub: client._id });
    expect(
      (await service.app.inject({ url: `/api/integratorClients/${client._id}`, headers: await bearer(admin.token) })).json().lastLogin,
    ).not.toBeNull();

    // An integrator token does not manage clients.
    expect((await service.app.inject({ url: '/api/integratorClients', headers: await bearer(body.token) })).statusCode).toBe(403);
  });

  it('answers every bad credential with the same 401', async () => {
    const admin = await signup(service.app);
    const client = (await register(await bearer(admin.token))).json();
    const wrongSecret = await login(client.clientId, 'x'.repeat(43));
    const unknownClient = await login('no-such-client-id-here', client.clientSecret);
    for (const response of [wrongSecret, unknownClient]) {
      expect(response.statusCode).toBe(401);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const strip = (body: Record<string, unknown>) => ({ ...body, requestId: undefined });
    expect(strip(wrongSecret.json())).toEqual(strip(unknownClient.json()));
    const extra = await service.app.inject({
      method: 'POST',
      url: '/api/integratorClients/login',
      payload: { clientId: 'a', clientSecret: 'b', grant_type: 'x' },
    });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().errors.map((error: { field: string }) => error.field)).toContain('body.grant_type');
  });

  it('rate limits failed logins per client, from any address', async () => {
    const admin = await signup(service.app);
    const client = (await register(await bearer(admin.token))).json();
    for (let attempt = 1; attempt <= 5; attempt++) expect((await login(client.clientId, 'wrong secret')).statusCode).toBe(401);
    const locked = await login(client.clientId, client.clientSecret);
    expect(locked.statusCode).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    service.clock.advance(15 * 60 * 1000 + 1000);
    expect((await login(client.clientId, client.clientSecret)).statusCode).toBe(200);
  });

  it("carries a client's own rate limit in its tokens, set by the admin within the platform maximum", async () => {
    const admin = await signup(service.app);
    const headers = await bearer(admin.token);
    const created = await register(headers, { name: 'Nightly sync', rateLimitPerMinute: 1200 });
    expect(created.statusCode).toBe(200);
    const client = created.json();
    expect(client.rateLimitPerMinute).toBe(1200);
    expect(decodeJwt((await login(client.clientId, client.clientSecret)).json().token)['rate_limit_per_minute']).toBe(1200);

    // Above the platform maximum (6,000 by default) an admin is refused, naming the field, and nothing changes.
    const tooMuch = await service.app.inject({
      method: 'PUT',
      url: `/api/integratorClients/${client._id}`,
      headers,
      payload: { rateLimitPerMinute: 6001 },
    });
    expect(tooMuch.statusCode).toBe(400);
    expect(tooMuch.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(tooMuch.json().errors).toEqual([expect.objectContaining({ field: 'body.rateLimitPerMinute' })]);
    expect((await register(headers, { name: 'Greedy', rateLimitPerMinute: 6001 })).statusCode).toBe(400);
    expect((await service.app.inject({ url: `/api/integratorClients/${client._id}`, headers })).json().rateLimitPerMinute).toBe(1200);
    const notWhole = await service.app.inject({
      method: 'PUT',
      url: `/api/integratorClients/${client._id}`,
      headers,
      payload: { rateLimitPerMinute: 0 },
    });
    expect(notWhole.json().errors).toEqual([expect.objectContaining({ field: 'body.rateLimitPerMinute' })]);

    // A platform operator may go above it.
    const operator = {
      'x-internal-identity': await signIdentity(SECRET, {
        organization: admin.organization._id,
        user: admin.user._id,
        roles: ['admin', 'platform-admin'],
      }),
    };
    const raised = await service.app.inject({
      method: 'PUT',
      url: `/api/integratorClients/${client._id}`,
      headers: operator,
      payload: { rateLimitPerMinute: 20_000 },
    });
    expect(raised.statusCode).toBe(200);
    expect(raised.json().rateLimitPerMinute).toBe(20_000);
    const changed = await sql.query("SELECT envelope FROM outbox WHERE key = $1 AND envelope->>'type' = 'integrator-client.updated'", [
      client._id,
    ]);
    expect(changed.rows.map((row) => row.envelope.data.changed)).toEqual([['rateLimitPerMinute']]);
    expect(decodeJwt((await login(client.clientId, client.clientSecret)).json().token)['rate_limit_per_minute']).toBe(20_000);

    // Back to the gateway's default: the token carries no limit of its own.
    const reset = await service.app.inject({
      method: 'PUT',
      url: `/api/integratorClients/${client._id}`,
      headers,
      payload: { rateLimitPerMinute: null },
    });
    expect(reset.json().rateLimitPerMinute).toBeNull();
    expect(decodeJwt((await login(client.clientId, client.clientSecret)).json().token)).not.toHaveProperty('rate_limit_per_minute');
  });

  it('stops logins of deactivated and deleted clients', async () => {
    const admin = await signup(service.app);
    const headers = await bearer(admin.token);
    const client = (await register(headers)).json();
    expect((await login(client.clientId, client.clientSecret)).statusCode).toBe(200);

    const off = await service.app.inject({
      method: 'PUT',
      url: `/api/integratorClients/${client._id}`,
      headers,
      payload: { active: false },
    });
    expect(off.statusCode).toBe(200);
    expect(off.json().active).toBe(false);
    expect((await login(client.clientId, client.clientSecret)).statusCode).toBe(401);
    const on = await service.app.inject({
      method: 'PUT',
      url: `/api/integratorClients/${client._id}`,
      headers,
      payload: { active: true, name: 'Renamed bridge' },
    });
    expect(on.json()).toMatchObject({ active: true, name: 'Renamed bridge' });
    expect((await login(client.clientId, client.clientSecret)).statusCode).toBe(200);

    const removed = await service.app.inject({ method: 'DELETE', url: `/api/integratorClients/${client._id}`, headers });
    expect(removed.statusCode).toBe(200);
    expect((await login(client.clientId, client.clientSecret)).statusCode).toBe(401);
    expect((await service.app.inject({ url: `/api/integratorClients/${client._id}`, headers })).statusCode).toBe(404);

    const { rows } = await sql.query(
      "SELECT envelope FROM outbox WHERE key = $1 AND envelope->>'type' LIKE 'integrator-client.%' ORDER BY seq",
      [client._id],
    );
    expect(rows.map((row) => [row.envelope.type, row.envelope.data.changed])).toEqual([
      ['integrator-client.created', undefined],
      ['integrator-client.updated', ['active']],
      ['integrator-client.updated', ['name', 'active']],
      ['integrator-client.deleted', undefined],
    ]);
  });

  it('is for admins only, and refuses admin roles and unknown fields', async () => {
    const admin = await signup(service.app);
    const headers = await bearer(admin.token);
    const manager = await signup(service.app);
    await addMembership(sql, admin.organization._id, manager.user._id, ['manager']);
    const switched = await service.app.inject({
      method: 'POST',
      url: `/api/organizations/${admin.organization._id}/users/${manager.user._id}/switch`,
      headers: await bearer(manager.token),
    });
    const managerHeaders = await bearer(switched.json().token);
    expect((await register(managerHeaders)).statusCode).toBe(403);
    expect((await service.app.inject({ url: '/api/integratorClients', headers: managerHeaders })).statusCode).toBe(403);
    expect((await service.app.inject({ url: '/api/integratorClients' })).statusCode).toBe(401);

    for (const [payload, field] of [
      [{ name: 'x', roles: ['admin'] }, 'body.roles.0'],
      [{ name: '' }, 'body.name'],
      [{ name: 'x', clientSecret: 'mine' }, 'body.clientSecret'],
    ] as const) {
      const response = await register(headers, payload);
      expect(response.statusCode, field).toBe(400);
      expect(response.json().errors.map((error: { field: string }) => error.field)).toContain(field);
    }
    expect(
      (await sql.query('SELECT count(*)::int AS n FROM integrator_client WHERE organization = $1', [admin.organization._id])).rows[0].n,
    ).toBe(0);
  });

  it('lets settings name only integrator clients of the organization', async () => {
    const admin = await signup(service.app);
    const headers = await bearer(admin.token);
    const client = (await register(headers)).json();
    const other = await signup(service.app);
    const foreign = (await register(await bearer(other.token))).json();
    const setting = (refId: string) =>
      service.app.inject({ method: 'POST', url: '/api/settings', headers, payload: { ref: 'integrator', refId } });
    expect((await setting(foreign._id)).statusCode).toBe(404);
    expect((await setting('ehr-1')).statusCode).toBe(404);
    expect((await setting(client._id)).statusCode).toBe(200);
  });
});
