import { kafkaBrokers } from '@pep/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createPatient } from '../test/fixtures.js';
import { as, orgA, startPatients, type PatientsUnderTest } from '../test/harness.js';

const ROUNDS = 25;

// Concurrency is proven on real Postgres only: the embedded database is one session and would serialize everything.
describe('patients: merges racing each other and an edit', () => {
  let service: PatientsUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    service = await startPatients('merge-race', await kafkaBrokers());
    sql = await connect(service);
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  it(`merges each pair one way only, and a loser answers 409, in each of ${ROUNDS} rounds`, async () => {
    const headers = await as(orgA);
    for (let round = 0; round < ROUNDS; round += 1) {
      const [a, b, c] = await Promise.all(
        ['Ann', 'Bea', 'Cal'].map((firstname) => createPatient(service.app, orgA, { firstname, lastname: `Race${round}` })),
      );
      const ids = [a!._id, b!._id, c!._id];
      const merge = (survivor: string, merged: string) =>
        service.app.inject({ method: 'POST', url: '/api/patients/merge', headers, payload: { survivor, merged } });
      const responses = await Promise.all([
        merge(ids[0]!, ids[1]!),
        merge(ids[1]!, ids[0]!),
        merge(ids[2]!, ids[1]!),
        merge(ids[0]!, ids[2]!),
        merge(ids[2]!, ids[0]!),
        service.app.inject({ method: 'PUT', url: `/api/patients/${ids[0]}`, headers, payload: { city: `Town ${round}` } }),
      ]);
      for (const response of responses) {
        expect(response.statusCode, `round ${round}: ${response.body}`).toBeLessThan(500);
        if (response.statusCode !== 200) {
          expect([404, 409], `round ${round}: ${response.body}`).toContain(response.statusCode);
          expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
        }
      }
      const merges = responses.slice(0, 5);
      expect(merges.filter((response) => response.statusCode === 200).length, `round ${round}`).toBeGreaterThanOrEqual(1);
      const rows = (
        await sql.query('SELECT id::text AS id, merged_into::text AS "mergedInto" FROM patient WHERE id = ANY($1::uuid[])', [ids])
      ).rows as Array<{ id: string; mergedInto: string | null }>;
      const mergedInto = new Map(rows.map((row) => [row.id, row.mergedInto]));
      // Exactly one of the three survives, and every other record points straight at it: never a chain, never a cycle.
      const survivors = rows.filter((row) => row.mergedInto === null);
      expect(survivors, `round ${round}: ${JSON.stringify(rows)}`).toHaveLength(1);
      for (const row of rows)
        if (row.mergedInto !== null) expect(mergedInto.get(row.mergedInto), `round ${round}: ${JSON.stringify(rows)}`).toBeNull();
    }
  });
});
