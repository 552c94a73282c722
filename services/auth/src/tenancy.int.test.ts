import { kafkaBrokers } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, signup, startAuth, type AuthUnderTest, type SignupResult } from '../test/harness.js';
import { NOT_BUILT } from './not-built.routes.js';

describe('auth service: one organization never reaches another’s records', () => {
  let service: AuthUnderTest;
  let sql: pg.Client;
  let a: SignupResult;
  let b: SignupResult;

  beforeAll(async () => {
    service = await startAuth('tenancy', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    a = await signup(service.app, { organizationName: 'Clinic A' });
    b = await signup(service.app, { organizationName: 'Clinic B', firstname: 'Bella', lastname: 'Bravo' });
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  /** Every row that belongs to organization B or its users. */
  const snapshotOfB = async () => {
    const query = async (text: string, params: string[] = [b.organization._id, b.user._id]) => (await sql.query(text, params)).rows;
    return {
      organization: await query('SELECT * FROM organization WHERE id = $1', [b.organization._id]),
      users: await query('SELECT * FROM "user" WHERE id = $1', [b.user._id]),
      memberships: await query('SELECT * FROM organization_membership WHERE organization = $1 OR "user" = $2 ORDER BY id'),
      refreshTokens: await query('SELECT * FROM refresh_token WHERE organization = $1 OR "user" = $2 ORDER BY id'),
      events: await query('SELECT id FROM outbox WHERE key IN ($1::text, $2::text) ORDER BY seq'),
    };
  };

  /** Each built route that takes an id, called with B's ids. */
  const attempts = () => {
    const org = b.organization._id;
    const user = b.user._id;
    return [
      { method: 'GET', route: '/api/users/:id', url: `/api/users/${user}` },
      { method: 'PUT', route: '/api/users/:id', url: `/api/users/${user}`, payload: { firstname: 'Hacked' } },
      { method: 'PUT', route: '/api/users/:id', url: `/api/users/${user}`, payload: { roles: ['staff'] } },
      { method: 'POST', route: '/api/users/decommission/:id', url: `/api/users/decommission/${user}` },
      { method: 'GET', route: '/api/organizations/:id', url: `/api/organizations/${org}` },
      { method: 'PUT', route: '/api/organizations/:id', url: `/api/organizations/${org}`, payload: { name: 'Hacked' } },
      { method: 'GET', route: '/api/organizations/:id/users', url: `/api/organizations/${org}/users` },
      { method: 'GET', route: '/api/organizations/:id/access', url: `/api/organizations/${org}/access` },
      { method: 'POST', route: '/api/organizations/:id/users/:organizationUser/switch', url: `/api/organizations/${org}/users/${user}/switch` },
      { method: 'POST', route: '/api/organizations/:id/users/:organizationUser/switch', url: `/api/organizations/${org}/users/${a.user._id}/switch` },
    ] as const;
  };

  it('covers every built route that takes an id', async () => {
    const document = (await service.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const notBuilt = new Set(NOT_BUILT.map(([method, url]) => `${method} ${url}`));
    const withIds = Object.entries(document.paths)
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`))
      .filter((route) => route.includes('/:') && !notBuilt.has(route) && !route.includes('/reset-password/'));
    expect(withIds.length).toBeGreaterThanOrEqual(8);
    const covered = new Set(attempts().map((attempt) => `${attempt.method} ${attempt.route}`));
    expect(withIds.filter((route) => !covered.has(route))).toEqual([]);
  });

  it("answers 404 for B's ids to A's admin and changes none of B's rows", async () => {
    const before = await snapshotOfB();
    const headers = await bearer(a.token);
    for (const attempt of attempts()) {
      const response = await service.app.inject({ method: attempt.method, url: attempt.url, headers, ...('payload' in attempt ? { payload: attempt.payload } : {}) });
      expect(response.statusCode, `${attempt.method} ${attempt.url}`).toBe(404);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.body).not.toContain('Bravo');
      expect(response.body).not.toContain('Clinic B');
    }
    expect(await snapshotOfB()).toEqual(before);
  });

  it("lists only A's users to A", async () => {
    const list = (await service.app.inject({ url: '/api/users', headers: await bearer(a.token) })).json();
    expect(list.response.map((user: { _id: string }) => user._id)).toEqual([a.user._id]);
    const organizations = (await service.app.inject({ url: '/api/organizations', headers: await bearer(a.token) })).json();
    expect(organizations.response.map((org: { _id: string }) => org._id)).toEqual([a.organization._id]);
  });
});
