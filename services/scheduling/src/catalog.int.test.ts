import { fileURLToPath } from 'node:url';
import { assertNoSchemaDrift } from '@pep/schema-drift';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, observe, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';
import { HAND_WRITTEN_INDEXES } from './migrations.js';

describe('scheduling service: providers, facilities and appointment types', () => {
  let service: SchedulingUnderTest;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  const org = organization();

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    service = await startScheduling('catalog', brokers);
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    events = await observe(service, brokers, ['scheduling.provider', 'scheduling.facility', 'scheduling.appointment-type']);
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await service?.close();
  });

  const call = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, caller = org.admin) =>
    service.app.inject({
      method,
      url,
      headers: await as(caller),
      ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
    });
  const count = async (table: string) => (await sql.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number;
  const eventsOf = (id: string, count: number) =>
    waitFor(
      () => {
        const mine = events.seen.filter((event) => event.subject === id);
        return mine.length >= count ? mine : null;
      },
      { timeoutMs: 30_000, message: `${count} events of ${id} on the bus` },
    );

  it('has no drift between its migrations and schema.prisma, apart from the exclusion constraint', async () => {
    await assertNoSchemaDrift({
      schemaPath: fileURLToPath(new URL('../prisma/schema.prisma', import.meta.url)),
      db: service.database,
      ignoreIndexes: HAND_WRITTEN_INDEXES,
    });
  });

  it('creates, reads, changes and soft-deletes a provider, publishing each change', async () => {
    const created = await call('POST', '/api/providers', {
      firstname: 'Ada',
      lastname: 'Lovelace',
      npi: 1234567893,
      alternativeName: 'Dr. Ada',
    });
    expect(created.statusCode).toBe(200);
    const provider = created.json();
    expect(provider).toMatchObject({
      organization: org.id,
      firstname: 'Ada',
      lastname: 'Lovelace',
      name: 'Ada Lovelace',
      normalizedName: 'ada lovelace',
      npi: 1234567893,
      visible: true,
      schedulable: true,
      source: 'ui',
      deleted: 0,
      createdBy: org.admin.user,
    });
    expect((await call('GET', `/api/providers/${provider._id}`, undefined, org.provider)).json()).toEqual(provider);

    const changed = await call('PUT', `/api/providers/${provider._id}`, { lastname: 'King', alternativeName: null, visible: false });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toMatchObject({
      lastname: 'King',
      name: 'Ada King',
      alternativeName: null,
      visible: false,
      updatedBy: org.admin.user,
    });
    // The same values again change nothing and publish nothing.
    expect((await call('PUT', `/api/providers/${provider._id}`, { lastname: 'King' })).statusCode).toBe(200);

    const deleted = await call('DELETE', `/api/providers/${provider._id}`);
    expect(deleted.json()).toMatchObject({ _id: provider._id, deleted: 1 });
    expect((await call('GET', `/api/providers/${provider._id}`)).statusCode).toBe(404);
    expect((await call('PUT', `/api/providers/${provider._id}`, { lastname: 'X' })).statusCode).toBe(404);
    expect((await call('DELETE', `/api/providers/${provider._id}`)).statusCode).toBe(404);

    const published = await eventsOf(provider._id, 3);
    expect(published.map((event) => event.type)).toEqual(['provider.created', 'provider.updated', 'provider.deleted']);
    expect(published[0]).toMatchObject({
      organization: org.id,
      source: '/services/scheduling',
      data: { _id: provider._id, name: 'Ada Lovelace', alternativeName: 'Dr. Ada', visible: true },
    });
    expect(published[1]!.data).toMatchObject({
      name: 'Ada King',
      alternativeName: null,
      visible: false,
      changed: ['lastname', 'alternativeName', 'visible'],
    });
    expect(published[2]!.data).toEqual({ _id: provider._id });
    const rows = await sql.query('SELECT count(*)::int AS n FROM outbox WHERE key = $1', [provider._id]);
    expect(rows.rows[0].n).toBe(3);
  });

  it('keeps each facility in a valid IANA time zone and tells messaging about it', async () => {
    const created = await call('POST', '/api/facilities', {
      name: 'Harbor Clinic',
      timeZone: 'america/los_angeles',
      city: 'Oakland',
      phone: '+15105550100',
    });
    expect(created.statusCode).toBe(200);
    const facility = created.json();
    expect(facility).toMatchObject({ name: 'Harbor Clinic', timeZone: 'America/Los_Angeles', city: 'Oakland', visible: true, deleted: 0 });
    const moved = await call('PUT', `/api/facilities/${facility._id}`, { timeZone: 'Europe/Lisbon' });
    expect(moved.json().timeZone).toBe('Europe/Lisbon');
    const published = await eventsOf(facility._id, 2);
    expect(published[0]).toMatchObject({
      type: 'facility.created',
      data: { name: 'Harbor Clinic', timeZone: 'America/Los_Angeles', phone: '+15105550100' },
    });
    expect(published[1]).toMatchObject({ type: 'facility.updated', data: { timeZone: 'Europe/Lisbon', changed: ['timeZone'] } });
  });

  it('keeps appointment types with their duration in minutes and the product’s 1/0 visibility', async () => {
    const created = await call('POST', '/api/appointmentTypes', { name: 'New patient visit', duration: '45', visible: 0 });
    expect(created.statusCode).toBe(200);
    const type = created.json();
    expect(type).toMatchObject({ name: 'New patient visit', duration: 45, visible: 0 });
    expect((await call('PUT', `/api/appointmentTypes/${type._id}`, { duration: 60, visible: true })).json()).toMatchObject({
      duration: 60,
      visible: 1,
    });
    const published = await eventsOf(type._id, 2);
    expect(published[0]).toMatchObject({ type: 'appointment-type.created', data: { duration: 45, visible: false } });
    expect(published[1]).toMatchObject({
      type: 'appointment-type.updated',
      data: { duration: 60, visible: true, changed: ['duration', 'visible'] },
    });
  });

  it('lists visible records, hidden ones, all of them in crudList, and searches names', async () => {
    const other = organization();
    const post = (url: string, payload: Record<string, unknown>) => call('POST', url, payload, other.staff);
    await post('/api/providers', { firstname: 'Marie', lastname: 'Curie' });
    await post('/api/providers', { firstname: 'Pierre', lastname: 'Curie', visible: false });
    await post('/api/providers', { firstname: 'Rosalind', lastname: 'Franklin' });
    await post('/api/facilities', { name: 'North Campus', timeZone: 'UTC' });
    await post('/api/facilities', { name: 'Old Annex', timeZone: 'UTC', visible: false });
    await post('/api/appointmentTypes', { name: 'Follow-up', duration: 15 });
    await post('/api/appointmentTypes', { name: 'Legacy follow-up', duration: 15, visible: 0 });
    const get = async (url: string) => {
      const response = await call('GET', url, undefined, other.integrator);
      expect(response.statusCode, url).toBe(200);
      return response.json() as { response: Array<{ name: string }>; page: number; limit: number; total: number };
    };
    const names = async (url: string) => (await get(url)).response.map((record) => record.name);

    expect(await names('/api/providers')).toEqual(['Marie Curie', 'Rosalind Franklin']);
    expect(await names('/api/providers/')).toEqual(['Marie Curie', 'Rosalind Franklin']);
    expect(await names('/api/providers/hidden')).toEqual(['Pierre Curie']);
    expect(await names('/api/providers/crudList')).toEqual(['Marie Curie', 'Pierre Curie', 'Rosalind Franklin']);
    expect(await names('/api/providers/search?value=curie')).toEqual(['Marie Curie', 'Pierre Curie']);
    expect(await names('/api/providers/search?value=MARIE%20cur')).toEqual(['Marie Curie']);
    // Wildcards are searched for literally.
    expect(await names('/api/providers/search?value=%25')).toEqual([]);
    expect(await names('/api/providers/search?value=_')).toEqual([]);
    expect(await get('/api/providers/crudList?page=2&limit=2')).toMatchObject({
      page: 2,
      limit: 2,
      total: 3,
      response: [{ name: 'Rosalind Franklin' }],
    });

    expect(await names('/api/facilities')).toEqual(['North Campus']);
    expect(await names('/api/facilities/hidden')).toEqual(['Old Annex']);
    expect(await names('/api/facilities/search?value=annex')).toEqual(['Old Annex']);
    expect(await names('/api/appointmentTypes')).toEqual(['Follow-up']);
    expect(await names('/api/appointmentTypes/hidden')).toEqual(['Legacy follow-up']);
    expect(await names('/api/appointmentTypes/crudList')).toEqual(['Follow-up', 'Legacy follow-up']);
    expect(await names('/api/appointmentTypes/search?value=follow')).toEqual(['Follow-up', 'Legacy follow-up']);
    // Facilities have no crudList in v1.
    expect((await call('GET', '/api/facilities/crudList', undefined, other.staff)).statusCode).toBe(400);
  });

  it('refuses bad bodies with problem+json naming the fields, storing nothing', async () => {
    const before = {
      providers: await count('provider'),
      facilities: await count('facility'),
      types: await count('appointment_type'),
      outbox: await count('outbox'),
    };
    const attempts: Array<[string, Record<string, unknown>, string]> = [
      ['/api/providers', { lastname: 'Nofirst' }, 'body.firstname'],
      ['/api/providers', { firstname: ' ', lastname: 'Blank' }, 'body.firstname'],
      ['/api/providers', { firstname: 'A', lastname: 'B', npi: 123 }, 'body.npi'],
      ['/api/providers', { firstname: 'A', lastname: 'B', colour: 'red' }, 'body.colour'],
      ['/api/providers', { firstname: 'A', lastname: 'B', source: 'fax' }, 'body.source'],
      ['/api/providers', { firstname: 'A', lastname: 'B', visible: 'yes' }, 'body.visible'],
      ['/api/facilities', { name: 'No zone' }, 'body.timeZone'],
      ['/api/facilities', { name: 'Mars base', timeZone: 'Mars/Olympus_Mons' }, 'body.timeZone'],
      ['/api/facilities', { timeZone: 'UTC' }, 'body.name'],
      ['/api/appointmentTypes', { name: 'Zero', duration: 0 }, 'body.duration'],
      ['/api/appointmentTypes', { name: 'Fraction', duration: 12.5 }, 'body.duration'],
      ['/api/appointmentTypes', { name: 'Two days', duration: 2880 }, 'body.duration'],
      ['/api/appointmentTypes', { name: 'Words', duration: 'half an hour' }, 'body.duration'],
      ['/api/appointmentTypes', { name: 'Visible two', duration: 10, visible: 2 }, 'body.visible'],
    ];
    for (const [url, payload, field] of attempts) {
      const response = await call('POST', url, payload);
      expect(response.statusCode, `${url} ${JSON.stringify(payload)}`).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json().errors.map((error: { field: string }) => error.field)).toContain(field);
    }
    const provider = (await call('POST', '/api/providers', { firstname: 'Kept', lastname: 'Asis' })).json();
    for (const [payload, field] of [
      [{}, 'body'],
      [{ firstname: null }, 'body.firstname'],
      [{ organization: 'elsewhere' }, 'body.organization'],
    ] as const) {
      const response = await call('PUT', `/api/providers/${provider._id}`, payload);
      expect(response.statusCode).toBe(400);
      expect(response.json().errors.map((error: { field: string }) => error.field)).toContain(field);
    }
    expect((await call('GET', '/api/providers/not-a-uuid')).statusCode).toBe(400);
    expect((await call('GET', '/api/providers/search')).statusCode).toBe(400);
    expect((await call('GET', `/api/providers/${provider._id}`)).json()).toMatchObject({ firstname: 'Kept', lastname: 'Asis' });
    expect({
      providers: await count('provider'),
      facilities: await count('facility'),
      types: await count('appointment_type'),
      outbox: await count('outbox'),
    }).toEqual({
      ...before,
      providers: before.providers + 1,
      outbox: before.outbox + 1,
    });
  });

  it('lets admins, managers and staff write, providers and integrators only read', async () => {
    const other = organization();
    const manager = { ...other.admin, roles: ['manager'] };
    expect((await call('POST', '/api/facilities', { name: 'By manager', timeZone: 'UTC' }, manager)).statusCode).toBe(200);
    const byStaff = await call('POST', '/api/providers', { firstname: 'By', lastname: 'Staff' }, other.staff);
    expect(byStaff.statusCode).toBe(200);
    const id = byStaff.json()._id;
    for (const reader of [other.provider, other.integrator]) {
      expect((await call('POST', '/api/providers', { firstname: 'No', lastname: 'Way' }, reader)).statusCode).toBe(403);
      expect((await call('PUT', `/api/providers/${id}`, { lastname: 'Nope' }, reader)).statusCode).toBe(403);
      expect((await call('DELETE', `/api/providers/${id}`, undefined, reader)).statusCode).toBe(403);
      expect((await call('GET', `/api/providers/${id}`, undefined, reader)).statusCode).toBe(200);
    }
    expect((await call('GET', '/api/providers', undefined, other.patient)).statusCode).toBe(403);
    expect((await service.app.inject({ url: '/api/providers' })).statusCode).toBe(401);
  });
});
