import { createServer } from 'node:net';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog } from '../test/fixtures.js';
import { as, observe, organization, publishOrganizationSettings, startScheduling, type SchedulingUnderTest } from '../test/harness.js';

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// The v1 client books with {facility, provider, status, source: "manual", duration: "15", user, patient, date}: no type.
describe('scheduling: the v1 booking body', () => {
  let service: SchedulingUnderTest;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    // Nothing listens where auth would: a `user` scheduling cannot judge from the token cannot be checked.
    service = await startScheduling('v1-booking', brokers, {
      authUrl: `http://127.0.0.1:${await closedPort()}`,
      ownerLookupTimeoutMs: 1_000,
    });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    events = await observe(service, brokers, ['scheduling.appointment']);
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await service?.close();
  });

  it('books without a type: the duration given as a string, else the organization’s setting, else 15; appointment.created carries type null', async () => {
    const org = organization();
    const headers = await as(org.staff);
    const { provider, facility, patient } = await catalog(service.app, headers);
    const v1Body = (date: string, extra: Record<string, unknown> = {}) => ({
      facility,
      provider,
      status: 'unconfirmed',
      source: 'manual',
      user: org.id,
      patient,
      date,
      ...extra,
    });

    const given = await service.app.inject({
      method: 'POST',
      url: '/api/appointments',
      headers,
      payload: v1Body('2036-04-01T14:00:00Z', { duration: '45' }),
    });
    expect(given.statusCode, given.body).toBe(200);
    expect(given.json()).toMatchObject({ type: null, duration: 45, source: 'manual', user: org.id });
    const created = await waitFor(
      () => events.seen.find((event) => event.type === 'appointment.created' && event.subject === given.json()._id),
      { timeoutMs: 30_000, message: 'appointment.created' },
    );
    expect(created.data).toMatchObject({ type: null, duration: 45, source: 'manual' });

    const byDefault = await service.app.inject({
      method: 'POST',
      url: '/api/appointments',
      headers,
      payload: v1Body('2036-04-01T15:00:00Z'),
    });
    expect(byDefault.json()).toMatchObject({ type: null, duration: 15 });

    await publishOrganizationSettings(service, org.id, { appointmentDurationMinutes: 20 });
    await waitFor(
      async () =>
        (await sql.query('SELECT appointment_duration_minutes AS m FROM organization_setting WHERE organization = $1', [org.id])).rows[0]
          ?.m === 20,
      {
        timeoutMs: 30_000,
        message: 'the duration setting kept from settings.changed',
      },
    );
    const bySetting = await service.app.inject({
      method: 'POST',
      url: '/api/appointments',
      headers,
      payload: v1Body('2036-04-01T16:00:00Z', { user: org.staff.user }),
    });
    expect(bySetting.json()).toMatchObject({ type: null, duration: 20 });
  });

  it('answers 503 with Retry-After, booking nothing, when a user that is neither the organization nor the caller cannot be checked with auth', async () => {
    // Whether such a user is the organization's is auth's to say; the 404 for another tenant's users, and the 200 for a
    // colleague, run against the real auth in services/embedded/src/v1-clients.int.test.ts.
    const org = organization();
    const other = organization();
    const headers = await as(org.staff);
    const { provider, facility, patient } = await catalog(service.app, headers);
    for (const user of [other.id, other.admin.user, org.admin.user]) {
      const refused = await service.app.inject({
        method: 'POST',
        url: '/api/appointments',
        headers,
        payload: {
          facility,
          provider,
          status: 'unconfirmed',
          source: 'manual',
          duration: '15',
          user,
          patient,
          date: '2036-04-02T14:00:00Z',
        },
      });
      expect(refused.statusCode, refused.body).toBe(503);
      expect(refused.headers['retry-after']).toBe('5');
      expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(refused.json()).toMatchObject({ type: '/problems/owner-unavailable', status: 503 });
    }
    expect((await sql.query('SELECT count(*)::int AS n FROM appointment WHERE organization = $1', [org.id])).rows[0].n).toBe(0);
  });
});
