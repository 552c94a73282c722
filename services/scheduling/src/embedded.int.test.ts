import { fileURLToPath } from 'node:url';
import { InProcessBus, type Subscription } from '@pep/bus';
import { createEvent, parseEvent, settingsChangedV1, type EventEnvelope } from '@pep/contracts';
import { migrate, type Database, openDatabase } from '@pep/db';
import { assertNoSchemaDrift } from '@pep/schema-drift';
import { createLogger, type ServiceApp } from '@pep/service-kit';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog, create } from '../test/fixtures.js';
import { announcingPatients, as, organization, patientFor, SECRET, usePatientSource } from '../test/harness.js';
import { buildApp } from './app.js';
import { HAND_WRITTEN_INDEXES, migrationsDir } from './migrations.js';

// The embedded runtime runs the same code on PGlite and the in-process bus; this proves the migration (btree_gist and
// the exclusion constraint) and the raw SQL work there too.
describe('scheduling service on PGlite and the in-process bus (embedded runtime)', () => {
  let database: Database;
  let bus: InProcessBus;
  let app: ServiceApp;
  let subscription: Subscription;
  const seen: EventEnvelope[] = [];

  beforeAll(async () => {
    database = await openDatabase({ kind: 'pglite', dataDir: null });
    await migrate(database, { migrationsDir });
    bus = new InProcessBus();
    // No patients service here: every patient is announced on the bus, as the embedded runtime's patients would.
    app = await buildApp({
      logger: createLogger({ service: 'scheduling', level: 'silent' }),
      database,
      bus,
      internalAuthSecret: SECRET,
      patientsUrl: () => undefined,
    });
    await app.ready();
    const session = await database.sql.connect();
    usePatientSource(
      app,
      announcingPatients(bus, async (ids) => (await session.query('SELECT id FROM patient WHERE id = ANY($1::uuid[])', [ids])).rows.length),
    );
    subscription = await bus.subscribe({
      groupId: 'test.observer',
      topics: ['scheduling.appointment'],
      handler: async (message) => {
        seen.push(parseEvent(message.value));
      },
    });
  });
  afterAll(async () => {
    await subscription?.stop();
    await app?.close();
    await bus?.close();
    await database?.close();
  });

  it('has no drift between its migrations and schema.prisma', async () => {
    await assertNoSchemaDrift({
      schemaPath: fileURLToPath(new URL('../prisma/schema.prisma', import.meta.url)),
      db: database,
      ignoreIndexes: HAND_WRITTEN_INDEXES,
    });
  });

  it('books, refuses a double booking, confirms, and publishes on the in-process bus', async () => {
    const org = organization();
    const headers = await as(org.staff);
    const records = await catalog(app, headers);
    const book = (date: string) => app.inject({ method: 'POST', url: '/api/appointments', headers, payload: booking(records, date) });
    const first = await book('2026-10-01T09:00:00Z');
    expect(first.statusCode).toBe(200);
    const clash = await book('2026-10-01T09:29:00Z');
    expect(clash.statusCode).toBe(409);
    expect(clash.json().detail).toBe('The provider already has an appointment at that time.');
    const id = first.json()._id as string;
    expect((await app.inject({ method: 'PUT', url: `/api/appointments/${id}/confirm`, headers })).json().status).toBe('confirmed');
    const events = await waitFor(
      () => (seen.filter((event) => event.subject === id).length >= 2 ? seen.filter((event) => event.subject === id) : null),
      {
        message: 'appointment events on the in-process bus',
      },
    );
    expect(events.map((event) => event.type)).toEqual(['appointment.created', 'appointment.confirmed']);
    expect(events[0]!.data).toMatchObject({ timeZone: 'America/New_York' });
    const listed = (await app.inject({ url: '/api/appointments?date=>=2026-10-01T00:00:00Z&date=<2026-10-02T00:00:00Z', headers })).json();
    expect(listed.total).toBe(1);
  });

  it('allows double booking once auth’s settings.changed says so', async () => {
    const org = organization();
    const headers = await as(org.staff);
    const records = await catalog(app, headers);
    const settingId = org.id;
    const event = createEvent(settingsChangedV1, {
      source: '/services/auth',
      organization: org.id,
      subject: settingId,
      data: {
        _id: settingId,
        organization: org.id,
        ref: 'organization',
        refId: org.id,
        settings: { allowDoubleBooking: true },
        unsubscribed: [],
        unsubscribedAll: false,
        deleted: false,
      },
    });
    await bus.publish([{ topic: settingsChangedV1.topic, key: settingId, value: JSON.stringify(event) }]);
    const session = await database.sql.connect();
    await waitFor(
      async () =>
        (await session.query('SELECT 1 FROM organization_setting WHERE organization = $1 AND allow_double_booking', [org.id])).rows
          .length === 1,
      {
        message: 'the setting kept',
      },
    );
    const book = () => app.inject({ method: 'POST', url: '/api/appointments', headers, payload: booking(records, '2026-10-05T09:00:00Z') });
    expect((await book()).statusCode).toBe(200);
    expect((await book()).statusCode).toBe(200);
  });

  it('offers a cancelled slot to the waitlist and books the first acceptance (raw SQL, locks and savepoints on PGlite)', async () => {
    const org = organization();
    const headers = await as(org.staff);
    const records = await catalog(app, headers);
    const entries: Array<Awaited<ReturnType<typeof create>>> = [];
    for (let i = 0; i < 2; i += 1)
      entries.push(await create(app, headers, '/api/waitlists', { patient: await patientFor(app, headers), provider: records.provider }));
    const booked = (
      await app.inject({ method: 'POST', url: '/api/appointments', headers, payload: booking(records, '2099-10-01T09:00:00Z') })
    ).json();
    await app.inject({ method: 'PUT', url: `/api/appointments/${booked._id}/cancel`, headers });
    await waitFor(async () => (await app.inject({ url: `/api/waitlists/${entries[1]!._id}`, headers })).json().status === 'offered', {
      message: 'the freed slot offered',
    });
    const accepted = await app.inject({ url: `/api/waitlists/confirmOffer/${entries[1]!._id}`, headers });
    expect(accepted.json()).toMatchObject({ status: 'accepted' });
    expect((await app.inject({ url: `/api/waitlists/confirmOffer/${entries[0]!._id}`, headers })).statusCode).toBe(409);
    const offers = (await app.inject({ url: '/api/offers', headers })).json();
    expect(offers.response[0]).toMatchObject({ status: 'patient-found', patientFound: entries[1]!.patient, source: 'cancellation' });
  });

  it('adds working hours, books one slot and answers the open slots and free/busy time (raw SQL and unnest on PGlite)', async () => {
    const org = organization();
    const headers = await as(org.staff);
    const records = await catalog(app, headers);
    const hours = await app.inject({
      method: 'POST',
      url: '/api/availabilities',
      headers,
      payload: {
        provider: records.provider,
        facility: records.facility,
        appointmentType: records.type,
        workingHours: { from: '2099-03-08', until: '2099-03-08', weekdays: [7], start: '09:00', end: '10:00' },
      },
    });
    expect(hours.statusCode, hours.body).toBe(200);
    const [first] = hours.json() as Array<{ _id: string }>;
    expect(
      (
        await app.inject({
          method: 'POST',
          url: `/api/availabilities/book/${first!._id}`,
          headers,
          payload: { patient: booking(records, '').patient },
        })
      ).json().status,
    ).toBe('booked');
    const open = (
      await app.inject({ url: `/api/scheduler/availabilities?provider=${records.provider}&from=2099-03-08&to=2099-03-08`, headers })
    ).json();
    // 2099-03-08 is the US spring-forward Sunday: 09:30 local is 13:30 UTC.
    expect(open.response.map((slot: { date: string }) => slot.date)).toEqual(['2099-03-08T13:30:00.000Z']);
    const freeBusy = (
      await app.inject({
        url: `/api/availabilities/freebusy?provider=${records.provider}&facility=${records.facility}&from=2099-03-08&to=2099-03-08`,
        headers,
      })
    ).json();
    expect(freeBusy).toMatchObject({
      busy: [{ start: '2099-03-08T13:00:00.000Z', end: '2099-03-08T13:30:00.000Z' }],
      free: [{ start: '2099-03-08T13:30:00.000Z', end: '2099-03-08T14:00:00.000Z' }],
    });
  });
});
