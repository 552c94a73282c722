import { kafkaBrokers } from '@pep/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, connect, createPatient } from '../test/fixtures.js';
import { as, orgA, orgB, startPatients, type PatientsUnderTest } from '../test/harness.js';

// Every answer holding patient data is audited in patient_access (who, which route, which patients) before it is sent.
describe('patients: reads of patient data are audited', () => {
  let service: PatientsUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    service = await startPatients('access', await kafkaBrokers());
    sql = await connect(service);
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const audited = async (route: string) =>
    (
      await sql.query<{ organization: string; actor: string; roles: string[]; patients: string[]; request_id: string }>(
        'SELECT organization, actor, roles, patients, request_id FROM patient_access WHERE route = $1 ORDER BY at',
        [route],
      )
    ).rows;

  it('records the reader, the route and every patient of the answer, for records, lists, journeys and referrals', async () => {
    const first = (await createPatient(service.app, orgA, { firstname: 'Ada', lastname: 'Audit' }))._id as string;
    const second = (await createPatient(service.app, orgA, { firstname: 'Bo', lastname: 'Audit' }))._id as string;
    // Writes are not reads: creating patients audits nothing.
    expect((await sql.query('SELECT count(*)::int AS n FROM patient_access')).rows[0].n).toBe(0);

    expect((await call(service.app, orgA, 'GET', `/api/patients/${first}`)).status).toBe(200);
    expect(await audited('GET /api/patients/:id')).toEqual([
      { organization: orgA.organization, actor: orgA.user, roles: orgA.roles, patients: [first], request_id: expect.any(String) },
    ]);

    expect((await call(service.app, orgA, 'GET', '/api/patients?limit=50')).status).toBe(200);
    expect((await audited('GET /api/patients'))[0]!.patients.sort()).toEqual([first, second].sort());

    expect((await call(service.app, orgA, 'GET', `/api/patients/${second}/journey`)).status).toBe(200);
    expect((await audited('GET /api/patients/:id/journey'))[0]!.patients).toEqual([second]);

    const referral = await call(service.app, orgA, 'POST', '/api/referrals', { patient: first });
    expect(referral.status).toBe(200);
    expect((await call(service.app, orgA, 'GET', `/api/referrals/${referral.body._id}`)).status).toBe(200);
    expect((await audited('GET /api/referrals/:id'))[0]!.patients).toEqual([first]);
  });

  it('audits nothing for an answer that holds no patient data: a 404, another organization, an empty page', async () => {
    const theirs = (await createPatient(service.app, orgB, { firstname: 'Cy', lastname: 'Other' }))._id as string;
    const before = (await sql.query('SELECT count(*)::int AS n FROM patient_access')).rows[0].n;
    expect((await call(service.app, orgA, 'GET', `/api/patients/${theirs}`)).status).toBe(404);
    expect((await call(service.app, orgA, 'GET', `/api/patients/search?type=name&value=nobody-by-this-name`)).status).toBe(200);
    expect((await sql.query('SELECT count(*)::int AS n FROM patient_access')).rows[0].n).toBe(before);
  });

  it('does not answer a read it cannot audit', async () => {
    const patient = (await createPatient(service.app, orgA, { firstname: 'Di', lastname: 'Unaudited' }))._id as string;
    await sql.query('ALTER TABLE patient_access RENAME TO patient_access_away');
    try {
      const refused = await service.app.inject({ method: 'GET', url: `/api/patients/${patient}`, headers: await as(orgA) });
      expect(refused.statusCode).toBe(500);
      expect(refused.body).not.toContain('Unaudited');
    } finally {
      await sql.query('ALTER TABLE patient_access_away RENAME TO patient_access');
    }
  });
});
