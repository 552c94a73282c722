import { randomUUID } from 'node:crypto';
import { kafkaBrokers } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog } from '../test/fixtures.js';
import { as, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';
import { NOT_BUILT } from './not-built.routes.js';

describe('scheduling service: one organization never reaches another’s records', () => {
  let service: SchedulingUnderTest;
  let sql: pg.Client;
  const a = organization();
  const b = organization();
  let ofA: Awaited<ReturnType<typeof catalog>> & { appointment: string };
  let ofB: Awaited<ReturnType<typeof catalog>> & { appointment: string; patient: string; waitlist: string; queued: string; offer: string; availability: string };

  beforeAll(async () => {
    service = await startScheduling('tenancy', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    const book = async (headers: Record<string, string>, records: Awaited<ReturnType<typeof catalog>>) =>
      (await service.app.inject({ method: 'POST', url: '/api/appointments', headers, payload: booking(records, '2026-09-01T10:00:00Z') })).json()._id as string;
    const asA = await as(a.admin);
    const asB = await as(b.admin);
    const recordsOfA = await catalog(service.app, asA);
    const recordsOfB = await catalog(service.app, asB);
    await service.app.inject({ method: 'POST', url: '/api/providers', headers: asB, payload: { firstname: 'Bella', lastname: 'Bravo' } });
    ofA = { ...recordsOfA, appointment: await book(asA, recordsOfA) };
    const entryOfB = async () => (await service.app.inject({ method: 'POST', url: '/api/waitlists', headers: asB, payload: { patient: randomUUID(), provider: recordsOfB.provider } })).json()._id as string;
    const waitlist = await entryOfB();
    const queued = await entryOfB();
    // A serial offer: the first entry is offered, the second queued, so every answer route has something to change.
    const offer = await service.app.inject({
      method: 'POST',
      url: '/api/offers',
      headers: asB,
      payload: { provider: recordsOfB.provider, facility: recordsOfB.facility, appointmentType: recordsOfB.type, date: '2099-09-01T10:00:00Z', protocol: 'serial', waitlists: [waitlist, queued] },
    });
    const availability = await service.app.inject({
      method: 'POST',
      url: '/api/availabilities',
      headers: asB,
      payload: { provider: recordsOfB.provider, facility: recordsOfB.facility, appointmentType: recordsOfB.type, date: '2099-09-03T10:00:00Z' },
    });
    ofB = {
      ...recordsOfB,
      appointment: await book(asB, recordsOfB),
      patient: booking(recordsOfB, '').patient,
      waitlist,
      queued,
      offer: offer.json()._id as string,
      availability: availability.json()._id as string,
    };
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  /** Every row that belongs to organization B. */
  const snapshotOfB = async () => {
    const query = async (table: string) => (await sql.query(`SELECT * FROM ${table} WHERE organization = $1 ORDER BY id`, [b.id])).rows;
    return {
      providers: await query('provider'),
      facilities: await query('facility'),
      types: await query('appointment_type'),
      appointments: await query('appointment'),
      waitlists: await query('waitlist'),
      offers: await query('offer'),
      availabilities: await query('availability'),
      recipients: (await sql.query('SELECT r.* FROM offer_recipient r JOIN offer o ON o.id = r.offer WHERE o.organization = $1 ORDER BY r.offer, r.waitlist', [b.id])).rows,
      events: (await sql.query("SELECT id FROM outbox WHERE envelope->>'organization' = $1 ORDER BY seq", [b.id])).rows,
    };
  };

  /** Each built route that takes an id, called by A with B's ids. */
  const attempts = () => {
    const routes: Array<{ method: 'GET' | 'POST' | 'PUT' | 'DELETE'; route: string; id: string; payload?: Record<string, unknown>; url?: string }> = [];
    for (const [group, id, payload] of [
      ['providers', ofB.provider, { lastname: 'Hacked' }],
      ['facilities', ofB.facility, { name: 'Hacked' }],
      ['appointmentTypes', ofB.type, { name: 'Hacked' }],
      ['appointments', ofB.appointment, { duration: 90 }],
      ['waitlists', ofB.waitlist, { notes: 'Hacked' }],
    ] as const) {
      routes.push({ method: 'GET', route: `/api/${group}/:id`, id }, { method: 'PUT', route: `/api/${group}/:id`, id, payload }, { method: 'DELETE', route: `/api/${group}/:id`, id });
    }
    routes.push(
      { method: 'PUT', route: '/api/appointments/:id/confirm', id: ofB.appointment },
      { method: 'PUT', route: '/api/appointments/:id/cancel', id: ofB.appointment },
      { method: 'GET', route: '/api/waitlists/confirmOffer/:id', id: ofB.waitlist },
      { method: 'GET', route: '/api/waitlists/declineOffer/:id', id: ofB.waitlist },
      { method: 'GET', route: '/api/waitlists/cancelOffer/:id', id: ofB.waitlist },
      { method: 'GET', route: '/api/providers/:id/waitlists', id: ofB.provider },
      {
        method: 'POST',
        route: '/api/waitlists/move/update-position/:providerId/:id/:replacedId',
        id: ofB.queued,
        url: `/api/waitlists/move/update-position/${ofB.provider}/${ofB.queued}/${ofB.waitlist}`,
      },
      { method: 'GET', route: '/api/offers/:id', id: ofB.offer },
      { method: 'PUT', route: '/api/offers/:id', id: ofB.offer, payload: { expireAt: '2099-08-31T00:00:00Z' } },
      { method: 'GET', route: '/api/offers/:id/waitlists', id: ofB.offer },
      { method: 'POST', route: '/api/offers/:id/cancel', id: ofB.offer },
      { method: 'GET', route: '/api/availabilities/:id', id: ofB.availability },
      { method: 'PUT', route: '/api/availabilities/:id/book', id: ofB.availability, payload: { patient: randomUUID() } },
      { method: 'POST', route: '/api/availabilities/book/:id', id: ofB.availability, payload: { patient: randomUUID() } },
      { method: 'GET', route: '/api/providers/:id/availabilities', id: ofB.provider },
    );
    return routes.map((attempt) => ({ ...attempt, url: attempt.url ?? attempt.route.replace(':id', attempt.id) }));
  };

  it('covers every built route that takes an id', async () => {
    const document = (await service.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const notBuilt = new Set(NOT_BUILT.map(([method, url]) => `${method} ${url}`));
    const withIds = Object.entries(document.paths)
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`))
      .filter((route) => route.includes('/:') && !notBuilt.has(route));
    expect(withIds.length).toBeGreaterThanOrEqual(28);
    // A patient id names no record here (patients owns them): it filters A's own appointments, tested below.
    const covered = new Set([
      ...attempts().map((attempt) => `${attempt.method} ${attempt.route}`),
      'GET /api/appointments/getByPatientId/:id',
      'GET /api/offers/findByPatientId/:id',
    ]);
    expect(withIds.filter((route) => !covered.has(route))).toEqual([]);
  });

  it("answers 404 for B's ids to A's admin and changes none of B's rows", async () => {
    const before = await snapshotOfB();
    const headers = await as(a.admin);
    for (const attempt of attempts()) {
      const response = await service.app.inject({ method: attempt.method, url: attempt.url, headers, ...(attempt.payload ? { payload: attempt.payload } : {}) });
      expect(response.statusCode, `${attempt.method} ${attempt.url}`).toBe(404);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      // The problem names the URL asked for, never anything stored about B.
      for (const secret of ['Bravo', 'Hopper', 'Main Street', 'Check-up', 'America/New_York']) expect(response.body).not.toContain(secret);
    }
    expect(await snapshotOfB()).toEqual(before);
  });

  it("refuses B's provider, facility and type in A's bookings as unknown, and shows A nothing of B's", async () => {
    const before = await snapshotOfB();
    const headers = await as(a.admin);
    const booked = await service.app.inject({ method: 'POST', url: '/api/appointments', headers, payload: booking({ provider: ofB.provider, facility: ofB.facility, type: ofB.type }, '2026-09-02T10:00:00Z') });
    expect(booked.statusCode).toBe(400);
    expect(booked.json().errors.map((error: { field: string }) => error.field)).toEqual(['body.provider', 'body.facility', 'body.type']);
    const moved = await service.app.inject({ method: 'PUT', url: `/api/appointments/${ofA.appointment}`, headers, payload: { provider: ofB.provider, facility: ofB.facility } });
    expect(moved.statusCode).toBe(400);
    expect((await service.app.inject({ url: `/api/appointments/${ofA.appointment}`, headers })).json().provider).toBe(ofA.provider);

    for (const url of [
      '/api/providers',
      '/api/providers/crudList',
      '/api/providers/search?value=bravo',
      '/api/facilities',
      '/api/appointmentTypes/crudList',
      '/api/appointments',
      `/api/appointments?provider=${ofB.provider}`,
      `/api/appointments/getByPatientId/${ofB.patient}`,
      '/api/appointments/crudList',
      '/api/waitlists',
      '/api/waitlists/crudList',
      `/api/waitlists?provider=${ofB.provider}`,
      `/api/waitlists/filter?patient=${ofB.patient}`,
      '/api/offers',
      '/api/offers/crudList',
      '/api/offers/reports/find',
      '/api/availabilities',
      `/api/availabilities?provider=${ofB.provider}`,
      `/api/scheduler/availabilities?provider=${ofB.provider}&from=2099-09-01&to=2099-09-30`,
      `/api/scheduler/availabilities?facility=${ofB.facility}&from=2099-09-01T00:00:00Z&to=2099-09-30T00:00:00Z`,
    ]) {
      const list = (await service.app.inject({ url, headers })).json();
      const ids = (list.response as Array<{ _id: string }>).map((record) => record._id);
      expect(ids.some((id) => Object.values(ofB).includes(id)), url).toBe(false);
      expect(JSON.stringify(list)).not.toContain('Bravo');
    }
    expect((await service.app.inject({ url: `/api/appointments/summary?provider=${ofB.provider}`, headers })).json().total).toBe(0);
    expect((await service.app.inject({ url: '/api/offers/reports/summary', headers })).json().total).toBe(0);
    expect((await service.app.inject({ url: '/api/waitlists/count', headers })).json().count).toBe(0);
    expect((await service.app.inject({ url: `/api/scheduler/availabilities/count?provider=${ofB.provider}&from=2099-09-01&to=2099-09-30`, headers })).json().count).toBe(0);
    const foreignFreeBusy = await service.app.inject({ url: `/api/availabilities/freebusy?provider=${ofB.provider}&from=2099-09-01T00:00:00Z&to=2099-09-30T00:00:00Z`, headers });
    expect(foreignFreeBusy.statusCode).toBe(404);
    const foreignChange = await service.app.inject({ method: 'PUT', url: '/api/availabilities', headers, payload: [{ _id: ofB.availability, status: 'expired' }] });
    expect(foreignChange.statusCode).toBe(404);
    const foreignSlot = await service.app.inject({
      method: 'POST',
      url: '/api/availabilities',
      headers,
      payload: { provider: ofB.provider, facility: ofB.facility, appointmentType: ofB.type, date: '2099-09-04T10:00:00Z' },
    });
    expect(foreignSlot.statusCode).toBe(400);
    expect(foreignSlot.json().errors.map((error: { field: string }) => error.field)).toEqual(['body.provider', 'body.facility', 'body.appointmentType']);
    const candidates = await service.app.inject({
      method: 'POST',
      url: '/api/waitlists/candidates',
      headers,
      payload: { provider: ofA.provider, facility: ofA.facility, appointmentType: ofA.type, date: '2099-09-01T10:00:00Z' },
    });
    expect(candidates.json().total).toBe(0);
    const foreignBulk = await service.app.inject({ method: 'POST', url: '/api/waitlists/bulk/action', headers, payload: { action: 'remove', ids: [ofB.waitlist] } });
    expect(foreignBulk.statusCode).toBe(404);
    const foreignOffer = await service.app.inject({
      method: 'POST',
      url: '/api/offers',
      headers,
      payload: { provider: ofA.provider, facility: ofA.facility, appointmentType: ofA.type, date: '2099-09-02T10:00:00Z', waitlists: [ofB.queued] },
    });
    expect(foreignOffer.statusCode).toBe(400);
    expect(await snapshotOfB()).toEqual(before);
  });
});
