import { randomUUID } from 'node:crypto';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog } from '../test/fixtures.js';
import { as, knownPatient, observe, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';
import { NOT_BUILT } from './not-built.routes.js';

describe('scheduling service: appointments', () => {
  let service: SchedulingUnderTest;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  const org = organization();
  let records: Awaited<ReturnType<typeof catalog>>;

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    service = await startScheduling('appointments', brokers);
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    events = await observe(service, brokers, ['scheduling.appointment']);
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
  const book = (date: string, overrides: Record<string, unknown> = {}, caller = org.staff) =>
    call('POST', '/api/appointments', booking(records, date, overrides), caller);
  const count = async (table: string) => (await sql.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number;
  const eventsOf = (id: string, count: number) =>
    waitFor(
      () => {
        const mine = events.seen.filter((event) => event.subject === id);
        return mine.length >= count ? mine : null;
      },
      { timeoutMs: 30_000, message: `${count} events of ${id} on the bus` },
    );

  it('books, reads, moves, confirms and cancels an appointment, publishing each change with the facility’s time zone', async () => {
    const created = await book('2026-03-02T15:00:00Z', { source: 'integrator' });
    expect(created.statusCode).toBe(200);
    const appointment = created.json();
    expect(appointment).toMatchObject({
      organization: org.id,
      ...records,
      date: '2026-03-02T15:00:00.000Z',
      duration: 30,
      source: 'integrator',
      status: 'unconfirmed',
      deleted: 0,
      createdBy: org.staff.user,
    });
    expect((await call('GET', `/api/appointments/${appointment._id}`, undefined, org.provider)).json()).toEqual(appointment);

    const moved = await call('PUT', `/api/appointments/${appointment._id}`, { date: '2026-03-02T16:00:00+00:00', duration: 45 });
    expect(moved.json()).toMatchObject({ date: '2026-03-02T16:00:00.000Z', duration: 45, status: 'unconfirmed' });
    const end = await sql.query('SELECT end_at FROM appointment WHERE id = $1', [appointment._id]);
    expect(end.rows[0].end_at.toISOString()).toBe('2026-03-02T16:45:00.000Z');
    // The same values again change nothing.
    expect((await call('PUT', `/api/appointments/${appointment._id}`, { duration: 45 })).statusCode).toBe(200);

    expect((await call('PUT', `/api/appointments/${appointment._id}/confirm`)).json().status).toBe('confirmed');
    // Idempotent: a second confirm answers 200 and publishes nothing.
    expect((await call('PUT', `/api/appointments/${appointment._id}/confirm`, {})).json().status).toBe('confirmed');
    expect((await call('PUT', `/api/appointments/${appointment._id}/cancel`)).json().status).toBe('cancelled');
    expect((await call('PUT', `/api/appointments/${appointment._id}/cancel`)).json().status).toBe('cancelled');
    const refused = await call('PUT', `/api/appointments/${appointment._id}/confirm`);
    expect(refused.statusCode).toBe(409);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((await call('PUT', `/api/appointments/${appointment._id}`, { duration: 30 })).statusCode).toBe(409);

    const published = await eventsOf(appointment._id, 4);
    expect(published.map((event) => event.type)).toEqual([
      'appointment.created',
      'appointment.rescheduled',
      'appointment.confirmed',
      'appointment.cancelled',
    ]);
    expect(published[0]).toMatchObject({
      organization: org.id,
      data: {
        _id: appointment._id,
        ...records,
        date: '2026-03-02T15:00:00.000Z',
        duration: 30,
        status: 'unconfirmed',
        source: 'integrator',
        timeZone: 'America/New_York',
      },
    });
    expect(published[1]!.data).toMatchObject({
      date: '2026-03-02T16:00:00.000Z',
      duration: 45,
      changed: ['date', 'duration'],
      previous: {
        date: '2026-03-02T15:00:00.000Z',
        duration: 30,
        provider: records.provider,
        facility: records.facility,
        timeZone: 'America/New_York',
      },
    });
    expect(published[3]!.data).toMatchObject({ status: 'cancelled', timeZone: 'America/New_York' });
    expect((await sql.query('SELECT count(*)::int AS n FROM outbox WHERE key = $1', [appointment._id])).rows[0].n).toBe(4);
  });

  it('takes the type’s duration by default, and publishes a type change as appointment.updated', async () => {
    const otherType = (await call('POST', '/api/appointmentTypes', { name: 'Long visit', duration: 90 }, org.admin)).json();
    const appointment = (await book('2026-03-03T09:00:00Z')).json();
    expect(appointment.duration).toBe(30);
    const retyped = await call('PUT', `/api/appointments/${appointment._id}`, { type: otherType._id });
    expect(retyped.json()).toMatchObject({ type: otherType._id, duration: 30 });
    const published = await eventsOf(appointment._id, 2);
    expect(published[1]).toMatchObject({ type: 'appointment.updated', data: { type: otherType._id, changed: ['type'] } });
  });

  it('refuses a second appointment of the provider at an overlapping time, and frees the slot on cancel and delete', async () => {
    const first = (await book('2026-04-01T10:00:00Z')).json();
    const overlapping = await book('2026-04-01T10:15:00Z', { patient: await knownPatient(service, org.id) });
    expect(overlapping.statusCode).toBe(409);
    expect(overlapping.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(overlapping.json()).toMatchObject({
      status: 409,
      type: '/problems/slot-taken',
      detail: 'The provider already has an appointment at that time.',
    });
    // Back to back is not an overlap.
    const next = await book('2026-04-01T10:30:00Z');
    expect(next.statusCode).toBe(200);
    // Moving onto a busy slot is refused too, and changes nothing.
    const move = await call('PUT', `/api/appointments/${next.json()._id}`, { date: '2026-04-01T10:20:00Z' });
    expect(move.statusCode).toBe(409);
    expect((await call('GET', `/api/appointments/${next.json()._id}`)).json().date).toBe('2026-04-01T10:30:00.000Z');
    // Another provider is free at that time.
    const colleague = (await call('POST', '/api/providers', { firstname: 'Other', lastname: 'Doctor' }, org.admin)).json();
    expect((await book('2026-04-01T10:15:00Z', { provider: colleague._id })).statusCode).toBe(200);

    await call('PUT', `/api/appointments/${first._id}/cancel`);
    const rebooked = await book('2026-04-01T10:00:00Z');
    expect(rebooked.statusCode).toBe(200);
    await call('DELETE', `/api/appointments/${rebooked.json()._id}`);
    expect((await call('GET', `/api/appointments/${rebooked.json()._id}`)).statusCode).toBe(404);
    expect((await book('2026-04-01T10:00:00Z')).statusCode).toBe(200);
    const deletedEvent = await eventsOf(rebooked.json()._id, 2);
    expect(deletedEvent[1]).toMatchObject({ type: 'appointment.deleted' });
  });

  it('lists by date range, provider, facility, status and patient; counts by status; lists a patient’s appointments', async () => {
    const other = organization();
    const headers = await as(other.admin);
    const mine = await catalog(service.app, headers);
    const patient = await knownPatient(service, other.id);
    const at = async (date: string, overrides: Record<string, unknown> = {}) => {
      const response = await service.app.inject({
        method: 'POST',
        url: '/api/appointments',
        headers,
        payload: booking(mine, date, overrides),
      });
      expect(response.statusCode, response.body).toBe(200);
      return response.json()._id as string;
    };
    const january = await at('2026-01-15T10:00:00Z', { patient });
    const february = await at('2026-02-01T00:00:00Z');
    const march = await at('2026-03-10T10:00:00Z', { patient });
    await service.app.inject({ method: 'PUT', url: `/api/appointments/${march}/confirm`, headers });
    const secondProvider = (
      await service.app.inject({ method: 'POST', url: '/api/providers', headers, payload: { firstname: 'Second', lastname: 'Provider' } })
    ).json()._id;
    const alsoMarch = await at('2026-03-10T10:00:00Z', { provider: secondProvider, status: 'confirmed' });
    const cancelled = await at('2026-03-20T10:00:00Z');
    await service.app.inject({ method: 'PUT', url: `/api/appointments/${cancelled}/cancel`, headers });

    const ids = async (query: string, url = '/api/appointments') => {
      const response = await service.app.inject({ url: `${url}${query}`, headers });
      expect(response.statusCode, `${url}${query} ${response.body}`).toBe(200);
      return (response.json().response as Array<{ _id: string }>).map((appointment) => appointment._id);
    };
    const sameTime = [march, alsoMarch].sort();
    expect(await ids('')).toEqual([january, february, ...sameTime, cancelled]);
    expect(await ids('?date=>2026-01-01T00:00:00Z&date=<2026-02-01T00:00:00Z')).toEqual([january]);
    expect(await ids('?date=>=2026-01-01T00:00:00Z&date=<=2026-02-01T00:00:00Z')).toEqual([january, february]);
    expect(await ids('?date=%3E2026-02-01T00:00:00Z')).toHaveLength(3);
    expect(await ids('?date=>2026-02-28T19:00:00-05:00')).toHaveLength(3);
    expect(await ids('?date=>2026-03-01T00:00:00+00:00')).toHaveLength(3);
    expect(await ids(`?provider=${secondProvider}`)).toEqual([alsoMarch]);
    expect(await ids(`?facility=${mine.facility}&status=confirmed`)).toEqual(sameTime);
    expect(await ids('?status=cancelled')).toEqual([cancelled]);
    expect(await ids(`?patient=${patient}`)).toEqual([january, march]);
    expect(await ids('', `/api/appointments/getByPatientId/${patient}`)).toEqual([january, march]);
    expect(await ids('?date=>2026-02-01T00:00:00Z', `/api/appointments/getByPatientId/${patient}`)).toEqual([march]);
    expect(await ids('', `/api/appointments/getByPatientId/${await knownPatient(service, other.id)}`)).toEqual([]);
    expect(await ids('?limit=2&page=2', '/api/appointments/crudList')).toHaveLength(2);
    const page = (await service.app.inject({ url: '/api/appointments?limit=2', headers })).json();
    expect(page).toMatchObject({ page: 1, limit: 2, total: 5 });

    const summary = async (query: string) => (await service.app.inject({ url: `/api/appointments/summary${query}`, headers })).json();
    expect(await summary('')).toEqual({ total: 5, unconfirmed: 2, confirmed: 2, cancelled: 1 });
    expect(await summary('?date=>=2026-03-01T00:00:00Z&date=<2026-04-01T00:00:00Z')).toEqual({
      total: 3,
      unconfirmed: 0,
      confirmed: 2,
      cancelled: 1,
    });
    expect(await summary(`?provider=${secondProvider}`)).toEqual({ total: 1, unconfirmed: 0, confirmed: 1, cancelled: 0 });

    for (const bad of [
      '?date=2026-01-01T00:00:00Z',
      '?date=>yesterday',
      '?date=!2026-01-01T00:00:00Z',
      '?status=maybe',
      '?provider=nope',
    ]) {
      const response = await service.app.inject({ url: `/api/appointments${bad}`, headers });
      expect(response.statusCode, bad).toBe(400);
      expect(response.json().errors[0].field).toMatch(/^querystring\./);
    }
  });

  it('refuses bad bookings with problem+json naming the fields, storing nothing', async () => {
    const other = organization();
    const theirs = await catalog(service.app, await as(other.admin));
    const before = { appointments: await count('appointment'), outbox: await count('outbox') };
    const attempts: Array<[Record<string, unknown>, string[]]> = [
      [{ ...booking(records, '2026-05-01T10:00:00Z'), patient: undefined }, ['body.patient']],
      [booking(records, '2026-05-01 10:00'), ['body.date']],
      [booking(records, '2026-05-01T10:00:00'), ['body.date']],
      [booking(records, '2026-05-01T10:00:00Z', { duration: 0 }), ['body.duration']],
      [booking(records, '2026-05-01T10:00:00Z', { source: 'fax' }), ['body.source']],
      [booking(records, '2026-05-01T10:00:00Z', { status: 'cancelled' }), ['body.status']],
      [booking(records, '2026-05-01T10:00:00Z', { organization: other.id }), ['body.organization']],
      [booking(records, '2026-05-01T10:00:00Z', { provider: 'dr-who' }), ['body.provider']],
      // Records of another organization, or none at all, are named field by field.
      [booking({ ...theirs, patient: records.patient }, '2026-05-01T10:00:00Z'), ['body.provider', 'body.facility', 'body.type']],
      [booking(records, '2026-05-01T10:00:00Z', { facility: randomUUID() }), ['body.facility']],
    ];
    for (const [payload, fields] of attempts) {
      const response = await call('POST', '/api/appointments', payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      const named = response.json().errors.map((error: { field: string }) => error.field);
      for (const field of fields) expect(named, JSON.stringify(payload)).toContain(field);
    }
    const deletedType = (await call('POST', '/api/appointmentTypes', { name: 'Retired', duration: 20 }, org.admin)).json();
    await call('DELETE', `/api/appointmentTypes/${deletedType._id}`, undefined, org.admin);
    expect((await book('2026-05-01T10:00:00Z', { type: deletedType._id })).json().errors).toEqual([
      { field: 'body.type', message: 'no such appointment type' },
    ]);

    const kept = (await book('2026-05-02T10:00:00Z')).json();
    for (const [payload, field] of [
      [{}, 'body'],
      [{ status: 'confirmed' }, 'body.status'],
      [{ patient: randomUUID() }, 'body.patient'],
      [{ provider: theirs.provider }, 'body.provider'],
    ] as const) {
      const response = await call('PUT', `/api/appointments/${kept._id}`, payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().errors.map((error: { field: string }) => error.field)).toContain(field);
    }
    expect((await call('PUT', `/api/appointments/${kept._id}/confirm`, { status: 'confirmed' })).statusCode).toBe(400);
    expect((await call('GET', `/api/appointments/${kept._id}`)).json()).toEqual(kept);
    expect({ appointments: await count('appointment'), outbox: await count('outbox') }).toEqual({
      appointments: before.appointments + 1,
      outbox: before.outbox + 3,
    });
  });

  it('lets staff book and providers and integrators only read', async () => {
    const appointment = (await book('2026-06-01T10:00:00Z')).json();
    for (const reader of [org.provider, org.integrator]) {
      expect((await book('2026-06-02T10:00:00Z', {}, reader)).statusCode).toBe(403);
      expect((await call('PUT', `/api/appointments/${appointment._id}/confirm`, undefined, reader)).statusCode).toBe(403);
      expect((await call('PUT', `/api/appointments/${appointment._id}/cancel`, undefined, reader)).statusCode).toBe(403);
      expect((await call('DELETE', `/api/appointments/${appointment._id}`, undefined, reader)).statusCode).toBe(403);
      expect((await call('GET', `/api/appointments/${appointment._id}`, undefined, reader)).statusCode).toBe(200);
      expect((await call('GET', '/api/appointments/summary', undefined, reader)).statusCode).toBe(200);
    }
    expect((await call('GET', '/api/appointments', undefined, org.patient)).statusCode).toBe(403);
    expect((await service.app.inject({ url: '/api/appointments' })).statusCode).toBe(401);
  });

  it('answers 501 problem+json for every v1 endpoint it does not serve yet', async () => {
    const headers = await as(org.admin);
    for (const [method, url] of NOT_BUILT) {
      const path = url.replace(/:\w+/g, randomUUID());
      const response = await service.app.inject({ method, url: path, headers });
      expect(response.statusCode, `${method} ${path}`).toBe(501);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect((await service.app.inject({ url: '/api/recalls/', headers })).statusCode).toBe(501);
  });
});
