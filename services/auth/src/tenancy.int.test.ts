import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { createEvent, providerDeletedV1 } from '@pep/contracts';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multipartBody, TINY_PNG } from '../test/fixtures.js';
import { bearer, publishSoon, schedulingCatalog, signup, startAuth, type AuthUnderTest, type SignupResult } from '../test/harness.js';

describe('auth service: one organization never reaches another’s records', () => {
  let service: AuthUnderTest;
  let sql: pg.Client;
  let a: SignupResult;
  let b: SignupResult;
  /** Ids of B's records other than users and organizations. */
  const ofB = { setting: '', bookingLink: '', integratorClient: '', group: '', activity: '', widget: '', avatar: '' };
  /** The page B's facility sends patients to book on (`bookingLink`, said in follow-up texts). */
  const bookingLinkOfB = 'https://book.clinic-b.example/downtown';
  /** Providers, facilities and appointment types of each organization, as scheduling announced them. */
  let catalogOfA: Awaited<ReturnType<typeof schedulingCatalog>>;
  let catalogOfB: Awaited<ReturnType<typeof schedulingCatalog>>;

  beforeAll(async () => {
    service = await startAuth('tenancy', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    a = await signup(service.app, { organizationName: 'Clinic A' });
    b = await signup(service.app, { organizationName: 'Clinic B', firstname: 'Bella', lastname: 'Bravo' });
    const asB = await bearer(b.token);
    const setting = await service.app.inject({
      method: 'POST',
      url: '/api/settings',
      headers: asB,
      payload: { ref: 'user', refId: b.user._id, settings: { helpText: 'Clinic B help' } },
    });
    ofB.setting = setting.json()._id;
    ofB.integratorClient = (
      await service.app.inject({ method: 'POST', url: '/api/integratorClients', headers: asB, payload: { name: 'Clinic B EHR' } })
    ).json()._id;
    catalogOfA = await schedulingCatalog(service, a.organization._id);
    catalogOfB = await schedulingCatalog(service, b.organization._id);
    const bookingLink = await service.app.inject({
      method: 'POST',
      url: '/api/settings',
      headers: asB,
      payload: { ref: 'facility', refId: catalogOfB.facility, settings: { bookingLink: bookingLinkOfB } },
    });
    expect(bookingLink.statusCode, bookingLink.body).toBe(200);
    ofB.bookingLink = bookingLink.json()._id;
    ofB.group = (
      await service.app.inject({
        method: 'POST',
        url: '/api/groups',
        headers: asB,
        payload: { name: 'Clinic B desk', users: [b.user._id], facilities: [catalogOfB.facility] },
      })
    ).json()._id;
    await service.app.inject({
      method: 'POST',
      url: `/api/groups/${ofB.group}/invite-user`,
      headers: asB,
      payload: { email: 'newcomer@clinic-b.example' },
    });
    ofB.widget = (
      await service.app.inject({ method: 'POST', url: '/api/widgets', headers: asB, payload: { name: 'Clinic B booking' } })
    ).json()._id;
    const image = multipartBody([{ field: 'file', filename: 'b.png', contentType: 'image/png', data: TINY_PNG }]);
    const uploaded = await service.app.inject({
      method: 'PUT',
      url: `/api/users/${b.user._id}/upload`,
      headers: { ...asB, 'content-type': image.contentType },
      payload: image.payload,
    });
    ofB.avatar = (uploaded.json().avatar as string).split('/').at(-1)!;
    // B's own events reach its activity feed through the bus; all of them, so the feed is still when the snapshot is taken.
    // (Scheduling's announcements of B's catalog are in the feed too, and waited for above.)
    await waitFor(
      async () => {
        const { rows } = await sql.query(
          `SELECT (SELECT count(*) FROM outbox WHERE envelope->>'organization' = $1)::int AS sent,
                (SELECT count(*) FROM activity WHERE organization = $1 AND source = '/services/auth')::int AS recorded`,
          [b.organization._id],
        );
        return rows[0].sent > 0 && rows[0].sent === rows[0].recorded;
      },
      { timeoutMs: 20_000 },
    );
    ofB.activity = await waitFor(
      async () =>
        (await sql.query("SELECT id FROM activity WHERE organization = $1 AND type = 'group.created'", [b.organization._id])).rows[0]
          ?.id as string | undefined,
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
      groupMembers: await query(
        'SELECT m.* FROM group_member m JOIN user_group g ON g.id = m."group" WHERE g.organization = $1 OR m."user" = $2 ORDER BY m."group", m."user"',
      ),
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
      {
        method: 'PUT',
        route: '/api/users/transfer',
        url: '/api/users/transfer',
        payload: { user: a.user._id, from: a.organization._id, to: org },
      },
      { method: 'GET', route: '/api/organizations/:id', url: `/api/organizations/${org}` },
      { method: 'PUT', route: '/api/organizations/:id', url: `/api/organizations/${org}`, payload: { name: 'Hacked' } },
      { method: 'GET', route: '/api/organizations/:id/users', url: `/api/organizations/${org}/users` },
      { method: 'DELETE', route: '/api/organizations/:id', url: `/api/organizations/${org}` },
      {
        method: 'POST',
        route: '/api/organizations/:id/users/:invitedUserId/invite',
        url: `/api/organizations/${org}/users/${a.user._id}/invite`,
      },
      {
        method: 'PUT',
        route: '/api/organizations/:id/users/:userId',
        url: `/api/organizations/${org}/users/${user}`,
        payload: { roles: ['staff'] },
      },
      {
        method: 'PUT',
        route: '/api/organizations/:id/users/:userId',
        url: `/api/organizations/${a.organization._id}/users/${user}`,
        payload: { roles: ['staff'] },
      },
      { method: 'GET', route: '/api/organizations/:id/access', url: `/api/organizations/${org}/access` },
      {
        method: 'POST',
        route: '/api/organizations/:id/users/:organizationUser/switch',
        url: `/api/organizations/${org}/users/${user}/switch`,
      },
      {
        method: 'POST',
        route: '/api/organizations/:id/users/:organizationUser/switch',
        url: `/api/organizations/${org}/users/${a.user._id}/switch`,
      },
      { method: 'GET', route: '/api/settings/:id', url: `/api/settings/${ofB.setting}` },
      { method: 'PUT', route: '/api/settings/:id', url: `/api/settings/${ofB.setting}`, payload: { settings: { helpText: 'Hacked' } } },
      { method: 'DELETE', route: '/api/settings/:id', url: `/api/settings/${ofB.setting}` },
      { method: 'PUT', route: '/api/settings/:id/subscribe/:messageKey', url: `/api/settings/${ofB.setting}/subscribe/reminder` },
      { method: 'PUT', route: '/api/settings/:id/unsubscribe', url: `/api/settings/${ofB.setting}/unsubscribe` },
      { method: 'PUT', route: '/api/settings/:id/unsubscribe/:messageKey', url: `/api/settings/${ofB.setting}/unsubscribe/reminder` },
      // B's facility's booking link: neither read, redirected to another page, nor removed.
      { method: 'GET', route: '/api/settings/:id', url: `/api/settings/${ofB.bookingLink}` },
      {
        method: 'PUT',
        route: '/api/settings/:id',
        url: `/api/settings/${ofB.bookingLink}`,
        payload: { settings: { bookingLink: 'https://book.clinic-a.example/' } },
      },
      { method: 'PUT', route: '/api/settings/:id', url: `/api/settings/${ofB.bookingLink}`, payload: { settings: {} } },
      { method: 'DELETE', route: '/api/settings/:id', url: `/api/settings/${ofB.bookingLink}` },
      { method: 'GET', route: '/api/integratorClients/:id', url: `/api/integratorClients/${ofB.integratorClient}` },
      {
        method: 'PUT',
        route: '/api/integratorClients/:id',
        url: `/api/integratorClients/${ofB.integratorClient}`,
        payload: { active: false },
      },
      { method: 'DELETE', route: '/api/integratorClients/:id', url: `/api/integratorClients/${ofB.integratorClient}` },
      { method: 'GET', route: '/api/groups/:id', url: `/api/groups/${ofB.group}` },
      { method: 'PUT', route: '/api/groups/:id', url: `/api/groups/${ofB.group}`, payload: { name: 'Hacked', users: [] } },
      { method: 'DELETE', route: '/api/groups/:id', url: `/api/groups/${ofB.group}` },
      { method: 'POST', route: '/api/groups/:id/:user', url: `/api/groups/${ofB.group}/${a.user._id}` },
      { method: 'DELETE', route: '/api/groups/:id/:user', url: `/api/groups/${ofB.group}/${user}` },
      { method: 'GET', route: '/api/groups/:id/invites', url: `/api/groups/${ofB.group}/invites` },
      {
        method: 'POST',
        route: '/api/groups/:id/invite-user',
        url: `/api/groups/${ofB.group}/invite-user`,
        payload: { email: 'intruder@clinic-a.example' },
      },
      {
        method: 'POST',
        route: '/api/groups/:id/accept-invitation',
        url: `/api/groups/${ofB.group}/accept-invitation`,
        payload: { token: 'x'.repeat(43) },
      },
      { method: 'GET', route: '/api/groups/users/:id', url: `/api/groups/users/${user}` },
      { method: 'PUT', route: '/api/activities/:id', url: `/api/activities/${ofB.activity}`, payload: { read: true } },
      { method: 'PUT', route: '/api/users/:id/upload', url: `/api/users/${user}/upload` },
      // Images are served by their random id without a token (for <img> tags); B's image is not A's user's.
      { method: 'GET', route: '/api/users/:id/avatar/:avatarId', url: `/api/users/${a.user._id}/avatar/${ofB.avatar}` },
      { method: 'PUT', route: '/api/widgets/:id', url: `/api/widgets/${ofB.widget}`, payload: { active: false } },
      // Demo users are platform-wide by design, so an organization admin is refused outright.
      {
        method: 'POST',
        route: '/api/demoUsers/:salesforceId/messages/:messageTemplate',
        url: '/api/demoUsers/SF00000001/messages/reminder',
        status: 403,
      },
      {
        method: 'GET',
        route: '/api/demoUsers/:salesforceId/messages/:messageTemplate',
        url: '/api/demoUsers/SF00000001/messages/patientReminder',
        status: 403,
      },
      // Not id routes, but they name B's records in the body.
      { method: 'POST', route: '/api/groups', url: '/api/groups', payload: { name: 'Mixed', users: [user] } },
      { method: 'POST', route: '/api/settings', url: '/api/settings', payload: { ref: 'integrator', refId: ofB.integratorClient } },
      { method: 'POST', route: '/api/settings', url: '/api/settings', payload: { ref: 'user', refId: user } },
      { method: 'POST', route: '/api/settings', url: '/api/settings', payload: { ref: 'organization', refId: org } },
      { method: 'POST', route: '/api/settings', url: '/api/settings', payload: { ref: 'provider', refId: catalogOfB.provider } },
      { method: 'POST', route: '/api/settings', url: '/api/settings', payload: { ref: 'facility', refId: catalogOfB.facility } },
      {
        method: 'POST',
        route: '/api/settings',
        url: '/api/settings',
        payload: { ref: 'facility', refId: catalogOfB.facility, settings: { bookingLink: 'https://book.clinic-a.example/' } },
      },
      {
        method: 'POST',
        route: '/api/settings',
        url: '/api/settings',
        payload: { ref: 'appointment-type', refId: catalogOfB.appointmentType },
      },
      {
        method: 'POST',
        route: '/api/groups',
        url: '/api/groups',
        payload: { name: 'Mixed', facilities: [catalogOfA.facility, catalogOfB.facility] },
      },
      // A's own organization, naming B's user: the user must not learn of an invitation, nor A that the user exists.
      {
        method: 'POST',
        route: '/api/organizations/:id/users/:invitedUserId/invite',
        url: `/api/organizations/${a.organization._id}/users/${user}/invite`,
      },
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
    // B really has one of each record the attempts aim at (two settings: its user's and its facility's booking link).
    expect(before.settings.map((setting) => setting.id).sort()).toEqual([ofB.setting, ofB.bookingLink].sort());
    expect(before.settings.find((setting) => setting.id === ofB.bookingLink).settings).toEqual({ bookingLink: bookingLinkOfB });
    for (const rows of [before.integratorClients, before.groups, before.groupMembers, before.invites, before.widgets, before.avatars]) {
      expect(rows).toHaveLength(1);
    }
    const headers = await bearer(a.token);
    for (const attempt of attempts()) {
      const response = await service.app.inject({
        method: attempt.method,
        url: attempt.url,
        headers,
        ...('payload' in attempt ? { payload: attempt.payload } : {}),
      });
      expect(response.statusCode, `${attempt.method} ${attempt.url}`).toBe('status' in attempt ? attempt.status : 404);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.body).not.toContain('Bravo');
      expect(response.body).not.toContain('Clinic B');
      expect(response.body).not.toContain(bookingLinkOfB);
    }
    expect(await snapshotOfB()).toEqual(before);
  });

  it("lists only A's users to A", async () => {
    const list = (await service.app.inject({ url: '/api/users', headers: await bearer(a.token) })).json();
    expect(list.response.map((user: { _id: string }) => user._id)).toEqual([a.user._id]);
    const settings = (await service.app.inject({ url: '/api/settings', headers: await bearer(a.token) })).json();
    expect(settings.total).toBe(0);
    // Filtering by B's facility does not reach B's booking link either.
    const ofFacility = await service.app.inject({
      url: `/api/settings?ref=facility&refId=${catalogOfB.facility}`,
      headers: await bearer(a.token),
    });
    expect(ofFacility.json()).toMatchObject({ total: 0, response: [] });
    expect(ofFacility.body).not.toContain(bookingLinkOfB);
    const clients = (await service.app.inject({ url: '/api/integratorClients', headers: await bearer(a.token) })).json();
    expect(clients.total).toBe(0);
    expect((await service.app.inject({ url: '/api/widgets', headers: await bearer(a.token) })).json().total).toBe(0);
    for (const url of ['/api/groups', '/api/groupInvites']) {
      expect((await service.app.inject({ url, headers: await bearer(a.token) })).json().total, url).toBe(0);
    }
    const organizations = (await service.app.inject({ url: '/api/organizations', headers: await bearer(a.token) })).json();
    expect(organizations.response.map((org: { _id: string }) => org._id)).toEqual([a.organization._id]);
  });

  /** Every row of organization A that a write naming references could add or change, and the mail sent so far. */
  const snapshotOfA = async () => {
    const query = async (text: string) => (await sql.query(text, [a.organization._id])).rows;
    return {
      groups: await query('SELECT * FROM user_group WHERE organization = $1 ORDER BY id'),
      groupMembers: await query(
        'SELECT m.* FROM group_member m JOIN user_group g ON g.id = m."group" WHERE g.organization = $1 ORDER BY m."group", m."user"',
      ),
      settings: await query('SELECT * FROM setting WHERE organization = $1 ORDER BY id'),
      invites: await query('SELECT * FROM group_invite WHERE organization = $1 ORDER BY id'),
      memberships: await query('SELECT * FROM organization_membership WHERE organization = $1 ORDER BY id'),
      events: await query("SELECT id FROM outbox WHERE envelope->>'organization' = $1 ORDER BY seq"),
      mails: (await readdir(service.mailDir)).length,
    };
  };

  /** Writes of A naming references in their bodies and paths: B's records, records of no one, and deleted ones. */
  const referenceAttempts = (group: string, deletedProvider: string) => {
    const org = a.organization._id;
    const nobody = randomUUID();
    return [
      { method: 'POST', url: '/api/groups', payload: { name: 'G', users: [b.user._id] }, field: null },
      { method: 'POST', url: '/api/groups', payload: { name: 'G', users: [nobody] }, field: null },
      { method: 'POST', url: '/api/groups', payload: { name: 'G', facilities: [catalogOfB.facility] }, field: 'body.facilities.0' },
      {
        method: 'POST',
        url: '/api/groups',
        payload: { name: 'G', facilities: [catalogOfA.facility, 'facility-1'] },
        field: 'body.facilities.1',
      },
      // A provider is no facility.
      { method: 'POST', url: '/api/groups', payload: { name: 'G', facilities: [catalogOfA.provider] }, field: 'body.facilities.0' },
      { method: 'PUT', url: `/api/groups/${group}`, payload: { users: [b.user._id] }, field: null },
      { method: 'PUT', url: `/api/groups/${group}`, payload: { users: [nobody] }, field: null },
      { method: 'PUT', url: `/api/groups/${group}`, payload: { facilities: [catalogOfB.facility] }, field: 'body.facilities.0' },
      { method: 'POST', url: `/api/groups/${group}/${b.user._id}`, field: null },
      { method: 'POST', url: `/api/groups/${group}/${nobody}`, field: null },
      { method: 'POST', url: '/api/settings', payload: { ref: 'user', refId: b.user._id }, field: 'body.refId' },
      { method: 'POST', url: '/api/settings', payload: { ref: 'user', refId: nobody }, field: 'body.refId' },
      { method: 'POST', url: '/api/settings', payload: { ref: 'integrator', refId: ofB.integratorClient }, field: 'body.refId' },
      { method: 'POST', url: '/api/settings', payload: { ref: 'integrator', refId: nobody }, field: 'body.refId' },
      { method: 'POST', url: '/api/settings', payload: { ref: 'organization', refId: nobody }, field: null },
      ...(
        [
          ['provider', catalogOfB.provider],
          ['facility', catalogOfB.facility],
          ['appointment-type', catalogOfB.appointmentType],
        ] as const
      ).flatMap(([ref, theirs]) => [
        { method: 'POST', url: '/api/settings', payload: { ref, refId: theirs }, field: 'body.refId' },
        { method: 'POST', url: '/api/settings', payload: { ref, refId: 'not-an-id' }, field: 'body.refId' },
      ]),
      // A booking link for B's facility would be A's page said in texts about B's visits.
      {
        method: 'POST',
        url: '/api/settings',
        payload: { ref: 'facility', refId: catalogOfB.facility, settings: { bookingLink: 'https://book.clinic-a.example/' } },
        field: 'body.refId',
      },
      // A's own provider of another kind, and one scheduling deleted.
      { method: 'POST', url: '/api/settings', payload: { ref: 'facility', refId: catalogOfA.provider }, field: 'body.refId' },
      { method: 'POST', url: '/api/settings', payload: { ref: 'provider', refId: deletedProvider }, field: 'body.refId' },
      { method: 'POST', url: `/api/organizations/${org}/users/${b.user._id}/invite`, field: null },
      { method: 'POST', url: `/api/organizations/${org}/users/${nobody}/invite`, field: null },
      { method: 'PUT', url: `/api/organizations/${org}/users/${b.user._id}`, payload: { roles: ['staff'] }, field: null },
    ] as Array<{ method: 'POST' | 'PUT'; url: string; payload?: Record<string, unknown>; field: string | null }>;
  };

  it('covers every reference field of every write route', async () => {
    const document = (await service.app.inject({ url: '/openapi.json' })).json() as {
      paths: Record<
        string,
        Record<
          string,
          {
            requestBody?: {
              content: Record<string, { schema: { properties?: Record<string, { format?: string; items?: { format?: string } }> } }>;
            };
          }
        >
      >;
    };
    const referenceFields = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).flatMap(([method, operation]) =>
        Object.entries(operation.requestBody?.content['application/json']?.schema.properties ?? {})
          // Ids are UUIDs; group facilities and setting subjects are kept as strings (v1 sent other ids), so they are named.
          .filter(
            ([name, schema]) => schema.format === 'uuid' || schema.items?.format === 'uuid' || name === 'facilities' || name === 'refId',
          )
          .map(([name]) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')} body.${name}`),
      ),
    );
    const covered = new Set([
      'POST /api/groups body.users',
      'POST /api/groups body.facilities',
      'PUT /api/groups/:id body.users',
      'PUT /api/groups/:id body.facilities',
      'POST /api/settings body.refId',
      'PUT /api/users/transfer body.user',
      'PUT /api/users/transfer body.from',
      'PUT /api/users/transfer body.to',
      // Platform admins search across organizations by design; organization admins are refused (403) above.
      'POST /api/users/admin body.organization',
      // Public logins name the organization to log in to; they check credentials in it, not a caller's organization.
      'POST /api/patients/login body.organization',
      'POST /api/patients/login body.patient',
    ]);
    expect(referenceFields.length).toBeGreaterThanOrEqual(8);
    expect(referenceFields.filter((field) => !covered.has(field))).toEqual([]);
  });

  it("answers 404 naming the field for references to B's records, to no one's, or to the wrong kind, and writes nothing in A, mailing no one", async () => {
    const headers = await bearer(a.token);
    const created = await service.app.inject({
      method: 'POST',
      url: '/api/groups',
      headers,
      payload: { name: 'Clinic A desk', facilities: [catalogOfA.facility] },
    });
    const group = created.json()._id as string;
    const deletedProvider = (await schedulingCatalog(service, a.organization._id)).provider;
    const deletion = createEvent(providerDeletedV1, {
      source: '/services/scheduling',
      organization: a.organization._id,
      subject: deletedProvider,
      data: { _id: deletedProvider },
    });
    await publishSoon(service, [{ topic: providerDeletedV1.topic, key: deletedProvider, value: JSON.stringify(deletion) }]);
    const deleted = async () =>
      (await sql.query('SELECT deleted FROM scheduling_record WHERE id = $1', [deletedProvider])).rows[0]?.deleted === true;
    await waitFor(deleted, { timeoutMs: 20_000, message: 'deletion kept' });
    const beforeA = await snapshotOfA();
    const beforeB = await snapshotOfB();
    for (const attempt of referenceAttempts(group, deletedProvider)) {
      const response = await service.app.inject({
        method: attempt.method,
        url: attempt.url,
        headers,
        ...(attempt.payload ? { payload: attempt.payload } : {}),
      });
      const label = `${attempt.method} ${attempt.url} ${JSON.stringify(attempt.payload ?? {})}`;
      expect(response.statusCode, label).toBe(404);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      if (attempt.field)
        expect(
          response.json().errors.map((error: { field: string }) => error.field),
          label,
        ).toEqual([attempt.field]);
      expect(response.body).not.toContain('Bravo');
    }
    // Invitation mail goes out after the answer; give it the time it would take.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await snapshotOfA()).toEqual(beforeA);
    expect(await snapshotOfB()).toEqual(beforeB);
  });

  it('asks scheduling about ids its events have not brought yet, and answers 503 with Retry-After when it cannot, writing nothing', async () => {
    const headers = await bearer(a.token);
    const before = await snapshotOfA();
    // Scheduling is not running in this suite: an id auth never heard of cannot be checked
    // (services/embedded/src/owner-lookups.int.test.ts asks the real one).
    for (const payload of [
      { ref: 'provider', refId: randomUUID() },
      { ref: 'facility', refId: randomUUID() },
      { ref: 'appointment-type', refId: randomUUID() },
    ]) {
      const response = await service.app.inject({ method: 'POST', url: '/api/settings', headers, payload });
      expect(response.statusCode, payload.ref).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(response.json()).toMatchObject({ status: 503, type: '/problems/owner-unavailable' });
    }
    const group = await service.app.inject({
      method: 'POST',
      url: '/api/groups',
      headers,
      payload: { name: 'Later', facilities: [catalogOfA.facility, randomUUID()] },
    });
    expect(group.statusCode).toBe(503);
    expect(group.headers['retry-after']).toBe('5');
    expect(await snapshotOfA()).toEqual(before);

    // What scheduling announced is known without asking; A's own facility takes a booking link.
    for (const [ref, refId, settings] of [
      ['provider', catalogOfA.provider, {}],
      ['facility', catalogOfA.facility, { bookingLink: 'https://book.clinic-a.example/' }],
      ['appointment-type', catalogOfA.appointmentType, {}],
    ] as const) {
      const created = await service.app.inject({ method: 'POST', url: '/api/settings', headers, payload: { ref, refId, settings } });
      expect(created.statusCode, ref).toBe(200);
      expect(created.json().settings, ref).toEqual(settings);
    }
  });
});
