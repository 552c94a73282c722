import { kafkaBrokers, type SmtpSink, startSmtpSink, waitFor } from '@pep/testing';
import { decodeJwt } from 'jose';
import type { ParsedMail } from 'mailparser';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembership } from '../test/fixtures.js';
import { bearer, PUBLIC_URL, schedulingCatalog, signup, startAuth, type AuthUnderTest } from '../test/harness.js';

describe('auth service: groups and invitations, over real SMTP', () => {
  let service: AuthUnderTest;
  let smtp: SmtpSink;
  let sql: pg.Client;
  let inbox: SmtpSink['inbox'] = [];

  beforeAll(async () => {
    smtp = await startSmtpSink();
    inbox = smtp.inbox;
    service = await startAuth('groups', await kafkaBrokers(), { mailer: { from: 'auth@example.test', smtpUrl: smtp.url } });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
    await smtp?.close();
  });

  /** An organization with an admin and a staff member, each with a token for it. */
  async function team() {
    const admin = await signup(service.app, { firstname: 'Ada', lastname: 'Admin' });
    const staff = await signup(service.app, { firstname: 'Sam', lastname: 'Staff' });
    await addMembership(sql, admin.organization._id, staff.user._id, ['staff']);
    const switched = await service.app.inject({
      method: 'POST',
      url: `/api/organizations/${admin.organization._id}/users/${staff.user._id}/switch`,
      headers: await bearer(staff.token),
    });
    return { admin, adminHeaders: await bearer(admin.token), staff, staffHeaders: await bearer(switched.json().token as string) };
  }

  const call = (
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    headers: Record<string, string> = {},
    payload?: Record<string, unknown>,
  ) => service.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  const eventsOf = async (key: string) =>
    (await sql.query("SELECT envelope FROM outbox WHERE key = $1 AND envelope->>'type' LIKE 'group.%' ORDER BY seq", [key])).rows.map(
      (row) => [row.envelope.type, row.envelope.data.user ?? row.envelope.data.changed ?? null],
    );
  const mailTo = (email: string, after = 0) =>
    waitFor(() => inbox.slice(after).find((mail) => JSON.stringify(mail.to).includes(email)), {
      timeoutMs: 10_000,
      message: `mail to ${email}`,
    });
  const tokenIn = (mail: ParsedMail) => {
    const match = new RegExp(`${PUBLIC_URL}/accept-invitation\\?token=([\\w-]+)`).exec(mail.text ?? '');
    expect(match, 'invitation link in the mail').not.toBeNull();
    return match![1]!;
  };
  let address = 0;
  const accept = (group: string, payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
    call('POST', `/api/groups/${group}/accept-invitation`, { 'x-forwarded-for': `198.51.100.${++address % 250}`, ...headers }, payload);
  const login = (email: string, password: string) =>
    call('POST', '/api/users/login', { 'x-forwarded-for': `192.0.2.${++address % 250}` }, { email, password });

  it('creates, lists, changes and deletes groups, publishing membership changes', async () => {
    const { admin, adminHeaders, staff, staffHeaders } = await team();
    const first = (await schedulingCatalog(service, admin.organization._id)).facility;
    const second = (await schedulingCatalog(service, admin.organization._id)).facility;
    const created = await call('POST', '/api/groups', adminHeaders, { name: 'Front desk', users: [admin.user._id], facilities: [first] });
    expect(created.statusCode).toBe(200);
    const group = created.json();
    expect(group).toMatchObject({
      name: 'Front desk',
      type: 'user',
      users: [admin.user._id],
      facilities: [first],
      organization: admin.organization._id,
    });

    const added = await call('POST', `/api/groups/${group._id}/${staff.user._id}`, adminHeaders);
    expect(added.json().users).toEqual([admin.user._id, staff.user._id]);
    expect((await call('POST', `/api/groups/${group._id}/${staff.user._id}`, adminHeaders)).json().users).toHaveLength(2);
    const ofStaff = (await call('GET', `/api/groups/users/${staff.user._id}`, staffHeaders)).json();
    expect(ofStaff).toMatchObject({ total: 1, page: 1, limit: 25 });
    expect(ofStaff.response[0]._id).toBe(group._id);

    const put = await call('PUT', `/api/groups/${group._id}`, adminHeaders, {
      name: 'Front office',
      users: [staff.user._id],
      facilities: [first, second],
    });
    expect(put.json()).toMatchObject({ name: 'Front office', users: [staff.user._id], facilities: [first, second] });
    const removed = await call('DELETE', `/api/groups/${group._id}/${staff.user._id}`, adminHeaders);
    expect(removed.json().users).toEqual([]);
    expect((await call('DELETE', `/api/groups/${group._id}/${staff.user._id}`, adminHeaders)).statusCode).toBe(200);

    await call('POST', '/api/groups/', adminHeaders, { name: 'Billing', type: 'system' });
    const list = (await call('GET', '/api/groups?limit=1&page=2', staffHeaders)).json();
    expect(list).toMatchObject({ total: 2, page: 2, limit: 1 });
    expect(list.response[0].name).toBe('Front office');

    const deleted = await call('DELETE', `/api/groups/${group._id}`, adminHeaders);
    expect(deleted.statusCode).toBe(200);
    expect((await call('GET', `/api/groups/${group._id}`, adminHeaders)).statusCode).toBe(404);

    expect(await eventsOf(group._id)).toEqual([
      ['group.created', null],
      ['group.member-added', admin.user._id],
      ['group.member-added', staff.user._id],
      ['group.member-removed', admin.user._id],
      ['group.updated', ['name', 'facilities']],
      ['group.member-removed', staff.user._id],
      ['group.deleted', null],
    ]);
  });

  it('refuses strangers, staff writes and unknown fields', async () => {
    const { adminHeaders, staffHeaders, staff } = await team();
    const outsider = await signup(service.app);
    expect((await call('POST', '/api/groups', adminHeaders, { name: 'X', users: [outsider.user._id] })).statusCode).toBe(404);
    const group = (await call('POST', '/api/groups', adminHeaders, { name: 'Nurses' })).json();
    expect((await call('POST', `/api/groups/${group._id}/${outsider.user._id}`, adminHeaders)).statusCode).toBe(404);
    expect((await call('GET', `/api/groups/users/${outsider.user._id}`, adminHeaders)).statusCode).toBe(404);
    expect((await call('POST', '/api/groups', staffHeaders, { name: 'Mine' })).statusCode).toBe(403);
    expect((await call('POST', `/api/groups/${group._id}/${staff.user._id}`, staffHeaders)).statusCode).toBe(403);
    expect((await call('POST', `/api/groups/${group._id}/invite-user`, staffHeaders, { email: 'x@clinic.example' })).statusCode).toBe(403);
    expect((await call('GET', '/api/groupInvites', staffHeaders)).statusCode).toBe(403);
    expect((await call('GET', `/api/groups/${group._id}`, staffHeaders)).statusCode).toBe(200);
    for (const [url, payload, field] of [
      ['/api/groups', { name: 'Y', color: 'red' }, 'body.color'],
      ['/api/groups', { name: 'Y', type: 'robot' }, 'body.type'],
      [`/api/groups/${group._id}/invite-user`, { email: 'not-an-email' }, 'body.email'],
      [`/api/groups/${group._id}/invite-user`, { email: 'a@clinic.example', roles: ['patient'] }, 'body.roles.0'],
      [`/api/groups/${group._id}/accept-invitation`, { token: 'x'.repeat(43), admin: true }, 'body.admin'],
    ] as const) {
      const response = await call('POST', url, adminHeaders, payload);
      expect(response.statusCode, field).toBe(400);
      expect(response.json().errors.map((error: { field: string }) => error.field)).toContain(field);
    }
  });

  it('invites a new person by e-mail: the link shows the invitation, creates the account once, and they log in', async () => {
    const { admin, adminHeaders } = await team();
    const group = (await call('POST', '/api/groups', adminHeaders, { name: 'Schedulers' })).json();
    const email = `new-${Date.now()}@invitee.example`;
    const invited = await call('POST', `/api/groups/${group._id}/invite-user`, adminHeaders, {
      email: email.toUpperCase(),
      roles: ['manager'],
    });
    expect(invited.statusCode).toBe(200);
    expect(invited.json()).toMatchObject({ email, roles: ['manager'], status: 'pending', group: group._id, invitedBy: admin.user._id });
    expect(JSON.stringify(invited.json())).not.toMatch(/token/i);

    const mail = await mailTo(email);
    expect(mail.subject).toContain(admin.organization.name);
    const token = tokenIn(mail);
    const { rows } = await sql.query('SELECT token_hash FROM group_invite WHERE id = $1', [invited.json()._id]);
    expect(rows[0].token_hash).not.toBe(token);
    expect(rows[0].token_hash).toMatch(/^[0-9a-f]{64}$/);

    const pending = (await call('GET', `/api/groups/${group._id}/invites`, adminHeaders)).json();
    expect(pending.response.map((invite: { _id: string }) => invite._id)).toEqual([invited.json()._id]);
    expect((await call('GET', '/api/groupInvites/', adminHeaders)).json().total).toBe(1);

    const shown = await call('GET', `/api/groups/public/get-invite?token=${token}`);
    expect(shown.statusCode).toBe(200);
    expect(shown.json()).toMatchObject({
      email,
      organizationName: admin.organization.name,
      groupName: 'Schedulers',
      group: group._id,
      accountExists: false,
    });

    const incomplete = await accept(group._id, { token });
    expect(incomplete.statusCode).toBe(400);
    expect(
      incomplete
        .json()
        .errors.map((error: { field: string }) => error.field)
        .sort(),
    ).toEqual(['body.firstname', 'body.lastname', 'body.password']);
    const accepted = await accept(group._id, { token, password: 'invited passphrase', firstname: 'Ivy', lastname: 'Invitee' });
    expect(accepted.statusCode).toBe(200);
    const user = accepted.json().user;
    expect(user).toMatchObject({ email, firstname: 'Ivy', organization: admin.organization._id, roles: ['manager'], active: 1 });
    expect(accepted.json().group.users).toEqual([user._id]);

    // Single use.
    expect((await accept(group._id, { token, password: 'another passphrase', firstname: 'Eve', lastname: 'Evil' })).statusCode).toBe(404);
    expect((await call('GET', `/api/groups/public/get-invite?token=${token}`)).statusCode).toBe(404);
    expect((await call('GET', '/api/groupInvites', adminHeaders)).json().total).toBe(0);

    const session = await login(email, 'invited passphrase');
    expect(session.statusCode).toBe(200);
    expect(decodeJwt(session.json().token)).toMatchObject({ sub: user._id, org: admin.organization._id, roles: ['manager'] });
    const userEvents = await sql.query("SELECT envelope FROM outbox WHERE key = $1 AND envelope->>'type' = 'user.created'", [user._id]);
    expect(userEvents.rows[0].envelope.data).toMatchObject({ _id: user._id, roles: ['manager'], active: true });
    expect(await eventsOf(group._id)).toEqual([
      ['group.created', null],
      ['group.member-added', user._id],
    ]);
  });

  it('joins an existing account only with its password or its session', async () => {
    const { admin, adminHeaders } = await team();
    const group = (await call('POST', '/api/groups', adminHeaders, { name: 'Providers' })).json();
    const existing = await signup(service.app, { firstname: 'Ella', lastname: 'Existing' });
    const before = inbox.length;
    await call('POST', `/api/groups/${group._id}/invite-user`, adminHeaders, { email: existing.email });
    const token = tokenIn(await mailTo(existing.email, before));
    expect((await call('GET', `/api/groups/public/get-invite?token=${token}`)).json().accountExists).toBe(true);

    expect((await accept(group._id, { token })).statusCode).toBe(401);
    expect((await accept(group._id, { token, password: 'not their password' })).statusCode).toBe(401);
    // The token only works with its own group.
    const otherGroup = (await call('POST', '/api/groups', adminHeaders, { name: 'Other' })).json();
    expect((await accept(otherGroup._id, { token, password: existing.password })).statusCode).toBe(404);

    const accepted = await accept(group._id, { token, password: existing.password });
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json().user).toMatchObject({ _id: existing.user._id, organization: admin.organization._id, roles: ['staff'] });
    const switched = await call(
      'POST',
      `/api/organizations/${admin.organization._id}/users/${existing.user._id}/switch`,
      await bearer(existing.token),
    );
    expect(switched.statusCode).toBe(200);

    // Signed in as the invitee, no password is needed.
    const third = (await call('POST', '/api/groups', adminHeaders, { name: 'Third' })).json();
    const mark = inbox.length;
    await call('POST', `/api/groups/${third._id}/invite-user`, adminHeaders, { email: existing.email });
    const again = tokenIn(await mailTo(existing.email, mark));
    const bySession = await accept(third._id, { token: again }, await bearer(existing.token));
    expect(bySession.statusCode).toBe(200);
    expect(bySession.json().group.users).toEqual([existing.user._id]);
  });

  it('expires links after 7 days, and a resend replaces the pending link', async () => {
    const { adminHeaders } = await team();
    const group = (await call('POST', '/api/groups', adminHeaders, { name: 'Late' })).json();
    const email = `late-${Date.now()}@invitee.example`;
    await call('POST', `/api/groups/${group._id}/invite-user`, adminHeaders, { email });
    const first = tokenIn(await mailTo(email));
    const mark = inbox.length;
    await call('POST', `/api/groups/${group._id}/invite-user`, adminHeaders, { email });
    const second = tokenIn(await mailTo(email, mark));
    expect((await call('GET', `/api/groups/public/get-invite?token=${first}`)).statusCode).toBe(404);
    expect((await call('GET', `/api/groups/${group._id}/invites`, adminHeaders)).json().total).toBe(1);

    service.clock.advance(7 * 86_400_000 + 1000);
    try {
      expect((await call('GET', `/api/groups/public/get-invite?token=${second}`)).statusCode).toBe(404);
      expect(
        (await accept(group._id, { token: second, password: 'too late passphrase', firstname: 'L', lastname: 'Ate' })).statusCode,
      ).toBe(404);
      expect((await call('GET', `/api/groups/${group._id}/invites`, adminHeaders)).json().total).toBe(0);
    } finally {
      service.clock.advance(-(7 * 86_400_000 + 1000));
    }
    expect((await call('GET', '/api/groups/public/get-invite?token=short')).statusCode).toBe(400);
    expect((await call('GET', `/api/groups/public/get-invite?token=${'x'.repeat(43)}`)).statusCode).toBe(404);
  });

  it('accepts every pending invitation to a proven e-mail, and none to an unproven one', async () => {
    const first = await team();
    const second = await team();
    const groupA = (await call('POST', '/api/groups', first.adminHeaders, { name: 'A team' })).json();
    const groupB = (await call('POST', '/api/groups', second.adminHeaders, { name: 'B team' })).json();
    const email = `pending-${Date.now()}@invitee.example`;

    // Someone signs up with the address before the invitations go out; signing up proves nothing.
    const squatter = await signup(service.app, { email });
    await call('POST', `/api/groups/${groupA._id}/invite-user`, first.adminHeaders, { email });
    await call('POST', `/api/groups/${groupB._id}/invite-user`, second.adminHeaders, { email, roles: ['provider'] });
    const refused = await call('PUT', '/api/groups/accept-pending-invites', await bearer(squatter.token));
    expect(refused.statusCode).toBe(403);
    expect((await call('GET', '/api/groupInvites', first.adminHeaders)).json().total).toBe(1);

    // The mailbox's owner resets the password through the mailed link, which proves the address.
    await call('POST', '/api/users/forgot-password', { 'x-forwarded-for': '203.0.113.200' }, { email });
    const resetMail = await waitFor(
      () => inbox.find((mail) => JSON.stringify(mail.to).includes(email) && mail.text?.includes('reset-password')),
      { timeoutMs: 10_000 },
    );
    const resetToken = new RegExp(`${PUBLIC_URL}/reset-password/([\\w-]+)`).exec(resetMail.text ?? '')![1]!;
    expect((await call('POST', `/api/users/reset-password/${resetToken}`, {}, { password: 'owner passphrase!' })).statusCode).toBe(200);
    const owner = (await login(email, 'owner passphrase!')).json();

    const response = await call('PUT', '/api/groups/accept-pending-invites', await bearer(owner.token));
    expect(response.statusCode).toBe(200);
    expect(
      response
        .json()
        .accepted.map((invite: { group: string; status: string }) => [invite.group, invite.status])
        .sort(),
    ).toEqual(
      [
        [groupA._id, 'accepted'],
        [groupB._id, 'accepted'],
      ].sort(),
    );
    expect((await call('GET', `/api/groups/${groupB._id}`, second.adminHeaders)).json().users).toEqual([squatter.user._id]);
    const inB = (await call('GET', `/api/users/${squatter.user._id}`, second.adminHeaders)).json();
    expect(inB.roles).toEqual(['provider']);
    expect((await call('PUT', '/api/groups/accept-pending-invites', await bearer(owner.token))).json().accepted).toEqual([]);
  });
});
