import { randomUUID } from 'node:crypto';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog } from '../test/fixtures.js';
import {
  as,
  knownPatients,
  organization,
  publishOrganizationSettings,
  startScheduling,
  type SchedulingUnderTest,
} from '../test/harness.js';

const ATTEMPTS = 20;

// Concurrency is proven on real Postgres only: the embedded database is one session and would serialize everything.
describe('scheduling service: no double booking, enforced by the database', () => {
  let service: SchedulingUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    // A connection per booking, so all of them really are in flight together.
    service = await startScheduling('double-booking', await kafkaBrokers(), { poolMax: ATTEMPTS + 2 });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  /** Books one provider `ATTEMPTS` times at once, each overlapping the others by at least 20 minutes. */
  async function race(organization: string, headers: Record<string, string>, records: Awaited<ReturnType<typeof catalog>>) {
    const patients = await knownPatients(service, organization, ATTEMPTS);
    const responses = await Promise.all(
      Array.from({ length: ATTEMPTS }, (_, i) =>
        service.app.inject({
          method: 'POST',
          url: '/api/appointments',
          headers,
          payload: booking(records, `2026-07-01T10:${String(i % 10).padStart(2, '0')}:00Z`, { patient: patients[i] }),
        }),
      ),
    );
    const statuses = responses.map((response) => response.statusCode);
    const rows = (await sql.query('SELECT count(*)::int AS n FROM appointment WHERE provider = $1', [records.provider])).rows[0]
      .n as number;
    const events = (
      await sql.query(
        "SELECT count(*)::int AS n FROM outbox WHERE envelope->>'type' = 'appointment.created' AND envelope->'data'->>'provider' = $1",
        [records.provider],
      )
    ).rows[0].n as number;
    return { responses, statuses, rows, events };
  }

  it(`lets exactly one of ${ATTEMPTS} simultaneous overlapping bookings of a provider through`, async () => {
    const org = organization();
    const headers = await as(org.staff);
    const records = await catalog(service.app, headers);
    const { responses, statuses, rows, events } = await race(org.id, headers, records);
    expect(
      statuses.filter((status) => status === 200),
      `statuses ${statuses.join(',')}: ${responses.find((r) => r.statusCode >= 500)?.body ?? ''}`,
    ).toHaveLength(1);
    expect(statuses.filter((status) => status === 409)).toHaveLength(ATTEMPTS - 1);
    for (const response of responses.filter((r) => r.statusCode === 409)) {
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json().detail).toBe('The provider already has an appointment at that time.');
    }
    expect(rows).toBe(1);
    expect(events).toBe(1);
  });

  it('lets every booking through once the organization allows double booking (auth’s settings.changed), and stops again when it no longer does', async () => {
    const org = organization();
    const headers = await as(org.staff);
    const records = await catalog(service.app, headers);
    const settingId = randomUUID();
    const setting = (allowDoubleBooking: boolean, time: Date) =>
      publishOrganizationSettings(service, org.id, { allowDoubleBooking, timeZone: 'UTC' }, { settingId, time });
    const stored = async () =>
      (await sql.query('SELECT allow_double_booking FROM organization_setting WHERE organization = $1', [org.id])).rows[0]
        ?.allow_double_booking as boolean | undefined;

    const allowed = await setting(true, new Date('2026-01-01T00:00:00Z'));
    await waitFor(async () => (await stored()) === true, { timeoutMs: 30_000, message: 'the setting kept from settings.changed' });
    // A redelivered event is handled once, and an older one arriving late changes nothing.
    await service.bus.publish([{ topic: 'auth.settings', key: settingId, value: JSON.stringify(allowed) }]);
    await publishOrganizationSettings(service, org.id, { allowDoubleBooking: false }, { time: new Date('2025-12-31T00:00:00Z') });
    await waitFor(async () => (await sql.query('SELECT count(*)::int AS n FROM inbox')).rows[0].n >= 2, {
      timeoutMs: 30_000,
      message: 'both events handled',
    });
    expect((await sql.query('SELECT count(*)::int AS n FROM inbox WHERE event_id = $1', [allowed.id])).rows[0].n).toBe(1);
    expect(await stored()).toBe(true);

    const { statuses, rows, events } = await race(org.id, headers, records);
    expect(statuses).toEqual(Array(ATTEMPTS).fill(200));
    expect(rows).toBe(ATTEMPTS);
    expect(events).toBe(ATTEMPTS);

    await setting(false, new Date('2026-01-02T00:00:00Z'));
    await waitFor(async () => (await stored()) === false, { timeoutMs: 30_000, message: 'double booking switched off' });
    const late = await service.app.inject({
      method: 'POST',
      url: '/api/appointments',
      headers,
      payload: booking(records, '2026-07-01T12:00:00Z'),
    });
    expect(late.statusCode).toBe(200);
    const overlapping = await service.app.inject({
      method: 'POST',
      url: '/api/appointments',
      headers,
      payload: booking(records, '2026-07-01T12:10:00Z'),
    });
    expect(overlapping.statusCode).toBe(409);
  });

  it('ignores settings of other subjects and of other organizations', async () => {
    const org = organization();
    const headers = await as(org.staff);
    const records = await catalog(service.app, headers);
    await publishOrganizationSettings(service, randomUUID(), { allowDoubleBooking: true });
    const marker = await publishOrganizationSettings(service, org.id, { allowDoubleBooking: false });
    await waitFor(async () => (await sql.query('SELECT 1 FROM inbox WHERE event_id = $1', [marker.id])).rows.length === 1, {
      timeoutMs: 30_000,
      message: 'marker handled',
    });
    expect(
      (await service.app.inject({ method: 'POST', url: '/api/appointments', headers, payload: booking(records, '2026-08-01T10:00:00Z') }))
        .statusCode,
    ).toBe(200);
    expect(
      (await service.app.inject({ method: 'POST', url: '/api/appointments', headers, payload: booking(records, '2026-08-01T10:00:00Z') }))
        .statusCode,
    ).toBe(409);
  });
});
