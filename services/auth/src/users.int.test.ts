import { kafkaBrokers } from '@pep/testing';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembership } from '../test/fixtures.js';
import { bearer, signup, startAuth, type AuthUnderTest } from '../test/harness.js';

describe('auth service: users and organizations', () => {
  let service: AuthUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    service = await startAuth('users', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const login = async (email: string, password: string) =>
    (await service.app.inject({ method: 'POST', url: '/api/users/login', payload: { email, password } })).json() as {
      token: string;
      refreshToken: string;
    };

  /** An organization with an admin and a staff member (who joined it from their own signup). */
  async function team() {
    const admin = await signup(service.app, { firstname: 'Ada', lastname: 'Admin' });
    const staff = await signup(service.app, { firstname: 'Sam', lastname: 'Staff' });
    await addMembership(sql, admin.organization._id, staff.user._id, ['staff']);
    const staffInAdminOrg = await service.app.inject({
      method: 'POST',
      url: `/api/organizations/${admin.organization._id}/users/${staff.user._id}/switch`,
      headers: await bearer(staff.token),
    });
    expect(staffInAdminOrg.statusCode).toBe(200);
    return { admin, staff, staffToken: staffInAdminOrg.json().token as string };
  }

  it('lists the organization’s users, paged, in the v1 list envelope', async () => {
    const { admin } = await team();
    for (const url of ['/api/users', '/api/users/', `/api/organizations/${admin.organization._id}/users`]) {
      const response = await service.app.inject({ url: `${url}?page=1&limit=1`, headers: await bearer(admin.token) });
      expect(response.statusCode, url).toBe(200);
      const body = response.json();
      expect(body).toMatchObject({ page: 1, limit: 1, total: 2 });
      expect(body.response).toHaveLength(1);
      expect(body.response[0].lastname).toBe('Admin');
    }
    const defaults = (await service.app.inject({ url: '/api/users', headers: await bearer(admin.token) })).json();
    expect(defaults).toMatchObject({ page: 1, limit: 25, total: 2 });
    expect((await service.app.inject({ url: '/api/users?limit=101', headers: await bearer(admin.token) })).statusCode).toBe(400);
    expect((await service.app.inject({ url: '/api/users' })).statusCode).toBe(401);
  });

  it('lets users change themselves and admins change anyone, roles included', async () => {
    const { admin, staff, staffToken } = await team();
    const self = await service.app.inject({
      method: 'PUT',
      url: `/api/users/${staff.user._id}`,
      headers: await bearer(staffToken),
      payload: { firstname: 'Samuel' },
    });
    expect(self.statusCode).toBe(200);
    expect(self.json()).toMatchObject({ firstname: 'Samuel', name: 'Samuel Staff', organization: admin.organization._id });

    const notAllowed = await service.app.inject({
      method: 'PUT',
      url: `/api/users/${admin.user._id}`,
      headers: await bearer(staffToken),
      payload: { firstname: 'Mallory' },
    });
    expect(notAllowed.statusCode).toBe(403);
    const ownRoles = await service.app.inject({
      method: 'PUT',
      url: `/api/users/${staff.user._id}`,
      headers: await bearer(staffToken),
      payload: { roles: ['admin'] },
    });
    expect(ownRoles.statusCode).toBe(403);

    const promoted = await service.app.inject({
      method: 'PUT',
      url: `/api/users/${staff.user._id}`,
      headers: await bearer(admin.token),
      payload: { roles: ['manager'] },
    });
    expect(promoted.statusCode).toBe(200);
    expect(promoted.json().roles).toEqual(['manager']);

    const strict = await service.app.inject({
      method: 'PUT',
      url: `/api/users/${staff.user._id}`,
      headers: await bearer(admin.token),
      payload: { passwordHash: 'x' },
    });
    expect(strict.statusCode).toBe(400);
    const taken = await service.app.inject({
      method: 'PUT',
      url: `/api/users/${staff.user._id}`,
      headers: await bearer(admin.token),
      payload: { email: admin.email.toUpperCase() },
    });
    expect(taken.statusCode).toBe(409);

    const { rows } = await sql.query("SELECT envelope FROM outbox WHERE envelope->>'type' = 'user.updated' AND key = $1 ORDER BY seq", [
      staff.user._id,
    ]);
    expect(rows.map((row) => row.envelope.data.changed)).toEqual([['firstname'], ['roles']]);
  });

  it('decommissions a user: inactive, sessions in that organization revoked, event published', async () => {
    const { admin, staff, staffToken } = await team();
    const staffSession = await service.app.inject({
      method: 'POST',
      url: `/api/organizations/${admin.organization._id}/users/${staff.user._id}/switch`,
      headers: await bearer(staffToken),
    });
    const refreshToken = staffSession.json().refreshToken as string;

    expect(
      (await service.app.inject({ method: 'POST', url: `/api/users/decommission/${staff.user._id}`, headers: await bearer(staffToken) }))
        .statusCode,
    ).toBe(403);
    expect(
      (await service.app.inject({ method: 'POST', url: `/api/users/decommission/${admin.user._id}`, headers: await bearer(admin.token) }))
        .statusCode,
    ).toBe(409);
    const response = await service.app.inject({
      method: 'POST',
      url: `/api/users/decommission/${staff.user._id}`,
      headers: await bearer(admin.token),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ active: 0, displayStatus: 'suspended' });

    expect((await service.app.inject({ method: 'POST', url: '/api/tokens/validate', payload: { refreshToken } })).statusCode).toBe(401);
    const { rows } = await sql.query("SELECT count(*)::int AS n FROM outbox WHERE envelope->>'type' = 'user.deactivated' AND key = $1", [
      staff.user._id,
    ]);
    expect(rows[0].n).toBe(1);
    // Still a member of their own organization, so their own login works and lands there.
    const own = await login(staff.email, staff.password);
    expect(decodeJwt(own.token)['org']).toBe(staff.organization._id);
  });

  it('shows and renames only the caller’s own organization', async () => {
    const { admin, staffToken } = await team();
    const id = admin.organization._id;
    expect((await service.app.inject({ url: `/api/organizations/${id}`, headers: await bearer(admin.token) })).json()).toMatchObject({
      _id: id,
      active: true,
    });
    const renamed = await service.app.inject({
      method: 'PUT',
      url: `/api/organizations/${id}`,
      headers: await bearer(admin.token),
      payload: { name: 'Renamed Clinic' },
    });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json().name).toBe('Renamed Clinic');
    expect(
      (
        await service.app.inject({
          method: 'PUT',
          url: `/api/organizations/${id}`,
          headers: await bearer(staffToken),
          payload: { name: 'Nope' },
        })
      ).statusCode,
    ).toBe(403);

    const access = await service.app.inject({ url: `/api/organizations/${id}/access`, headers: await bearer(staffToken) });
    expect(access.json()).toMatchObject({ organization: id, active: true, roles: ['staff'] });
  });

  it('switches organizations only where the caller is a member, and lists them', async () => {
    const { admin, staff } = await team();
    const mine = (await service.app.inject({ url: '/api/organizations', headers: await bearer(staff.token) })).json();
    expect(mine.total).toBe(2);
    expect(mine.response.map((org: { _id: string }) => org._id).sort()).toEqual([admin.organization._id, staff.organization._id].sort());

    const switched = await service.app.inject({
      method: 'POST',
      url: `/api/organizations/${admin.organization._id}/users/${staff.user._id}/switch`,
      headers: await bearer(staff.token),
    });
    expect(decodeJwt(switched.json().token)).toMatchObject({ org: admin.organization._id, roles: ['staff'], sub: staff.user._id });

    // The admin is no member of the staff user's organization.
    const refused = await service.app.inject({
      method: 'POST',
      url: `/api/organizations/${staff.organization._id}/users/${admin.user._id}/switch`,
      headers: await bearer(admin.token),
    });
    expect(refused.statusCode).toBe(404);
    // Nor may anyone switch as somebody else.
    const impersonation = await service.app.inject({
      method: 'POST',
      url: `/api/organizations/${admin.organization._id}/users/${admin.user._id}/switch`,
      headers: await bearer(staff.token),
    });
    expect(impersonation.statusCode).toBe(404);
  });
});
