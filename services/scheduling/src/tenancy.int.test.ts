import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { kafkaBrokers } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog } from '../test/fixtures.js';
import { as, knownPatient, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';
import { NOT_BUILT } from './not-built.routes.js';

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('scheduling service: one organization never reaches another’s records', () => {
  let service: SchedulingUnderTest;
  // No patients service here (a service never imports another): a patient the read model has not heard of answers 503,
  // and a test points this at a closed port to see patients unreachable. What the real owner answers about such a patient
  // is tested where every service runs together, in services/embedded/src/owner-lookups.int.test.ts.
  let patientsUrl: string | undefined;
  let sql: pg.Client;
  const a = organization();
  const b = organization();
  let ofA: Awaited<ReturnType<typeof catalog>> & { appointment: string; availability: string; waitlist: string; otherWaitlist: string };
  let ofB: Awaited<ReturnType<typeof catalog>> & {
    appointment: string;
    patient: string;
    waitlist: string;
    queued: string;
    offer: string;
    availability: string;
  };

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    service = await startScheduling('tenancy', brokers, { patientsUrl: () => patientsUrl, ownerLookupTimeoutMs: 1_000 });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    const book = async (headers: Record<string, string>, records: Awaited<ReturnType<typeof catalog>>) =>
      (
        await service.app.inject({ method: 'POST', url: '/api/appointments', headers, payload: booking(records, '2026-09-01T10:00:00Z') })
      ).json()._id as string;
    const asA = await as(a.admin);
    const asB = await as(b.admin);
    const recordsOfA = await catalog(service.app, asA);
    const recordsOfB = await catalog(service.app, asB);
    await service.app.inject({ method: 'POST', url: '/api/providers', headers: asB, payload: { firstname: 'Bella', lastname: 'Bravo' } });
    const entryOf = async (headers: Record<string, string>, records: Awaited<ReturnType<typeof catalog>>, patient = records.patient) =>
      (
        await service.app.inject({ method: 'POST', url: '/api/waitlists', headers, payload: { patient, provider: records.provider } })
      ).json()._id as string;
    const availabilityOfA = await service.app.inject({
      method: 'POST',
      url: '/api/availabilities',
      headers: asA,
      payload: {
        provider: recordsOfA.provider,
        facility: recordsOfA.facility,
        appointmentType: recordsOfA.type,
        date: '2099-10-01T10:00:00Z',
      },
    });
    ofA = {
      ...recordsOfA,
      appointment: await book(asA, recordsOfA),
      availability: availabilityOfA.json()._id as string,
      waitlist: await entryOf(asA, recordsOfA),
      otherWaitlist: await entryOf(asA, recordsOfA, await knownPatient(service, a.id)),
    };
    const entryOfB = () => entryOf(asB, recordsOfB);
    const waitlist = await entryOfB();
    const queued = await entryOfB();
    // A serial offer: the first entry is offered, the second queued, so every answer route has something to change.
    const offer = await service.app.inject({
      method: 'POST',
      url: '/api/offers',
      headers: asB,
      payload: {
        provider: recordsOfB.provider,
        facility: recordsOfB.facility,
        appointmentType: recordsOfB.type,
        date: '2099-09-01T10:00:00Z',
        protocol: 'serial',
        waitlists: [waitlist, queued],
      },
    });
    const availability = await service.app.inject({
      method: 'POST',
      url: '/api/availabilities',
      headers: asB,
      payload: {
        provider: recordsOfB.provider,
        facility: recordsOfB.facility,
        appointmentType: recordsOfB.type,
        date: '2099-09-03T10:00:00Z',
      },
    });
    ofB = {
      ...recordsOfB,
      appointment: await book(asB, recordsOfB),
      patient: recordsOfB.patient,
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

  /** Every row scheduling keeps of anyone (but the inbox and the patient read model, which events fill), and every event it wrote. */
  const snapshotOfAll = async () => {
    const rows = async (table: string, order = 'id') => (await sql.query(`SELECT * FROM ${table} ORDER BY ${order}`)).rows;
    return {
      providers: await rows('provider'),
      facilities: await rows('facility'),
      types: await rows('appointment_type'),
      appointments: await rows('appointment'),
      waitlists: await rows('waitlist'),
      offers: await rows('offer'),
      availabilities: await rows('availability'),
      recipients: await rows('offer_recipient', 'offer, waitlist'),
      events: (await sql.query('SELECT id FROM outbox ORDER BY seq')).rows,
    };
  };

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
      recipients: (
        await sql.query(
          'SELECT r.* FROM offer_recipient r JOIN offer o ON o.id = r.offer WHERE o.organization = $1 ORDER BY r.offer, r.waitlist',
          [b.id],
        )
      ).rows,
      events: (await sql.query("SELECT id FROM outbox WHERE envelope->>'organization' = $1 ORDER BY seq", [b.id])).rows,
    };
  };

  /** Each built route that takes an id, called by A with B's ids. */
  const attempts = () => {
    const routes: Array<{
      method: 'GET' | 'POST' | 'PUT' | 'DELETE';
      route: string;
      id: string;
      payload?: Record<string, unknown>;
      url?: string;
    }> = [];
    for (const [group, id, payload] of [
      ['providers', ofB.provider, { lastname: 'Hacked' }],
      ['facilities', ofB.facility, { name: 'Hacked' }],
      ['appointmentTypes', ofB.type, { name: 'Hacked' }],
      ['appointments', ofB.appointment, { duration: 90 }],
      ['waitlists', ofB.waitlist, { notes: 'Hacked' }],
    ] as const) {
      routes.push(
        { method: 'GET', route: `/api/${group}/:id`, id },
        { method: 'PUT', route: `/api/${group}/:id`, id, payload },
        { method: 'DELETE', route: `/api/${group}/:id`, id },
      );
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
      // A's own patient, so the answer is about B's availability.
      { method: 'PUT', route: '/api/availabilities/:id/book', id: ofB.availability, payload: { patient: ofA.patient } },
      { method: 'POST', route: '/api/availabilities/book/:id', id: ofB.availability, payload: { patient: ofA.patient } },
      { method: 'GET', route: '/api/providers/:id/availabilities', id: ofB.provider },
      { method: 'GET', route: '/api/appointments/getByPatientId/:id', id: ofB.patient },
      { method: 'GET', route: '/api/offers/findByPatientId/:id', id: ofB.patient },
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
    const covered = new Set(attempts().map((attempt) => `${attempt.method} ${attempt.route}`));
    expect(withIds.filter((route) => !covered.has(route))).toEqual([]);
  });

  it("answers 404 for B's ids to A's admin and changes none of B's rows", async () => {
    const before = await snapshotOfB();
    const headers = await as(a.admin);
    for (const attempt of attempts()) {
      const response = await service.app.inject({
        method: attempt.method,
        url: attempt.url,
        headers,
        ...(attempt.payload ? { payload: attempt.payload } : {}),
      });
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
    const booked = await service.app.inject({
      method: 'POST',
      url: '/api/appointments',
      headers,
      payload: booking({ patient: ofA.patient, provider: ofB.provider, facility: ofB.facility, type: ofB.type }, '2026-09-02T10:00:00Z'),
    });
    expect(booked.statusCode).toBe(400);
    expect(booked.json().errors.map((error: { field: string }) => error.field)).toEqual(['body.provider', 'body.facility', 'body.type']);
    const moved = await service.app.inject({
      method: 'PUT',
      url: `/api/appointments/${ofA.appointment}`,
      headers,
      payload: { provider: ofB.provider, facility: ofB.facility },
    });
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
      '/api/appointments/crudList',
      '/api/waitlists',
      '/api/waitlists/crudList',
      `/api/waitlists?provider=${ofB.provider}`,
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
      expect(
        ids.some((id) => Object.values(ofB).includes(id)),
        url,
      ).toBe(false);
      expect(JSON.stringify(list)).not.toContain('Bravo');
    }
    expect((await service.app.inject({ url: `/api/appointments/summary?provider=${ofB.provider}`, headers })).json().total).toBe(0);
    expect((await service.app.inject({ url: '/api/offers/reports/summary', headers })).json().total).toBe(0);
    expect((await service.app.inject({ url: `/api/waitlists/count?provider=${ofB.provider}`, headers })).json().count).toBe(0);
    expect(
      (
        await service.app.inject({
          url: `/api/scheduler/availabilities/count?provider=${ofB.provider}&from=2099-09-01&to=2099-09-30`,
          headers,
        })
      ).json().count,
    ).toBe(0);
    const foreignFreeBusy = await service.app.inject({
      url: `/api/availabilities/freebusy?provider=${ofB.provider}&from=2099-09-01T00:00:00Z&to=2099-09-30T00:00:00Z`,
      headers,
    });
    expect(foreignFreeBusy.statusCode).toBe(404);
    const foreignChange = await service.app.inject({
      method: 'PUT',
      url: '/api/availabilities',
      headers,
      payload: [{ _id: ofB.availability, status: 'expired' }],
    });
    expect(foreignChange.statusCode).toBe(404);
    const foreignSlot = await service.app.inject({
      method: 'POST',
      url: '/api/availabilities',
      headers,
      payload: { provider: ofB.provider, facility: ofB.facility, appointmentType: ofB.type, date: '2099-09-04T10:00:00Z' },
    });
    expect(foreignSlot.statusCode).toBe(400);
    expect(foreignSlot.json().errors.map((error: { field: string }) => error.field)).toEqual([
      'body.provider',
      'body.facility',
      'body.appointmentType',
    ]);
    const candidates = await service.app.inject({
      method: 'POST',
      url: '/api/waitlists/candidates',
      headers,
      payload: { provider: ofA.provider, facility: ofA.facility, appointmentType: ofA.type, date: '2099-09-01T10:00:00Z' },
    });
    expect(candidates.json().response.map((candidate: { waitlist: { _id: string } }) => candidate.waitlist._id)).toEqual(
      expect.not.arrayContaining([ofB.waitlist, ofB.queued]),
    );
    const foreignBulk = await service.app.inject({
      method: 'POST',
      url: '/api/waitlists/bulk/action',
      headers,
      payload: { action: 'remove', ids: [ofB.waitlist] },
    });
    expect(foreignBulk.statusCode).toBe(404);
    const foreignOffer = await service.app.inject({
      method: 'POST',
      url: '/api/offers',
      headers,
      payload: {
        provider: ofA.provider,
        facility: ofA.facility,
        appointmentType: ofA.type,
        date: '2099-09-02T10:00:00Z',
        waitlists: [ofB.queued],
      },
    });
    expect(foreignOffer.statusCode).toBe(400);
    expect(await snapshotOfB()).toEqual(before);
  });
  /** A's patient and catalog records, as a booking names them. */
  const catalogOfA = () => ({ patient: ofA.patient, provider: ofA.provider, facility: ofA.facility, type: ofA.type });

  /** Every write route's reference fields (and every patient filter), each naming `ids`' record where A's would be valid. */
  const referenceCases = (ids: {
    patient: string;
    provider: string;
    facility: string;
    type: string;
    availability: string;
    waitlist: string;
  }) => {
    type Case = { method: 'GET' | 'POST' | 'PUT'; url: string; payload?: unknown; field?: string };
    const valid = { patient: ofA.patient, provider: ofA.provider, facility: ofA.facility, type: ofA.type };
    const slot = { provider: ofA.provider, facility: ofA.facility, appointmentType: ofA.type, date: '2099-11-01T10:00:00Z' };
    const hours = {
      workingHours: { from: '2099-11-02', until: '2099-11-02', weekdays: [1, 2, 3, 4, 5, 6, 7], start: '09:00', end: '10:00' },
    };
    const cases: Case[] = [
      ...(['patient', 'provider', 'facility', 'type'] as const).map((field): Case => ({
        method: 'POST',
        url: '/api/appointments',
        payload: booking({ ...valid, [field]: ids[field] }, '2026-10-01T10:00:00Z'),
        field: `body.${field}`,
      })),
      ...(['provider', 'facility', 'type'] as const).map((field): Case => ({
        method: 'PUT',
        url: `/api/appointments/${ofA.appointment}`,
        payload: { [field]: ids[field] },
        field: `body.${field}`,
      })),
      ...(['provider', 'facility', 'appointmentType'] as const).flatMap((field): Case[] => {
        const id = ids[field === 'appointmentType' ? 'type' : field];
        return [
          { method: 'POST', url: '/api/availabilities', payload: { ...slot, [field]: id }, field: `body.${field}` },
          { method: 'POST', url: '/api/availabilities', payload: [{ ...slot, [field]: id }], field: `body.0.${field}` },
          {
            method: 'POST',
            url: '/api/availabilities',
            payload: { ...slot, date: undefined, ...hours, [field]: id },
            field: `body.${field}`,
          },
        ];
      }),
      { method: 'PUT', url: '/api/availabilities', payload: [{ _id: ids.availability, status: 'expired' }] },
      {
        method: 'PUT',
        url: '/api/availabilities',
        payload: [{ _id: ofA.availability, appointmentType: ids.type }],
        field: 'body.0.appointmentType',
      },
      ...[`/api/availabilities/${ofA.availability}/book`, `/api/availabilities/book/${ofA.availability}`].flatMap((url, i): Case[] => [
        { method: i === 0 ? 'PUT' : 'POST', url, payload: { patient: ids.patient }, field: 'body.patient' },
        {
          method: i === 0 ? 'PUT' : 'POST',
          url,
          payload: { patient: ofA.patient, appointmentType: ids.type },
          field: 'body.appointmentType',
        },
      ]),
      { method: 'POST', url: '/api/waitlists', payload: { patient: ids.patient }, field: 'body.patient' },
      ...(['provider', 'facility', 'appointmentType', 'facilities'] as const).flatMap((field): Case[] => {
        const id = field === 'appointmentType' ? ids.type : field === 'facilities' ? [ids.facility] : ids[field];
        return [
          { method: 'POST', url: '/api/waitlists', payload: { patient: ofA.patient, [field]: id }, field: `body.${field}` },
          { method: 'PUT', url: `/api/waitlists/${ofA.waitlist}`, payload: { [field]: id }, field: `body.${field}` },
        ];
      }),
      ...(['provider', 'facility', 'appointmentType'] as const).flatMap((field): Case[] => {
        const id = ids[field === 'appointmentType' ? 'type' : field];
        return [
          { method: 'POST', url: '/api/waitlists/candidates', payload: { ...slot, [field]: id }, field: `body.${field}` },
          { method: 'POST', url: '/api/offers', payload: { ...slot, [field]: id }, field: `body.${field}` },
        ];
      }),
      { method: 'POST', url: '/api/offers', payload: { ...slot, waitlists: [ids.waitlist] }, field: 'body.waitlists' },
      { method: 'POST', url: `/api/waitlists/move/update-position/${ids.provider}/${ofA.waitlist}/${ofA.otherWaitlist}` },
      { method: 'POST', url: `/api/waitlists/move/update-position/${ofA.provider}/${ids.waitlist}/${ofA.waitlist}` },
      { method: 'POST', url: '/api/waitlists/bulk/action', payload: { action: 'remove', ids: [ofA.waitlist, ids.waitlist] } },
      { method: 'POST', url: '/api/waitlists/find/count', payload: { patient: ids.patient }, field: 'body.patient' },
      ...[
        '/api/appointments',
        '/api/appointments/crudList',
        '/api/waitlists',
        '/api/waitlists/crudList',
        '/api/waitlists/filter',
        '/api/waitlists/count',
        `/api/providers/${ofA.provider}/waitlists`,
      ].map((url): Case => ({ method: 'GET', url: `${url}?patient=${ids.patient}`, field: 'querystring.patient' })),
      { method: 'GET', url: `/api/appointments/getByPatientId/${ids.patient}` },
      { method: 'GET', url: `/api/offers/findByPatientId/${ids.patient}` },
    ];
    return cases;
  };

  it("refuses B's ids, and ids that name nothing, in every reference field of A's write routes and patient filters, writing nothing", async () => {
    const headers = await as(a.admin);
    const foreign = {
      patient: ofB.patient,
      provider: ofB.provider,
      facility: ofB.facility,
      type: ofB.type,
      availability: ofB.availability,
      waitlist: ofB.queued,
    };
    const unknown = {
      patient: randomUUID(),
      provider: randomUUID(),
      facility: randomUUID(),
      type: randomUUID(),
      availability: randomUUID(),
      waitlist: randomUUID(),
    };
    for (const [label, ids] of [
      ['B’s', foreign],
      ['unknown', unknown],
    ] as const) {
      // A patient id the read model has never heard of is the patients service's to refuse; with none here those cases
      // answer 503, so they run against the real owner in services/embedded/src/owner-lookups.int.test.ts.
      const cases = referenceCases(ids).filter((attempt) => label === 'B’s' || !JSON.stringify(attempt).includes(unknown.patient));
      expect(cases.length).toBeGreaterThanOrEqual(label === 'B’s' ? 50 : 35);
      for (const attempt of cases) {
        const what = `${label}: ${attempt.method} ${attempt.url} ${JSON.stringify(attempt.payload ?? '')}`;
        const before = await snapshotOfAll();
        const response = await service.app.inject({
          method: attempt.method,
          url: attempt.url,
          headers,
          ...(attempt.payload !== undefined ? { payload: attempt.payload as object } : {}),
        });
        // Another service's record (the patient) is refused like any id of another organization: 404 naming the field (ADR 0015).
        const status = !attempt.field || attempt.field.endsWith('.patient') ? 404 : 400;
        expect(response.statusCode, `${what} → ${response.body}`).toBe(status);
        expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
        if (attempt.field)
          expect(
            response.json().errors.map((error: { field: string }) => error.field),
            what,
          ).toContain(attempt.field);
        expect(await snapshotOfAll(), what).toEqual(before);
      }
    }
    // The same requests with A's own records pass the checks (so the refusals above are about the ids alone).
    expect((await service.app.inject({ url: `/api/appointments/getByPatientId/${ofA.patient}`, headers })).statusCode).toBe(200);
    expect((await service.app.inject({ url: `/api/waitlists/count?patient=${ofA.patient}`, headers })).json().count).toBe(1);
  });

  it('answers 503 with Retry-After, writing nothing, when a patient it has not heard of cannot be checked with patients', async () => {
    const headers = await as(a.staff);
    const unheardOf = randomUUID();
    patientsUrl = `http://127.0.0.1:${await closedPort()}`;
    try {
      const before = await snapshotOfAll();
      for (const [method, url, payload] of [
        ['POST', '/api/appointments', booking(catalogOfA(), '2026-10-04T10:00:00Z', { patient: unheardOf })],
        ['PUT', `/api/availabilities/${ofA.availability}/book`, { patient: unheardOf }],
        ['POST', '/api/waitlists', { patient: unheardOf }],
        ['GET', `/api/appointments/getByPatientId/${unheardOf}`, undefined],
        ['GET', `/api/waitlists?patient=${unheardOf}`, undefined],
      ] as const) {
        const response = await service.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
        expect(response.statusCode, `${method} ${url}`).toBe(503);
        expect(response.headers['retry-after']).toBe('5');
        expect(response.json()).toMatchObject({ type: '/problems/owner-unavailable', status: 503 });
      }
      expect(await snapshotOfAll()).toEqual(before);
      // A patient the read model knows needs no call.
      expect(
        (
          await service.app.inject({
            method: 'POST',
            url: '/api/appointments',
            headers,
            payload: booking(catalogOfA(), '2026-10-05T10:00:00Z'),
          })
        ).statusCode,
      ).toBe(200);
    } finally {
      patientsUrl = undefined;
    }
  });
});
