import { kafkaBrokers } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog, create } from '../test/fixtures.js';
import { as, knownPatients, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';

const MOST = 30;

// Concurrency is proven on real Postgres only: the embedded database is one session and would serialize everything.
describe('scheduling service: the first acceptance of an offer wins, atomically', () => {
  let service: SchedulingUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    // A connection per acceptance, so all of them really are in flight together.
    service = await startScheduling('offer-race', await kafkaBrokers(), { poolMax: MOST + 2 });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const count = async (query: string, values: unknown[]) => (await sql.query(query, values)).rows[0].n as number;

  /** An offer of one slot to `patients` waiting patients, then `accepts` simultaneous acceptances spread over them. */
  async function race(patients: number, accepts: number, date: string) {
    const org = organization();
    const headers = await as(org.staff);
    const records = await catalog(service.app, await as(org.admin));
    const entries: Array<Awaited<ReturnType<typeof create>>> = [];
    const waiting = await knownPatients(service, org.id, patients);
    for (let i = 0; i < patients; i += 1) entries.push(await create(service.app, headers, '/api/waitlists', { patient: waiting[i] }));
    const offer = await create(service.app, headers, '/api/offers', {
      provider: records.provider,
      facility: records.facility,
      appointmentType: records.type,
      date,
      protocol: 'parallel',
      waitlists: entries.map((entry) => entry._id),
    });
    const responses = await Promise.all(
      Array.from({ length: accepts }, (_, i) =>
        service.app.inject({ method: 'GET', url: `/api/waitlists/confirmOffer/${entries[i % patients]!._id}`, headers }),
      ),
    );
    return { org, headers, entries, offer: offer._id, responses, statuses: responses.map((response) => response.statusCode) };
  }

  async function expectOneWinner(result: Awaited<ReturnType<typeof race>>, patients: number) {
    const winners = result.responses.filter((response) => response.statusCode === 200);
    const winnerIds = new Set(winners.map((response) => response.json()._id as string));
    // Several acceptances of the winning entry may answer 200 (accepting an accepted entry changes nothing); one entry wins.
    expect(winnerIds.size).toBe(1);
    const winner = [...winnerIds][0]!;
    for (const response of result.responses.filter((r) => r.statusCode !== 200)) {
      expect(response.statusCode).toBe(409);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json().detail).toBe('The slot was taken by another patient.');
    }
    const offer = (await service.app.inject({ url: `/api/offers/${result.offer}`, headers: result.headers })).json();
    const winnerEntry = result.entries.find((entry) => entry._id === winner)!;
    expect(offer).toMatchObject({ status: 'patient-found', patientFound: winnerEntry.patient });
    expect(await count("SELECT count(*)::int AS n FROM appointment WHERE organization = $1 AND source = 'waitlist'", [result.org.id])).toBe(
      1,
    );
    expect(
      await count('SELECT count(*)::int AS n FROM appointment WHERE id = $1 AND patient = $2', [
        offer.usedForAppointment,
        winnerEntry.patient,
      ]),
    ).toBe(1);
    const statuses = (
      await sql.query('SELECT status::text AS status, count(*)::int AS n FROM waitlist WHERE organization = $1 GROUP BY status', [
        result.org.id,
      ])
    ).rows;
    expect(Object.fromEntries(statuses.map((row) => [row.status, row.n]))).toEqual({
      accepted: 1,
      ...(patients > 1 ? { waiting: patients - 1 } : {}),
    });
    const typed = async (type: string) =>
      (
        await sql.query("SELECT envelope FROM outbox WHERE envelope->>'type' = $1 AND envelope->>'organization' = $2", [
          type,
          result.org.id,
        ])
      ).rows.map((row) => row.envelope);
    expect(await typed('offer.accepted')).toHaveLength(1);
    expect(await typed('appointment.created')).toHaveLength(1);
    const closed = await typed('offer.closed');
    expect(closed).toHaveLength(1);
    expect(closed[0].data.reason).toBe('patient-found');
    expect(closed[0].data.patients.map((p: { waitlist: string }) => p.waitlist).sort()).toEqual(
      result.entries
        .filter((entry) => entry._id !== winner)
        .map((entry) => entry._id)
        .sort(),
    );
  }

  it('lets exactly one of 5 simultaneous acceptances of an offer to 5 patients through', async () => {
    const result = await race(5, 5, '2099-09-01T09:00:00Z');
    expect(result.statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(result.statuses.filter((status) => status === 409)).toHaveLength(4);
    await expectOneWinner(result, 5);
  });

  it(`lets exactly one of ${MOST} simultaneous acceptances of an offer to ${MOST} patients through`, async () => {
    const result = await race(MOST, MOST, '2099-09-02T09:00:00Z');
    expect(result.statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(result.statuses.filter((status) => status === 409)).toHaveLength(MOST - 1);
    await expectOneWinner(result, MOST);
  });

  it(`books once under ${MOST} simultaneous acceptances spread over 5 patients`, async () => {
    const result = await race(5, MOST, '2099-09-03T09:00:00Z');
    await expectOneWinner(result, 5);
  });
});
