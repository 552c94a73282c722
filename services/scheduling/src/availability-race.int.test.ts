import { kafkaBrokers } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog, create } from '../test/fixtures.js';
import { as, knownPatient, knownPatients, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';

const MOST = 30;

// Concurrency is proven on real Postgres only: the embedded database is one session and would serialize everything.
describe('scheduling service: simultaneous bookings of one availability', () => {
  let service: SchedulingUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    // A connection per booking, so all of them really are in flight together.
    service = await startScheduling('availability-race', await kafkaBrokers(), { poolMax: MOST + 2 });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const count = async (query: string, values: unknown[]) => (await sql.query(query, values)).rows[0].n as number;
  const outboxOf = async (organization: string, type: string) =>
    (
      await sql.query("SELECT envelope FROM outbox WHERE envelope->>'organization' = $1 AND envelope->>'type' = $2", [organization, type])
    ).rows.map((row) => row.envelope);

  it(`lets exactly one of ${MOST} simultaneous bookings of a slot through, by either route`, async () => {
    const org = organization();
    const headers = await as(org.staff);
    const records = await catalog(service.app, await as(org.admin));
    const slot = await create(service.app, headers, '/api/availabilities', {
      provider: records.provider,
      facility: records.facility,
      appointmentType: records.type,
      date: '2099-06-01T14:00:00Z',
    });
    const patients = await knownPatients(service, org.id, MOST);
    const responses = await Promise.all(
      patients.map((patient, i) =>
        service.app.inject({
          method: i % 2 === 0 ? 'PUT' : 'POST',
          url: i % 2 === 0 ? `/api/availabilities/${slot._id}/book` : `/api/availabilities/book/${slot._id}`,
          headers,
          payload: { patient },
        }),
      ),
    );
    const winners = responses.filter((response) => response.statusCode === 200);
    expect(winners).toHaveLength(1);
    for (const response of responses.filter((r) => r.statusCode !== 200)) {
      expect(response.statusCode).toBe(409);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.json().detail).toBe('The availability is booked, not available.');
    }
    const won = winners[0]!.json();
    const winner = patients[responses.indexOf(winners[0]!)];
    expect(won).toMatchObject({ status: 'booked' });
    expect(await count('SELECT count(*)::int AS n FROM appointment WHERE organization = $1', [org.id])).toBe(1);
    expect(await count('SELECT count(*)::int AS n FROM appointment WHERE id = $1 AND patient = $2', [won.appointment, winner])).toBe(1);
    expect(
      await count("SELECT count(*)::int AS n FROM availability WHERE id = $1 AND status = 'booked' AND appointment = $2", [
        slot._id,
        won.appointment,
      ]),
    ).toBe(1);
    expect(await outboxOf(org.id, 'availability.booked')).toHaveLength(1);
    expect(await outboxOf(org.id, 'appointment.created')).toHaveLength(1);
  });

  it('lets a booking of a slot and a direct appointment at that time not both through, and the loser changes nothing', async () => {
    const org = organization();
    const headers = await as(org.staff);
    const records = await catalog(service.app, await as(org.admin));
    const rounds = 10;
    let bookedBySlot = 0;
    for (let round = 0; round < rounds; round += 1) {
      const date = `2099-07-${String(round + 1).padStart(2, '0')}T14:00:00.000Z`;
      const slot = await create(service.app, headers, '/api/availabilities', {
        provider: records.provider,
        facility: records.facility,
        appointmentType: records.type,
        date,
      });
      const [viaSlot, direct] = await Promise.all([
        service.app.inject({
          method: 'PUT',
          url: `/api/availabilities/${slot._id}/book`,
          headers,
          payload: { patient: await knownPatient(service, org.id) },
        }),
        service.app.inject({
          method: 'POST',
          url: '/api/appointments',
          headers,
          payload: booking(records, date.replace('14:00', '14:15'), { patient: await knownPatient(service, org.id) }),
        }),
      ]);
      expect([viaSlot.statusCode, direct.statusCode].sort()).toEqual([200, 409]);
      const availability = (await service.app.inject({ url: `/api/availabilities/${slot._id}`, headers })).json();
      if (viaSlot.statusCode === 200) {
        bookedBySlot += 1;
        expect(availability).toMatchObject({ status: 'booked', appointment: viaSlot.json().appointment });
      } else {
        expect(viaSlot.json().detail).toBe('The provider already has an appointment at that time.');
        expect(availability).toMatchObject({ status: 'available', appointment: null });
      }
    }
    expect(await count('SELECT count(*)::int AS n FROM appointment WHERE organization = $1', [org.id])).toBe(rounds);
    expect(await outboxOf(org.id, 'availability.booked')).toHaveLength(bookedBySlot);
  });
});
