import { parseEvent, type EventEnvelope } from '@pep/contracts';
import { KafkaBus, type Subscription } from '@pep/bus';
import { createLogger } from '@pep/service-kit';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembership } from '../test/fixtures.js';
import { bearer, schedulingCatalog, signup, startAuth, type AuthUnderTest } from '../test/harness.js';

describe('auth service: settings', () => {
  let service: AuthUnderTest;
  let sql: pg.Client;
  let observer: KafkaBus;
  let subscription: Subscription;
  const seen: EventEnvelope[] = [];

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    service = await startAuth('settings', brokers);
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    observer = new KafkaBus({
      brokers,
      clientId: 'settings-observer',
      topicPrefix: service.topicPrefix,
      logger: createLogger({ service: 'observer', level: 'silent' }),
    });
    subscription = await observer.subscribe({
      groupId: 'test.settings-observer',
      topics: ['auth.settings'],
      handler: async (message) => {
        seen.push(parseEvent(message.value));
      },
    });
  });
  afterAll(async () => {
    await subscription?.stop();
    await observer?.close();
    await sql?.end();
    await service?.close();
  });

  /** An organization with an admin, a manager and a staff user, each with a token for it. */
  async function team() {
    const admin = await signup(service.app);
    const tokenAs = async (roles: string[]) => {
      const other = await signup(service.app);
      await addMembership(sql, admin.organization._id, other.user._id, roles);
      const switched = await service.app.inject({
        method: 'POST',
        url: `/api/organizations/${admin.organization._id}/users/${other.user._id}/switch`,
        headers: await bearer(other.token),
      });
      return { id: other.user._id, headers: await bearer(switched.json().token as string) };
    };
    return { admin, adminHeaders: await bearer(admin.token), manager: await tokenAs(['manager']), staff: await tokenAs(['staff']) };
  }

  const create = (headers: Record<string, string>, payload: Record<string, unknown>) =>
    service.app.inject({ method: 'POST', url: '/api/settings', headers, payload });
  const outboxOf = async (id: string) =>
    (await sql.query("SELECT envelope FROM outbox WHERE key = $1 AND envelope->>'type' = 'settings.changed' ORDER BY seq", [id])).rows.map(
      (row) => row.envelope.data,
    );

  it('creates organization settings with the documented keys, keeps other keys, and publishes settings.changed', async () => {
    const { admin, adminHeaders } = await team();
    const settings = {
      reminderOffsetsHours: [72, 24],
      quietHoursStart: '09:00',
      quietHoursEnd: '19:30',
      timeZone: 'America/New_York',
      allowDoubleBooking: true,
      offerProtocol: 'serial',
      maxOffersPerSlot: 3,
      offerExpiryMinutes: 30,
      frontOfficeAcceptance: true,
      helpText: 'Call us at the front desk.',
      theme: { color: 'teal' },
    };
    const response = await create(adminHeaders, { ref: 'organization', settings });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({
      ref: 'organization',
      refId: admin.organization._id,
      organization: admin.organization._id,
      settings,
      unsubscribed: [],
      unsubscribedAll: false,
      createdBy: admin.user._id,
    });
    expect(body._id).toMatch(/^[0-9a-f-]{36}$/);

    const event = await waitFor(() => seen.find((e) => e.subject === body._id), {
      timeoutMs: 30_000,
      message: 'settings.changed on the bus',
    });
    expect(event).toMatchObject({ type: 'settings.changed', organization: admin.organization._id });
    expect(event.data).toEqual({
      _id: body._id,
      organization: admin.organization._id,
      ref: 'organization',
      refId: admin.organization._id,
      settings,
      unsubscribed: [],
      unsubscribedAll: false,
      deleted: false,
    });

    const fetched = await service.app.inject({ url: `/api/settings/${body._id}`, headers: adminHeaders });
    expect(fetched.json()).toEqual(body);
    // One record per subject.
    expect((await create(adminHeaders, { ref: 'organization' })).statusCode).toBe(409);
  });

  it('refuses bad bodies with problem+json naming the fields, storing nothing', async () => {
    const { adminHeaders } = await team();
    const count = async () => (await sql.query('SELECT count(*)::int AS n FROM setting')).rows[0].n as number;
    const before = await count();
    const attempts: Array<[Record<string, unknown>, string]> = [
      [{ ref: 'organization', colour: 'red' }, 'body.colour'],
      [{ ref: 'planet', refId: 'x' }, 'body.ref'],
      [{ ref: 'organization', settings: { quietHoursStart: '25:00' } }, 'body.settings.quietHoursStart'],
      [{ ref: 'organization', settings: { reminderOffsetsHours: [-1] } }, 'body.settings.reminderOffsetsHours.0'],
      [{ ref: 'organization', settings: { timeZone: 'Mars/Olympus_Mons' } }, 'body.settings.timeZone'],
      [{ ref: 'organization', settings: { offerProtocol: 'random' } }, 'body.settings.offerProtocol'],
      [{ ref: 'organization', settings: { allowDoubleBooking: 'yes' } }, 'body.settings.allowDoubleBooking'],
      [{ ref: 'organization', settings: ['not', 'an', 'object'] }, 'body.settings'],
      [{ ref: 'organization', settings: 'text' }, 'body.settings'],
      [{ ref: 'organization', settings: { blob: 'x'.repeat(9000) } }, 'body.settings'],
      [{ ref: 'provider' }, 'body.refId'],
      [{ ref: 'user', refId: 'x', unsubscribed: ['bad key!'] }, 'body.unsubscribed.0'],
    ];
    for (const [payload, field] of attempts) {
      const response = await create(adminHeaders, payload);
      expect(response.statusCode, JSON.stringify(payload).slice(0, 80)).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json().errors.map((error: { field: string }) => error.field)).toContain(field);
    }
    const put = await service.app.inject({
      method: 'PUT',
      url: `/api/settings/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`,
      headers: adminHeaders,
      payload: { ref: 'user' },
    });
    expect(put.statusCode).toBe(400);
    expect(put.json().errors.map((error: { field: string }) => error.field)).toContain('body.ref');
    expect(await count()).toBe(before);
  });

  it('lets admins and managers write and staff only read', async () => {
    const { admin, adminHeaders, manager, staff } = await team();
    const catalog = await schedulingCatalog(service, admin.organization._id);
    const byManager = await create(manager.headers, { ref: 'facility', refId: catalog.facility, settings: { timeZone: 'Europe/Lisbon' } });
    expect(byManager.statusCode).toBe(200);
    const id = byManager.json()._id as string;
    expect((await create(staff.headers, { ref: 'provider', refId: catalog.provider })).statusCode).toBe(403);
    expect(
      (await service.app.inject({ method: 'PUT', url: `/api/settings/${id}`, headers: staff.headers, payload: { settings: {} } }))
        .statusCode,
    ).toBe(403);
    expect((await service.app.inject({ method: 'DELETE', url: `/api/settings/${id}`, headers: staff.headers })).statusCode).toBe(403);
    expect((await service.app.inject({ method: 'PUT', url: `/api/settings/${id}/unsubscribe`, headers: staff.headers })).statusCode).toBe(
      403,
    );
    expect((await service.app.inject({ url: `/api/settings/${id}`, headers: staff.headers })).statusCode).toBe(200);
    expect((await service.app.inject({ url: '/api/settings', headers: staff.headers })).json().total).toBe(1);
    expect((await service.app.inject({ url: '/api/settings' })).statusCode).toBe(401);

    await create(adminHeaders, { ref: 'appointment-type', refId: catalog.appointmentType });
    await create(adminHeaders, { ref: 'organization' });
    const page = (await service.app.inject({ url: '/api/settings/?page=2&limit=2', headers: adminHeaders })).json();
    expect(page).toMatchObject({ page: 2, limit: 2, total: 3 });
    expect(page.response).toHaveLength(1);
    const filtered = (
      await service.app.inject({ url: `/api/settings?ref=facility&refId=${catalog.facility}`, headers: adminHeaders })
    ).json();
    expect(filtered.response.map((s: { _id: string }) => s._id)).toEqual([id]);
    expect(filtered.response[0].organization).toBe(admin.organization._id);
  });

  it('accepts user settings only for users of the organization', async () => {
    const { adminHeaders, staff } = await team();
    const outsider = await signup(service.app);
    expect((await create(adminHeaders, { ref: 'user', refId: outsider.user._id })).statusCode).toBe(404);
    expect((await create(adminHeaders, { ref: 'user', refId: 'not-a-uuid' })).statusCode).toBe(404);
    expect((await create(adminHeaders, { ref: 'organization', refId: outsider.organization._id })).statusCode).toBe(404);
    expect((await create(adminHeaders, { ref: 'user', refId: staff.id })).statusCode).toBe(200);
  });

  it('toggles message keys; users may change their own subscriptions', async () => {
    const { adminHeaders, staff, manager } = await team();
    const own = (await create(adminHeaders, { ref: 'user', refId: staff.id, unsubscribed: ['appointment.reminder'] })).json();
    const others = (await create(adminHeaders, { ref: 'user', refId: manager.id })).json();
    const put = (url: string, headers = staff.headers) => service.app.inject({ method: 'PUT', url, headers });

    let response = await put(`/api/settings/${own._id}/unsubscribe/offer.created`);
    expect(response.statusCode).toBe(200);
    expect(response.json().unsubscribed).toEqual(['appointment.reminder', 'offer.created']);
    // Twice changes nothing.
    expect((await put(`/api/settings/${own._id}/unsubscribe/offer.created`)).json().unsubscribed).toEqual([
      'appointment.reminder',
      'offer.created',
    ]);
    response = await put(`/api/settings/${own._id}/subscribe/appointment.reminder`);
    expect(response.json()).toMatchObject({ unsubscribed: ['offer.created'], unsubscribedAll: false, updatedBy: staff.id });
    response = await put(`/api/settings/${own._id}/unsubscribe`);
    expect(response.json()).toMatchObject({ unsubscribed: ['offer.created'], unsubscribedAll: true });
    response = await put(`/api/settings/${own._id}/subscribe/broadcast`);
    expect(response.json()).toMatchObject({ unsubscribed: ['offer.created'], unsubscribedAll: false });
    expect((await put(`/api/settings/${own._id}/unsubscribe/${encodeURIComponent('bad key!')}`)).statusCode).toBe(400);

    expect((await put(`/api/settings/${others._id}/unsubscribe/offer.created`)).statusCode).toBe(403);
    expect((await put(`/api/settings/${others._id}/unsubscribe/offer.created`, adminHeaders)).statusCode).toBe(200);

    // One event per real change, in order: create, unsubscribe, subscribe, unsubscribe all, subscribe.
    const events = await outboxOf(own._id);
    expect(events.map((data) => [data.unsubscribed, data.unsubscribedAll])).toEqual([
      [['appointment.reminder'], false],
      [['appointment.reminder', 'offer.created'], false],
      [['offer.created'], false],
      [['offer.created'], true],
      [['offer.created'], false],
    ]);
  });

  it('loses no concurrent toggle of one setting', async () => {
    const { admin, adminHeaders } = await team();
    const catalog = await schedulingCatalog(service, admin.organization._id);
    const setting = (await create(adminHeaders, { ref: 'provider', refId: catalog.provider })).json();
    const keys = Array.from({ length: 12 }, (_, index) => `key-${index}`);
    const responses = await Promise.all(
      keys.map((key) =>
        service.app.inject({ method: 'PUT', url: `/api/settings/${setting._id}/unsubscribe/${key}`, headers: adminHeaders }),
      ),
    );
    expect(responses.map((response) => response.statusCode)).toEqual(keys.map(() => 200));
    const stored = (await service.app.inject({ url: `/api/settings/${setting._id}`, headers: adminHeaders })).json();
    expect([...stored.unsubscribed].sort()).toEqual([...keys].sort());
    const events = await outboxOf(setting._id);
    expect(events.map((data) => data.unsubscribed.length)).toEqual([0, ...keys.map((_, index) => index + 1)]);
  });

  it('replaces settings with PUT and deletes, telling read models', async () => {
    const { admin, adminHeaders } = await team();
    const catalog = await schedulingCatalog(service, admin.organization._id);
    const setting = (
      await create(adminHeaders, { ref: 'facility', refId: catalog.facility, settings: { maxOffersPerSlot: 2, custom: 1 } })
    ).json();
    const put = await service.app.inject({
      method: 'PUT',
      url: `/api/settings/${setting._id}`,
      headers: adminHeaders,
      payload: { settings: { offerExpiryMinutes: 15 } },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json().settings).toEqual({ offerExpiryMinutes: 15 });
    expect(
      (await service.app.inject({ method: 'PUT', url: `/api/settings/${setting._id}`, headers: adminHeaders, payload: {} })).statusCode,
    ).toBe(400);

    const removed = await service.app.inject({ method: 'DELETE', url: `/api/settings/${setting._id}`, headers: adminHeaders });
    expect(removed.statusCode).toBe(200);
    expect(removed.json()._id).toBe(setting._id);
    expect((await service.app.inject({ url: `/api/settings/${setting._id}`, headers: adminHeaders })).statusCode).toBe(404);
    expect((await service.app.inject({ method: 'DELETE', url: `/api/settings/${setting._id}`, headers: adminHeaders })).statusCode).toBe(
      404,
    );
    const events = await outboxOf(setting._id);
    expect(events.map((data) => [data.settings, data.deleted])).toEqual([
      [{ maxOffersPerSlot: 2, custom: 1 }, false],
      [{ offerExpiryMinutes: 15 }, false],
      [{ offerExpiryMinutes: 15 }, true],
    ]);
  });
});
