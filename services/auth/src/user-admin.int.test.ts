import { randomUUID } from 'node:crypto';
import { signIdentity } from '@pep/service-kit';
import { kafkaBrokers, type SmtpSink, startSmtpSink, waitFor } from '@pep/testing';
import { decodeJwt } from 'jose';
import type { ParsedMail } from 'mailparser';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembership } from '../test/fixtures.js';
import { bearer, PUBLIC_URL, SECRET, signup, startAuth, type AuthUnderTest } from '../test/harness.js';

describe('auth service: admins manage users and organizations, over real SMTP', () => {
  let service: AuthUnderTest;
  let smtp: SmtpSink;
  let sql: pg.Client;
  let inbox: SmtpSink['inbox'] = [];

  beforeAll(async () => {
    smtp = await startSmtpSink();
    inbox = smtp.inbox;
    service = await startAuth('user-admin', await kafkaBrokers(), { mailer: { from: 'auth@example.test', smtpUrl: smtp.url } });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
    await smtp?.close();
  });

  const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, headers: Record<string, string> = {}, payload?: unknown) =>
    service.app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });
  const mailTo = async (email: string, count = 1) => {
    await waitFor(() => inbox.filter((mail) => mail.text && (mail.to as { text: string }).text === email).length >= count, {
      timeoutMs: 10_000,
    });
    return inbox.filter((mail) => (mail.to as { text: string }).text === email).at(count - 1)!;
  };
  const linkToken = (mail: ParsedMail) => /reset-password\/([\w-]+)/.exec(mail.text!)![1]!;
  const eventTypes = async (key: string) =>
    (await sql.query('SELECT envelope FROM outbox WHERE key = $1 ORDER BY seq', [key])).rows.map(
      (row) => `${row.envelope.type}@${row.envelope.organization}`,
    );

  /** An organization with an admin and a staff member, each with a token for it. */
  async function team() {
    const admin = await signup(service.app, { firstname: 'Ada', lastname: 'Admin' });
    const staff = await signup(service.app, { firstname: 'Sam', lastname: 'Staff' });
    await addMembership(sql, admin.organization._id, staff.user._id, ['staff']);
    const switched = await call(
      'POST',
      `/api/organizations/${admin.organization._id}/users/${staff.user._id}/switch`,
      await bearer(staff.token),
    );
    return { admin, adminHeaders: await bearer(admin.token), staff, staffHeaders: await bearer(switched.json().token as string) };
  }

  it('creates a pending user who chooses a password from the mailed link', async () => {
    const { admin, adminHeaders, staffHeaders } = await team();
    const body = { email: 'New.Person@Clinic.Example', firstname: 'Nora', lastname: 'New', roles: ['provider'] };
    expect((await call('POST', '/api/users', staffHeaders, body)).statusCode).toBe(403);
    const unknown = await call('POST', '/api/users', adminHeaders, { ...body, password: 'x' });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.body).toContain('password');

    const created = await call('POST', '/api/users/', adminHeaders, body);
    expect(created.statusCode).toBe(200);
    const user = created.json();
    expect(user).toMatchObject({
      email: 'new.person@clinic.example',
      roles: ['provider'],
      organization: admin.organization._id,
      active: 1,
      displayStatus: 'pending',
    });
    expect((await call('POST', '/api/users', adminHeaders, body)).statusCode).toBe(409);
    expect(await eventTypes(user._id)).toEqual([`user.created@${admin.organization._id}`]);

    // Nobody can log in before the password is chosen.
    expect((await call('POST', '/api/users/login', {}, { email: body.email, password: 'x'.repeat(12) })).statusCode).toBe(401);
    const mail = await mailTo('new.person@clinic.example');
    expect(mail.subject).toContain('You have been added to');
    expect(mail.text).toContain(`${PUBLIC_URL}/reset-password/`);
    const chosen = await call('POST', `/api/users/reset-password/${linkToken(mail)}`, {}, { password: 'a brand new password' });
    expect(chosen.statusCode).toBe(200);
    const login = await call('POST', '/api/users/login', {}, { email: body.email, password: 'a brand new password' });
    expect(login.statusCode).toBe(200);
    expect(login.json().user).toMatchObject({ displayStatus: 'active', roles: ['provider'] });
  });

  it('activates decommissioned members and re-sends the link to pending ones', async () => {
    const { adminHeaders, staff, staffHeaders } = await team();
    expect((await call('PUT', `/api/users/${staff.user._id}/activate`, staffHeaders)).statusCode).toBe(403);
    await call('POST', `/api/users/decommission/${staff.user._id}`, adminHeaders);
    const activated = await call('PUT', `/api/users/${staff.user._id}/activate`, adminHeaders);
    expect(activated.statusCode).toBe(200);
    expect(activated.json()).toMatchObject({ active: 1, displayStatus: 'active' });
    const { rows } = await sql.query("SELECT envelope FROM outbox WHERE key = $1 AND envelope->>'type' = 'user.updated' ORDER BY seq", [
      staff.user._id,
    ]);
    expect(rows.at(-1).envelope.data.changed).toEqual(['active']);

    const pending = (
      await call('POST', '/api/users', adminHeaders, { email: 'slow.reader@clinic.example', firstname: 'Sol', lastname: 'Slow' })
    ).json();
    const first = linkToken(await mailTo('slow.reader@clinic.example'));
    expect((await call('PUT', `/api/users/${pending._id}/activate`, adminHeaders)).json().displayStatus).toBe('pending');
    const second = linkToken(await mailTo('slow.reader@clinic.example', 2));
    // Only the newest link works.
    expect((await call('GET', `/api/users/reset-password/${first}`)).statusCode).toBe(400);
    expect((await call('GET', `/api/users/reset-password/${second}`)).statusCode).toBe(200);
  });

  it('mails a reset link to a member without showing it to the admin', async () => {
    const { adminHeaders, staff, staffHeaders } = await team();
    expect((await call('GET', `/api/users/${staff.user._id}/resetPasswordLink`, staffHeaders)).statusCode).toBe(403);
    const response = await call('GET', `/api/users/${staff.user._id}/resetPasswordLink`, adminHeaders);
    expect(response.statusCode).toBe(200);
    const mail = await mailTo(staff.email);
    expect(response.body).not.toContain(linkToken(mail));
    expect(mail.subject).toBe('Reset your password');
    expect((await call('POST', `/api/users/reset-password/${linkToken(mail)}`, {}, { password: 'reset by the admin' })).statusCode).toBe(
      200,
    );
  });

  it('stores the caller’s unsubscribe from platform e-mails', async () => {
    const { staff, staffHeaders } = await team();
    const off = await call('PUT', '/api/users/unsubscribe', staffHeaders);
    expect(off.statusCode).toBe(200);
    expect(off.json()).toMatchObject({ _id: staff.user._id, unsubscribed: true });
    expect((await call('PUT', '/api/users/unsubscribe', staffHeaders, { unsubscribed: false })).json().unsubscribed).toBe(false);
    const strict = await call('PUT', '/api/users/unsubscribe', staffHeaders, { everything: true });
    expect(strict.statusCode).toBe(400);
    expect(strict.body).toContain('everything');
    const { rows } = await sql.query("SELECT envelope FROM outbox WHERE key = $1 AND envelope->>'type' = 'user.updated' ORDER BY seq", [
      staff.user._id,
    ]);
    expect(rows.map((row) => [row.envelope.data.changed, row.envelope.data.unsubscribed])).toEqual([
      [['unsubscribed'], true],
      [['unsubscribed'], false],
    ]);
  });

  it('shows users across organizations to platform admins only', async () => {
    const { admin, adminHeaders, staff } = await team();
    expect((await call('POST', '/api/users/admin', adminHeaders, {})).statusCode).toBe(403);
    expect((await call('POST', `/api/users/admin/${staff.user._id}`, adminHeaders)).statusCode).toBe(403);
    const operator = {
      'x-internal-identity': await signIdentity(SECRET, {
        organization: admin.organization._id,
        user: admin.user._id,
        roles: ['platform-admin'],
      }),
    };
    const found = await call('POST', '/api/users/admin', operator, { email: staff.email.toUpperCase() });
    expect(found.statusCode).toBe(200);
    expect(found.json()).toMatchObject({ total: 1, page: 1, limit: 25 });
    const one = (await call('POST', `/api/users/admin/${staff.user._id}`, operator)).json();
    expect(one.memberships.map((m: { organization: string }) => m.organization).sort()).toEqual(
      [admin.organization._id, staff.organization._id].sort(),
    );
  });

  it('creates and deletes organizations; deleted ones answer 404 and cannot be switched into', async () => {
    const { admin, staff, staffHeaders } = await team();
    const created = await call('POST', '/api/organizations', staffHeaders, { name: 'Second Site' });
    expect(created.statusCode).toBe(200);
    const second = created.json();
    expect(second).toMatchObject({ name: 'Second Site', active: true, deleted: false });
    expect(await eventTypes(second._id)).toEqual([`organization.created@${second._id}`]);
    const switched = await call('POST', `/api/organizations/${second._id}/users/${staff.user._id}/switch`, staffHeaders);
    expect(decodeJwt(switched.json().token)).toMatchObject({ org: second._id, roles: ['admin'] });
    const inSecond = await bearer(switched.json().token);
    const refreshToken = switched.json().refreshToken as string;

    expect((await call('DELETE', `/api/organizations/${admin.organization._id}`, staffHeaders)).statusCode).toBe(403);
    expect((await call('DELETE', `/api/organizations/${admin.organization._id}`, inSecond)).statusCode).toBe(404);
    const deleted = await call('DELETE', `/api/organizations/${second._id}`, inSecond);
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toMatchObject({ active: false, deleted: true });
    expect(await eventTypes(second._id)).toEqual([
      `organization.created@${second._id}`,
      `organization.updated@${second._id}`,
      `organization.deleted@${second._id}`,
    ]);
    expect((await call('GET', `/api/organizations/${second._id}`, inSecond)).statusCode).toBe(404);
    expect((await call('POST', `/api/organizations/${second._id}/users/${staff.user._id}/switch`, staffHeaders)).statusCode).toBe(404);
    expect((await call('POST', '/api/tokens/validate', {}, { refreshToken })).statusCode).toBe(401);
    const mine = (await call('GET', '/api/organizations', staffHeaders)).json();
    expect(mine.response.map((org: { _id: string }) => org._id)).not.toContain(second._id);
  });

  it('transfers a member between two organizations the caller administers', async () => {
    const { admin, adminHeaders, staff } = await team();
    const other = (await call('POST', '/api/organizations', adminHeaders, { name: 'Branch' })).json();
    const stranger = await signup(service.app);
    const body = { user: staff.user._id, from: admin.organization._id, to: other._id };
    expect((await call('PUT', '/api/users/transfer', adminHeaders, { ...body, to: stranger.organization._id })).statusCode).toBe(404);
    expect((await call('PUT', '/api/users/transfer', adminHeaders, { ...body, user: admin.user._id })).statusCode).toBe(409);
    const moved = await call('PUT', '/api/users/transfer', adminHeaders, { ...body, roles: ['manager'] });
    expect(moved.statusCode).toBe(200);
    expect(moved.json()).toMatchObject({ organization: other._id, roles: ['manager'], active: 1 });
    const { rows } = await sql.query('SELECT organization, active FROM organization_membership WHERE "user" = $1', [staff.user._id]);
    expect(rows.find((row) => row.organization === admin.organization._id)?.active).toBe(false);
    expect(await eventTypes(staff.user._id)).toEqual(
      expect.arrayContaining([`user.deactivated@${admin.organization._id}`, `user.created@${other._id}`]),
    );
  });

  it('invites a deactivated member back into the organization; they accept through the invitation flow', async () => {
    const { admin, adminHeaders, staff } = await team();
    const url = `/api/organizations/${admin.organization._id}/users/${staff.user._id}/invite`;
    expect(
      (await call('POST', `/api/organizations/${admin.organization._id}/users/${admin.user._id}/invite`, adminHeaders)).statusCode,
    ).toBe(409);
    expect((await call('POST', url, adminHeaders)).statusCode).toBe(409);
    expect((await call('POST', `/api/users/decommission/${staff.user._id}`, adminHeaders)).statusCode).toBe(200);
    const invited = await call('POST', url, adminHeaders, { roles: ['provider'] });
    expect(invited.statusCode).toBe(200);
    expect(invited.json()).toMatchObject({ group: null, status: 'pending', roles: ['provider'] });
    expect(invited.json().email).not.toBe(staff.email);

    const own = await call('GET', `/api/users/${staff.user._id}/groupInvites`, await bearer(staff.token));
    expect(own.json().total).toBe(1);
    const mail = await mailTo(staff.email);
    const token = /token=([\w-]+)/.exec(mail.text!)![1]!;
    const accepted = await call('POST', `/api/groups/${admin.organization._id}/accept-invitation`, await bearer(staff.token), { token });
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json()).toMatchObject({ group: null, user: { organization: admin.organization._id, roles: ['provider'], active: 1 } });
    expect((await call('GET', `/api/users/${staff.user._id}/groupInvites`, adminHeaders)).json().total).toBe(0);
  });

  it('never invites by id someone who is not of the organization: 404 as for an unknown id, no mail, nothing stored', async () => {
    const { admin, adminHeaders } = await team();
    const outsider = await signup(service.app, { firstname: 'Olga', lastname: 'Outsider' });
    const invites = async () =>
      (await sql.query('SELECT count(*)::int AS n FROM group_invite WHERE organization = $1', [admin.organization._id])).rows[0]
        .n as number;
    const before = await invites();
    const outside = await call('POST', `/api/organizations/${admin.organization._id}/users/${outsider.user._id}/invite`, adminHeaders);
    const unknown = await call('POST', `/api/organizations/${admin.organization._id}/users/${randomUUID()}/invite`, adminHeaders);
    for (const response of [outside, unknown]) {
      expect(response.statusCode).toBe(404);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    // Alike to the byte but for the request id and path: nothing tells that the outsider exists.
    const comparable = (body: Record<string, unknown>) => ({ ...body, requestId: null, instance: null });
    expect(comparable(outside.json())).toEqual(comparable(unknown.json()));
    expect(await invites()).toBe(before);
    // Mail goes out after the answer; give it the time it would take.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(inbox.filter((mail) => JSON.stringify(mail.to).includes(outsider.email))).toEqual([]);
  });

  it('changes a member’s roles, never leaving the organization without an admin', async () => {
    const { admin, adminHeaders, staff, staffHeaders } = await team();
    const url = (user: string) => `/api/organizations/${admin.organization._id}/users/${user}`;
    expect((await call('PUT', url(staff.user._id), staffHeaders, { roles: ['admin'] })).statusCode).toBe(403);
    expect((await call('PUT', url(admin.user._id), adminHeaders, { roles: ['staff'] })).statusCode).toBe(409);
    const promoted = await call('PUT', url(staff.user._id), adminHeaders, { roles: ['admin', 'provider'] });
    expect(promoted.statusCode).toBe(200);
    expect(promoted.json().roles).toEqual(['admin', 'provider']);
    // With a second admin, stepping down is fine.
    expect((await call('PUT', url(admin.user._id), adminHeaders, { roles: ['staff'] })).json().roles).toEqual(['staff']);
    expect((await call('PUT', url(staff.user._id), adminHeaders, { roles: ['staff'], extra: 1 })).statusCode).toBe(400);
  });
});
