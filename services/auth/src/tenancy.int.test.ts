import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multipartBody, TINY_PNG } from '../test/fixtures.js';
import { bearer, signup, startAuth, type AuthUnderTest, type SignupResult } from '../test/harness.js';

describe('auth service: one organization never reaches another’s records', () => {
  let service: AuthUnderTest;
  let sql: pg.Client;
  let a: SignupResult;
  let b: SignupResult;
  /** Ids of B's records other than users and organizations. */
  const ofB = { setting: '', integratorClient: '', group: '', activity: '', widget: '', avatar: '' };

  beforeAll(async () => {
    service = await startAuth('tenancy', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    a = await signup(service.app, { organizationName: 'Clinic A' });
    b = await signup(service.app, { organizationName: 'Clinic B', firstname: 'Bella', lastname: 'Bravo' });
    const asB = await bearer(b.token);
    const setting = await service.app.inject({ method: 'POST', url: '/api/settings', headers: asB, payload: { ref: 'user', refId: b.user._id, settings: { helpText: 'Clinic B help' } } });
    ofB.setting = setting.json()._id;
    ofB.integratorClient = (await service.app.inject({ method: 'POST', url: '/api/integratorClients', headers: asB, payload: { name: 'Clinic B EHR' } })).json()._id;
    ofB.group = (await service.app.inject({ method: 'POST', url: '/api/groups', headers: asB, payload: { name: 'Clinic B desk', users: [b.user._id] } })).json()._id;
    await service.app.inject({ method: 'POST', url: `/api/groups/${ofB.group}/invite-user`, headers: asB, payload: { email: 'newcomer@clinic-b.example' } });
    ofB.widget = (await service.app.inject({ method: 'POST', url: '/api/widgets', headers: asB, payload: { name: 'Clinic B booking' } })).json()._id;
    const image = multipartBody([{ field: 'file', filename: 'b.png', contentType: 'image/png', data: TINY_PNG }]);
    const uploaded = await service.app.inject({
      method: 'PUT',
      url: `/api/users/${b.user._id}/upload`,
      headers: { ...asB, 'content-type': image.contentType },
      payload: image.payload,
    });
    ofB.avatar = (uploaded.json().avatar as string).split('/').at(-1)!;
    // B's own events reach its activity feed through the bus; all of them, so the feed is still when the snapshot is taken.
    await waitFor(async () => {
      const { rows } = await sql.query(
        "SELECT (SELECT count(*) FROM outbox WHERE envelope->>'organization' = $1)::int AS sent, (SELECT count(*) FROM activity WHERE organization = $1)::int AS recorded",
        [b.organization._id],
      );
      return rows[0].sent > 0 && rows[0].sent === rows[0].recorded;
    }, { timeoutMs: 20_000 });
    ofB.activity = await waitFor(
      async () => (await sql.query("SELECT id FROM activity WHERE organization = $1 AND type = 'group.created'", [b.organization._id])).rows[0]?.id as string | undefined,
      { timeoutMs: 20_000 },
    );
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
      settings: await query('SELECT * FROM setting WHERE organization = $1 ORDER BY id', [b.organization._id]),
      integratorClients: await query('SELECT * FROM integrator_client WHERE organization = $1 ORDER BY id', [b.organization._id]),
      groups: await query('SELECT * FROM user_group WHERE organization = $1 ORDER BY id', [b.organization._id]),
      groupMembers: await query('SELECT m.* FROM group_member m JOIN user_group g ON g.id = m."group" WHERE g.organization = $1 OR m."user" = $2 ORDER BY m."group", m."user"'),
      invites: await query('SELECT * FROM group_invite WHERE organization = $1 ORDER BY id', [b.organization._id]),
      activities: await query('SELECT * FROM activity WHERE organization = $1 ORDER BY id', [b.organization._id]),
      widgets: await query('SELECT * FROM widget WHERE organization = $1 ORDER BY id', [b.organization._id]),
      avatars: await query('SELECT * FROM avatar WHERE organization = $1 OR "user" = $2 ORDER BY id'),
      events: await query("SELECT id FROM outbox WHERE envelope->>'organization' = $1 OR key IN ($1::text, $2::text) ORDER BY seq"),
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
      { method: 'PUT', route: '/api/users/:id/activate', url: `/api/users/${user}/activate` },
      { method: 'GET', route: '/api/users/:id/resetPasswordLink', url: `/api/users/${user}/resetPasswordLink` },
      { method: 'GET', route: '/api/users/:id/groupInvites', url: `/api/users/${user}/groupInvites` },
      // Platform views cross organizations by design, so an organization admin is refused outright.
      { method: 'POST', route: '/api/users/admin/:id', url: `/api/users/admin/${user}`, status: 403 },
      { method: 'PUT', route: '/api/users/transfer', url: '/api/users/transfer', payload: { user, from: org, to: a.organization._id } },
      { method: 'PUT', route: '/api/users/transfer', url: '/api/users/transfer', payload: { user: a.user._id, from: a.organization._id, to: org } },
      { method: 'GET', route: '/api/organizations/:id', url: `/api/organizations/${org}` },
      { method: 'PUT', route: '/api/organizations/:id', url: `/api/organizations/${org}`, payload: { name: 'Hacked' } },
      { method: 'GET', route: '/api/organizations/:id/users', url: `/api/organizations/${org}/users` },
      { method: 'DELETE', route: '/api/organizations/:id', url: `/api/organizations/${org}` },
      { method: 'POST', route: '/api/organizations/:id/users/:invitedUserId/invite', url: `/api/organizations/${org}/users/${a.user._id}/invite` },
      { method: 'PUT', route: '/api/organizations/:id/users/:userId', url: `/api/organizations/${org}/users/${user}`, payload: { roles: ['staff'] } },
      { method: 'PUT', route: '/api/organizations/:id/users/:userId', url: `/api/organizations/${a.organization._id}/users/${user}`, payload: { roles: ['staff'] } },
      { method: 'GET', route: '/api/organizations/:id/access', url: `/api/organizations/${org}/access` },
      { method: 'POST', route: '/api/organizations/:id/users/:organizationUser/switch', url: `/api/organizations/${org}/users/${user}/switch` },
      { method: 'POST', route: '/api/organizations/:id/users/:organizationUser/switch', url: `/api/organizations/${org}/users/${a.user._id}/switch` },
      { method: 'GET', route: '/api/settings/:id', url: `/api/settings/${ofB.setting}` },
      { method: 'PUT', route: '/api/settings/:id', url: `/api/settings/${ofB.setting}`, payload: { settings: { helpText: 'Hacked' } } },
      { method: 'DELETE', route: '/api/settings/:id', url: `/api/settings/${ofB.setting}` },
      { method: 'PUT', route: '/api/settings/:id/subscribe/:messageKey', url: `/api/settings/${ofB.setting}/subscribe/reminder` },
      { method: 'PUT', route: '/api/settings/:id/unsubscribe', url: `/api/settings/${ofB.setting}/unsubscribe` },
      { method: 'PUT', route: '/api/settings/:id/unsubscribe/:messageKey', url: `/api/settings/${ofB.setting}/unsubscribe/reminder` },
      { method: 'GET', route: '/api/integratorClients/:id', url: `/api/integratorClients/${ofB.integratorClient}` },
      { method: 'PUT', route: '/api/integratorClients/:id', url: `/api/integratorClients/${ofB.integratorClient}`, payload: { active: false } },
      { method: 'DELETE', route: '/api/integratorClients/:id', url: `/api/integratorClients/${ofB.integratorClient}` },
      { method: 'GET', route: '/api/groups/:id', url: `/api/groups/${ofB.group}` },
      { method: 'PUT', route: '/api/groups/:id', url: `/api/groups/${ofB.group}`, payload: { name: 'Hacked', users: [] } },
      { method: 'DELETE', route: '/api/groups/:id', url: `/api/groups/${ofB.group}` },
      { method: 'POST', route: '/api/groups/:id/:user', url: `/api/groups/${ofB.group}/${a.user._id}` },
      { method: 'DELETE', route: '/api/groups/:id/:user', url: `/api/groups/${ofB.group}/${user}` },
      { method: 'GET', route: '/api/groups/:id/invites', url: `/api/groups/${ofB.group}/invites` },
      { method: 'POST', route: '/api/groups/:id/invite-user', url: `/api/groups/${ofB.group}/invite-user`, payload: { email: 'intruder@clinic-a.example' } },
      { method: 'POST', route: '/api/groups/:id/accept-invitation', url: `/api/groups/${ofB.group}/accept-invitation`, payload: { token: 'x'.repeat(43) } },
      { method: 'GET', route: '/api/groups/users/:id', url: `/api/groups/users/${user}` },
      { method: 'PUT', route: '/api/activities/:id', url: `/api/activities/${ofB.activity}`, payload: { read: true } },
      { method: 'PUT', route: '/api/users/:id/upload', url: `/api/users/${user}/upload` },
      // Images are served by their random id without a token (for <img> tags); B's image is not A's user's.
      { method: 'GET', route: '/api/users/:id/avatar/:avatarId', url: `/api/users/${a.user._id}/avatar/${ofB.avatar}` },
      { method: 'PUT', route: '/api/widgets/:id', url: `/api/widgets/${ofB.widget}`, payload: { active: false } },
      // Demo users are platform-wide by design, so an organization admin is refused outright.
      { method: 'POST', route: '/api/demoUsers/:salesforceId/messages/:messageTemplate', url: '/api/demoUsers/SF00000001/messages/reminder', status: 403 },
      // Not id routes, but they name B's records in the body.
      { method: 'POST', route: '/api/groups', url: '/api/groups', payload: { name: 'Mixed', users: [user] } },
      { method: 'POST', route: '/api/settings', url: '/api/settings', payload: { ref: 'integrator', refId: ofB.integratorClient } },
      { method: 'POST', route: '/api/settings', url: '/api/settings', payload: { ref: 'user', refId: user } },
      { method: 'POST', route: '/api/settings', url: '/api/settings', payload: { ref: 'organization', refId: org } },
    ] as const;
  };

  it('covers every built route that takes an id', async () => {
    const document = (await service.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const withIds = Object.entries(document.paths)
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`))
      .filter((route) => route.includes('/:') && !route.includes('/reset-password/'));
    expect(withIds.length).toBeGreaterThanOrEqual(8);
    const covered = new Set(attempts().map((attempt) => `${attempt.method} ${attempt.route}`));
    expect(withIds.filter((route) => !covered.has(route))).toEqual([]);
  });

  it("answers 404 for B's ids to A's admin and changes none of B's rows", async () => {
    const before = await snapshotOfB();
    // B really has one of each record the attempts aim at.
    for (const rows of [before.settings, before.integratorClients, before.groups, before.groupMembers, before.invites, before.widgets, before.avatars]) {
      expect(rows).toHaveLength(1);
    }
    const headers = await bearer(a.token);
    for (const attempt of attempts()) {
      const response = await service.app.inject({ method: attempt.method, url: attempt.url, headers, ...('payload' in attempt ? { payload: attempt.payload } : {}) });
      expect(response.statusCode, `${attempt.method} ${attempt.url}`).toBe('status' in attempt ? attempt.status : 404);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.body).not.toContain('Bravo');
      expect(response.body).not.toContain('Clinic B');
    }
    expect(await snapshotOfB()).toEqual(before);
  });

  it("lists only A's users to A", async () => {
    const list = (await service.app.inject({ url: '/api/users', headers: await bearer(a.token) })).json();
    expect(list.response.map((user: { _id: string }) => user._id)).toEqual([a.user._id]);
    const settings = (await service.app.inject({ url: '/api/settings', headers: await bearer(a.token) })).json();
    expect(settings.total).toBe(0);
    const clients = (await service.app.inject({ url: '/api/integratorClients', headers: await bearer(a.token) })).json();
    expect(clients.total).toBe(0);
    expect((await service.app.inject({ url: '/api/widgets', headers: await bearer(a.token) })).json().total).toBe(0);
    for (const url of ['/api/groups', '/api/groupInvites']) {
      expect((await service.app.inject({ url, headers: await bearer(a.token) })).json().total, url).toBe(0);
    }
    const organizations = (await service.app.inject({ url: '/api/organizations', headers: await bearer(a.token) })).json();
    expect(organizations.response.map((org: { _id: string }) => org._id)).toEqual([a.organization._id]);
  });
});
