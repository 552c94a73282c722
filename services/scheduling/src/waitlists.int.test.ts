import { randomUUID } from 'node:crypto';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog, create } from '../test/fixtures.js';
import { as, knownPatient, observe, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';

describe('scheduling service: waitlists', () => {
  let service: SchedulingUnderTest;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  const org = organization();
  let records: Awaited<ReturnType<typeof catalog>>;
  let headers: Record<string, string>;

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    service = await startScheduling('waitlists', brokers);
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    events = await observe(service, brokers, ['scheduling.waitlist']);
    headers = await as(org.staff);
    records = await catalog(service.app, await as(org.admin));
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await service?.close();
  });

  const call = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, caller = org.staff) =>
    service.app.inject({
      method,
      url,
      headers: await as(caller),
      ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
    });
  const entry = async (body: Record<string, unknown>) =>
    create(service.app, headers, '/api/waitlists', { patient: await knownPatient(service, org.id), ...body });

  it('adds, reads, changes and deletes entries, publishing waitlist.entry-changed without the notes', async () => {
    const created = await entry({
      provider: records.provider,
      facility: records.facility,
      appointmentType: records.type,
      notes: 'mornings only',
    });
    expect(created).toMatchObject({
      organization: org.id,
      provider: records.provider,
      facilities: [],
      status: 'waiting',
      offer: null,
      deleted: 0,
      notes: 'mornings only',
    });
    expect((await call('GET', `/api/waitlists/${created._id}`, undefined, org.provider)).json()).toEqual(created);
    const changed = await call('PUT', `/api/waitlists/${created._id}`, { provider: null, notes: 'any time' });
    expect(changed.json()).toMatchObject({ provider: null, notes: 'any time' });
    expect((await call('PUT', `/api/waitlists/${created._id}`, { facilities: [randomUUID()] })).statusCode).toBe(400);
    expect((await call('POST', '/api/waitlists', { patient: randomUUID(), status: 'accepted' })).statusCode).toBe(400);
    expect((await call('POST', '/api/waitlists', { patient: randomUUID() }, org.provider)).statusCode).toBe(403);
    const removed = await call('DELETE', `/api/waitlists/${created._id}`);
    expect(removed.json().deleted).toBe(1);
    expect((await call('GET', `/api/waitlists/${created._id}`)).statusCode).toBe(404);
    const seen = await waitFor(
      () => {
        const mine = events.seen.filter((event) => event.subject === created._id);
        return mine.length >= 3 ? mine : null;
      },
      { timeoutMs: 30_000, message: 'waitlist events' },
    );
    expect(seen.map((event) => (event.data as { changed: string[] }).changed)).toEqual([['created'], ['provider', 'notes'], ['deleted']]);
    expect(JSON.stringify(seen)).not.toContain('mornings');
  });

  it('lists, filters, counts and searches', async () => {
    const other = organization();
    const mine = await catalog(service.app, await as(other.admin));
    const otherHeaders = await as(other.staff);
    const add = async (body: Record<string, unknown>) =>
      create(service.app, otherHeaders, '/api/waitlists', { patient: await knownPatient(service, other.id), ...body });
    const a = await add({ provider: mine.provider, notes: 'prefers afternoons' });
    const b = await add({ facilities: [mine.facility] });
    await add({ appointmentType: mine.type });
    await service.app.inject({
      method: 'POST',
      url: '/api/waitlists/bulk/action',
      headers: otherHeaders,
      payload: { action: 'deactivate', ids: [b._id] },
    });
    const get = async (url: string) => (await service.app.inject({ url, headers: otherHeaders })).json();
    expect((await get('/api/waitlists')).total).toBe(3);
    expect((await get('/api/waitlists?status=pending')).response.map((e: { _id: string }) => e._id)).toEqual([b._id]);
    expect((await get(`/api/waitlists/filter?facility=${mine.facility}&createdAt=>2020-01-01T00:00:00Z`)).total).toBe(1);
    expect(await get(`/api/waitlists/count?provider=${mine.provider}`)).toEqual({ count: 1 });
    const counted = await service.app.inject({
      method: 'POST',
      url: '/api/waitlists/find/count',
      headers: otherHeaders,
      payload: { statuses: ['waiting', 'pending'] },
    });
    expect(counted.json()).toEqual({ count: 3 });
    expect((await get('/api/waitlists/search?value=afternoons')).response.map((e: { _id: string }) => e._id)).toEqual([a._id]);
    expect((await get('/api/waitlists/search?value=hopper')).response.map((e: { _id: string }) => e._id)).toEqual([a._id]);
    expect((await get(`/api/providers/${mine.provider}/waitlists`)).response.map((e: { _id: string }) => e._id)).toEqual([a._id]);
    expect((await service.app.inject({ url: `/api/providers/${randomUUID()}/waitlists`, headers: otherHeaders })).statusCode).toBe(404);
  });

  it('ranks candidates for a slot by match quality, then position, then age, and explains each', async () => {
    const other = organization();
    const mine = await catalog(service.app, await as(other.admin));
    const otherFacility = await create(service.app, await as(other.admin), '/api/facilities', { name: 'Elsewhere', timeZone: 'UTC' });
    const otherHeaders = await as(other.staff);
    const add = async (body: Record<string, unknown>) =>
      create(service.app, otherHeaders, '/api/waitlists', { patient: await knownPatient(service, other.id), ...body });
    const anything = await add({});
    const sameType = await add({ appointmentType: mine.type });
    const exact = await add({ provider: mine.provider, facilities: [otherFacility._id, mine.facility], appointmentType: mine.type });
    const sameProvider = await add({ provider: mine.provider });
    const anythingLater = await add({});
    await add({ facility: otherFacility._id });
    await add({ provider: mine.provider, appointmentType: randomUUID() }).catch(() => undefined);
    const busy = await add({});
    // A patient with an appointment at that time is not offered it.
    await service.app.inject({
      method: 'POST',
      url: '/api/appointments',
      headers: otherHeaders,
      payload: {
        ...mine,
        patient: busy.patient,
        provider: (await create(service.app, otherHeaders, '/api/providers', { firstname: 'O', lastname: 'Other' }))._id,
        date: '2026-06-01T10:15:00Z',
      },
    });
    const answer = await service.app.inject({
      method: 'POST',
      url: '/api/waitlists/candidates',
      headers: otherHeaders,
      payload: { provider: mine.provider, facility: mine.facility, appointmentType: mine.type, date: '2026-06-01T10:00:00Z' },
    });
    expect(answer.statusCode).toBe(200);
    const body = answer.json();
    expect(body.response.map((c: { waitlist: { _id: string } }) => c.waitlist._id)).toEqual([
      exact._id,
      sameProvider._id,
      sameType._id,
      anything._id,
      anythingLater._id,
    ]);
    expect(body.response.map((c: { score: number }) => c.score)).toEqual([7, 4, 1, 0, 0]);
    expect(body.response[0]).toMatchObject({ rank: 1, match: { provider: 'same', facility: 'listed', appointmentType: 'same' } });
    expect(body.response[3].reasons.join(' ')).toContain('waitlist position');
    expect(
      (
        await service.app.inject({
          method: 'POST',
          url: '/api/waitlists/candidates',
          headers: otherHeaders,
          payload: { provider: randomUUID(), facility: mine.facility, appointmentType: mine.type, date: '2026-06-01T10:00:00Z' },
        })
      ).statusCode,
    ).toBe(400);
  });

  it("moves an entry within a provider's waitlist and acts on many entries at once, all or nothing", async () => {
    const other = organization();
    const mine = await catalog(service.app, await as(other.admin));
    const otherHeaders = await as(other.staff);
    const add = async (body: Record<string, unknown>) =>
      create(service.app, otherHeaders, '/api/waitlists', { patient: await knownPatient(service, other.id), ...body });
    const first = await add({ provider: mine.provider });
    const between = await add({});
    const second = await add({ provider: mine.provider });
    const third = await add({ provider: mine.provider });
    const moved = await service.app.inject({
      method: 'POST',
      url: `/api/waitlists/move/update-position/${mine.provider}/${third._id}/${first._id}`,
      headers: otherHeaders,
    });
    expect(moved.statusCode).toBe(200);
    expect(moved.json().map((e: { _id: string }) => e._id)).toEqual([third._id, first._id, second._id]);
    const list = (await service.app.inject({ url: '/api/waitlists', headers: otherHeaders }))
      .json()
      .response.map((e: { _id: string }) => e._id);
    expect(list).toEqual([third._id, between._id, first._id, second._id]);
    expect(
      (
        await service.app.inject({
          method: 'POST',
          url: `/api/waitlists/move/update-position/${mine.provider}/${between._id}/${first._id}`,
          headers: otherHeaders,
        })
      ).statusCode,
    ).toBe(404);

    const foreign = await entry({});
    const refused = await service.app.inject({
      method: 'POST',
      url: '/api/waitlists/bulk/action',
      headers: otherHeaders,
      payload: { action: 'remove', ids: [first._id, foreign._id] },
    });
    expect(refused.statusCode).toBe(404);
    expect(
      (await sql.query('SELECT count(*)::int AS n FROM waitlist WHERE deleted AND id = ANY($1::uuid[])', [[first._id, foreign._id]]))
        .rows[0].n,
    ).toBe(0);
    const deactivated = await service.app.inject({
      method: 'POST',
      url: '/api/waitlists/bulk/action',
      headers: otherHeaders,
      payload: { action: 'deactivate', ids: [first._id, second._id] },
    });
    expect(deactivated.json().response.map((e: { status: string }) => e.status)).toEqual(['pending', 'pending']);
    const activated = await service.app.inject({
      method: 'POST',
      url: '/api/waitlists/bulk/action',
      headers: otherHeaders,
      payload: { action: 'activate', ids: [first._id] },
    });
    expect(activated.json()).toMatchObject({ total: 1, response: [{ status: 'waiting' }] });
    const removed = await service.app.inject({
      method: 'POST',
      url: '/api/waitlists/bulk/action',
      headers: otherHeaders,
      payload: { action: 'remove', ids: [first._id, second._id] },
    });
    expect(removed.json().response.map((e: { deleted: number }) => e.deleted)).toEqual([1, 1]);
    expect((await service.app.inject({ url: '/api/waitlists/count', headers: otherHeaders })).json()).toEqual({ count: 2 });
  });
});
