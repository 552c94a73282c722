import { fileURLToPath } from 'node:url';
import { parseEvent } from '@pep/contracts';
import { assertNoSchemaDrift } from '@pep/schema-drift';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, orgA, orgB, startPatients, type PatientsUnderTest } from '../test/harness.js';

describe('patients service against real Postgres and Kafka', () => {
  let service: PatientsUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    service = await startPatients('patients', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const journey = async (id: string, identity = orgA) =>
    (await service.app.inject({ url: `/api/patients/${id}/journey`, headers: await as(identity) })).json().response as Array<{
      type: string;
    }>;
  const counts = async () => {
    const { rows } = await sql.query<{ patients: string; outbox: string }>(
      'SELECT (SELECT count(*) FROM patient) AS patients, (SELECT count(*) FROM outbox) AS outbox',
    );
    return rows[0];
  };

  it('has no drift between its migrations and schema.prisma', async () => {
    await assertNoSchemaDrift({ schemaPath: fileURLToPath(new URL('../prisma/schema.prisma', import.meta.url)), db: service.database });
  });

  it('creates a patient whose event arrives once at the consumer, through the outbox', async () => {
    const created = await service.app.inject({
      method: 'POST',
      url: '/api/patients',
      headers: await as(orgA),
      payload: { firstname: 'Ada', lastname: 'Lovelace', phone: '(415) 555-2671', email: 'ada@example.com', dateOfBirth: '1990-12-10' },
    });
    expect(created.statusCode).toBe(200);
    const patient = created.json();
    expect(patient).toMatchObject({ firstname: 'Ada', phone: '+14155552671', organization: orgA.organization, name: 'Ada Lovelace' });

    const fetched = await service.app.inject({ url: `/api/patients/${patient._id}`, headers: await as(orgA) });
    expect(fetched.json()).toEqual(patient);

    await waitFor(async () => (await journey(patient._id)).length === 1, { timeoutMs: 30_000, message: 'journey entry' });
    // Let any duplicate delivery surface before asserting there was exactly one effect.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await journey(patient._id)).map((entry) => entry.type)).toEqual(['patient.created']);
    const { rows } = await sql.query('SELECT published_at FROM outbox WHERE key = $1', [patient._id]);
    expect(rows).toHaveLength(1);
    expect(rows[0].published_at).not.toBeNull();
  });

  it('applies a redelivered event once', async () => {
    const created = (
      await service.app.inject({
        method: 'POST',
        url: '/api/patients',
        headers: await as(orgA),
        payload: { firstname: 'Grace', lastname: 'Hopper' },
      })
    ).json();
    await waitFor(async () => (await journey(created._id)).length === 1, { timeoutMs: 30_000, message: 'first delivery' });
    const { rows } = await sql.query<{ topic: string; key: string; envelope: unknown }>(
      'SELECT topic, key, envelope FROM outbox WHERE key = $1',
      [created._id],
    );
    const original = rows[0]!;
    const envelope = parseEvent(original.envelope);
    // The same event published twice more, as a producer retry or a replayed partition would.
    await service.bus.publish([
      { topic: original.topic, key: original.key, value: JSON.stringify(envelope) },
      { topic: original.topic, key: original.key, value: JSON.stringify(envelope) },
    ]);
    const marker = (
      await service.app.inject({
        method: 'POST',
        url: '/api/patients',
        headers: await as(orgA),
        payload: { firstname: 'Marker', lastname: 'After' },
      })
    ).json();
    // Events on one topic are consumed in order per partition; the marker proves the consumer got past the duplicates.
    await waitFor(async () => (await journey(marker._id)).length === 1, { timeoutMs: 30_000, message: 'marker delivery' });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await journey(created._id)).toHaveLength(1);
    const inbox = await sql.query('SELECT count(*)::int AS n FROM inbox WHERE event_id = $1', [envelope.id]);
    expect(inbox.rows[0].n).toBe(1);
  });

  it("answers 404 for another organization's patient and its journey", async () => {
    const created = (
      await service.app.inject({
        method: 'POST',
        url: '/api/patients',
        headers: await as(orgA),
        payload: { firstname: 'Only', lastname: 'Mine' },
      })
    ).json();
    for (const url of [`/api/patients/${created._id}`, `/api/patients/${created._id}/journey`]) {
      const response = await service.app.inject({ url, headers: await as(orgB) });
      expect(response.statusCode).toBe(404);
      expect(response.headers['content-type']).toMatch(/problem\+json/);
      expect(response.body).not.toContain('Only');
    }
  });

  it('refuses bad input with problem+json and changes nothing', async () => {
    const before = await counts();
    const headers = await as(orgA);
    const attempts = [
      { payload: '{"firstname": "Ada",', headers: { ...headers, 'content-type': 'application/json' }, status: 400, field: undefined },
      { payload: { firstname: 3, lastname: 'X' }, headers, status: 400, field: 'body.firstname' },
      { payload: { firstname: 'A', lastname: 'B', ssn: '123' }, headers, status: 400, field: 'body.ssn' },
      { payload: { firstname: 'A', lastname: 'B', phone: 'not a phone' }, headers, status: 400, field: 'body.phone' },
      { payload: { firstname: 'A', lastname: 'B', dateOfBirth: '31/12/1990' }, headers, status: 400, field: 'body.dateOfBirth' },
      { payload: { firstname: 'A'.repeat(20_000), lastname: 'B' }, headers, status: 413, field: undefined },
      { payload: { firstname: 'A', lastname: 'B' }, headers: {}, status: 401, field: undefined },
    ];
    for (const attempt of attempts) {
      const response = await service.app.inject({
        method: 'POST',
        url: '/api/patients',
        headers: attempt.headers,
        payload: attempt.payload,
      });
      expect(response.statusCode, JSON.stringify(attempt.payload).slice(0, 60)).toBe(attempt.status);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      if (attempt.field) expect(response.json().errors.map((error: { field: string }) => error.field)).toContain(attempt.field);
    }
    expect(await counts()).toEqual(before);
  });
});
