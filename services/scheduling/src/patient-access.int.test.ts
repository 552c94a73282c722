import { randomUUID } from 'node:crypto';
import { kafkaBrokers } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog, create } from '../test/fixtures.js';
import { as, knownPatients, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';

// Every answer naming patients is audited in patient_access (who, which route, which patients) before it is sent.
describe('scheduling: reads of patient data are audited', () => {
  let service: SchedulingUnderTest;
  let sql: pg.Client;
  const a = organization();
  const b = organization();
  let headers: Record<string, string>;
  let records: Awaited<ReturnType<typeof catalog>>;
  let patients: string[];

  beforeAll(async () => {
    service = await startScheduling('access', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    headers = await as(a.staff);
    records = await catalog(service.app, await as(a.admin));
    patients = await knownPatients(service, a.id, 3);
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: Record<string, unknown>, as = headers) =>
    service.app.inject({ method, url, headers: as, ...(payload ? { payload } : {}) });
  const audited = async (route: string) =>
    (
      await sql.query<{ organization: string; actor: string; roles: string[]; patients: string[]; request_id: string }>(
        'SELECT organization, actor, roles, patients, request_id FROM patient_access WHERE route = $1 ORDER BY at',
        [route],
      )
    ).rows;
  const rowCount = async () => (await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM patient_access')).rows[0]!.n;

  it('records the reader, the route and the patients of appointment, waitlist and offer answers', async () => {
    const [first, second, third] = patients as [string, string, string];
    const booked = await create(service.app, headers, '/api/appointments', booking(records, '2099-03-01T10:00:00Z', { patient: first }));
    await create(service.app, headers, '/api/appointments', booking(records, '2099-03-01T11:00:00Z', { patient: second }));
    const entry = await create(service.app, headers, '/api/waitlists', { patient: third, provider: records.provider });
    // Creations answer only what the caller sent: nothing is read.
    expect(await rowCount()).toBe(0);

    const got = await call('GET', `/api/appointments/${booked._id}`);
    expect(got.statusCode).toBe(200);
    expect(await audited('GET /api/appointments/:id')).toEqual([
      {
        organization: a.id,
        actor: a.staff.user,
        roles: a.staff.roles,
        patients: [first],
        request_id: got.headers['x-request-id'],
      },
    ]);

    expect((await call('GET', '/api/appointments?limit=50')).statusCode).toBe(200);
    const [listed] = await audited('GET /api/appointments');
    expect(listed!.patients.sort()).toEqual([first, second].sort());

    expect((await call('GET', `/api/waitlists/${entry._id}`)).statusCode).toBe(200);
    expect((await audited('GET /api/waitlists/:id'))[0]!.patients).toEqual([third]);
    expect((await call('GET', '/api/waitlists')).statusCode).toBe(200);
    expect((await audited('GET /api/waitlists'))[0]!.patients).toEqual([third]);

    const slot = { provider: records.provider, facility: records.facility, appointmentType: records.type, date: '2099-03-02T09:00:00Z' };
    const ranked = await call('POST', '/api/waitlists/candidates', slot);
    expect(ranked.json().total).toBe(1);
    expect((await audited('POST /api/waitlists/candidates'))[0]!.patients).toEqual([third]);

    const offer = await create(service.app, headers, '/api/offers', { ...slot, waitlists: [entry._id] });
    // An offer in progress names no patient yet, so reading it records nothing.
    expect((await call('GET', `/api/offers/${offer._id}`)).statusCode).toBe(200);
    expect(await audited('GET /api/offers/:id')).toEqual([]);
    expect((await call('GET', `/api/offers/${offer._id}/waitlists`)).statusCode).toBe(200);
    expect((await audited('GET /api/offers/:id/waitlists'))[0]!.patients).toEqual([third]);

    // Accepting on the patient's behalf shows the entry the caller named by id only.
    const accepted = await call('GET', `/api/waitlists/confirmOffer/${entry._id}`);
    expect(accepted.statusCode).toBe(200);
    expect((await audited('GET /api/waitlists/confirmOffer/:id'))[0]!.patients).toEqual([third]);
    const found = await call('GET', `/api/offers/${offer._id}`);
    expect(found.json()).toMatchObject({ status: 'patient-found', patientFound: third });
    expect((await audited('GET /api/offers/:id')).map((row) => row.patients)).toEqual([[third]]);
    expect((await call('GET', `/api/offers/findByPatientId/${third}`)).json().total).toBe(1);
    expect((await audited('GET /api/offers/findByPatientId/:id'))[0]!.patients).toEqual([third]);
  });

  it('records nothing for an error answer, an empty page or another organization’s ids', async () => {
    const [first] = patients as [string];
    const appointment = (await call('GET', `/api/appointments/getByPatientId/${first}`)).json().response[0]._id as string;
    const entry = (await call('GET', '/api/waitlists')).json().response[0]._id as string;
    const offer = (await call('GET', '/api/offers')).json().response[0]._id as string;
    const before = await rowCount();

    expect((await call('GET', `/api/appointments/${randomUUID()}`)).statusCode).toBe(404);
    expect((await call('GET', '/api/appointments/not-an-id')).statusCode).toBe(400);
    expect((await call('PUT', `/api/appointments/${randomUUID()}/confirm`)).statusCode).toBe(404);
    // The first patient was never offered anything, and has no waiting entry.
    const none = await call('GET', `/api/offers/findByPatientId/${first}`);
    expect(none.json()).toMatchObject({ total: 0, response: [] });
    expect((await call('GET', `/api/waitlists?patient=${first}`)).json().total).toBe(0);

    const asB = await as(b.admin);
    for (const url of [`/api/appointments/${appointment}`, `/api/waitlists/${entry}`, `/api/offers/${offer}`])
      expect((await call('GET', url, undefined, asB)).statusCode).toBe(404);
    expect((await call('GET', '/api/appointments', undefined, asB)).json().total).toBe(0);
    expect(await rowCount()).toBe(before);
  });

  it('does not answer a read it cannot audit', async () => {
    const [first] = patients as [string];
    const appointment = (await call('GET', `/api/appointments/getByPatientId/${first}`)).json().response[0]._id as string;
    await sql.query('ALTER TABLE patient_access RENAME TO patient_access_away');
    try {
      const refused = await call('GET', `/api/appointments/${appointment}`);
      expect(refused.statusCode).toBe(500);
      expect(refused.body).not.toContain(first);
    } finally {
      await sql.query('ALTER TABLE patient_access_away RENAME TO patient_access');
    }
  });
});
