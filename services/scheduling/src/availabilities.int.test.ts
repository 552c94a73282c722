import { randomUUID } from 'node:crypto';
import type { EventEnvelope } from '@pep/contracts';
import { kafkaBrokers, waitFor } from '@pep/testing';
import { DateTime } from 'luxon';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog, create } from '../test/fixtures.js';
import { as, knownPatient, observe, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';

type Availability = { _id: string; status: string; date: string; offer: string | null; appointment: string | null } & Record<
  string,
  unknown
>;

describe('scheduling service: availabilities and open slots', () => {
  let service: SchedulingUnderTest;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  // The service's clock: slots expire by it.
  let clock = new Date('2026-02-20T12:00:00Z');

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    service = await startScheduling('availabilities', brokers, { now: () => clock, offerExpiryIntervalMs: 100 });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    events = await observe(service, brokers, ['scheduling.availability', 'scheduling.appointment', 'scheduling.offer']);
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await service?.close();
  });

  /** An organization with a catalog (facility in America/New_York, 30-minute type) and a caller for it. */
  async function clinic() {
    const org = organization();
    const records = await catalog(service.app, await as(org.admin));
    const call = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, caller = org.staff) =>
      service.app.inject({
        method,
        url,
        headers: await as(caller),
        ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
      });
    const slot = { provider: records.provider, facility: records.facility, appointmentType: records.type };
    const add = async (date: string, extra: Record<string, unknown> = {}) => {
      const response = await call('POST', '/api/availabilities', { ...slot, date, ...extra });
      expect(response.statusCode, response.body).toBe(200);
      return response.json() as Availability;
    };
    const open = async (query: string) => {
      const response = await call('GET', `/api/scheduler/availabilities?limit=100&${query}`);
      expect(response.statusCode, response.body).toBe(200);
      return (response.json().response as Availability[]).map((availability) => availability.date);
    };
    return { org, records, call, slot, add, open };
  }

  const eventsOf = (subject: string, type: string, count = 1) =>
    waitFor(
      () => {
        const found = events.seen.filter((event) => event.subject === subject && event.type === type);
        return found.length >= count ? (found as Array<EventEnvelope<Record<string, unknown>>>) : null;
      },
      { timeoutMs: 30_000, message: `${type} of ${subject}` },
    );
  const rows = async (organization: string) => ({
    availabilities: (await sql.query('SELECT * FROM availability WHERE organization = $1 ORDER BY id', [organization])).rows,
    appointments: (await sql.query('SELECT * FROM appointment WHERE organization = $1 ORDER BY id', [organization])).rows,
    outbox: (await sql.query("SELECT id FROM outbox WHERE envelope->>'organization' = $1", [organization])).rows.length,
  });

  it('adds one availability, several, and weekly working hours in the facility’s time zone, across the spring-forward Sunday', async () => {
    const { org, records, call, slot, add, open } = await clinic();
    const one = await add('2026-03-02T15:00:00Z', { externalId: 'ehr-1' });
    expect(one).toMatchObject({
      organization: org.id,
      ...slot,
      date: '2026-03-02T15:00:00.000Z',
      duration: 30,
      endDate: '2026-03-02T15:30:00.000Z',
      timeZone: 'America/New_York',
      externalId: 'ehr-1',
      status: 'available',
      offer: null,
      appointment: null,
      locked: false,
      deleted: 0,
      createdBy: org.staff.user,
    });
    expect((await call('GET', `/api/availabilities/${one._id}`, undefined, org.provider)).json()).toEqual(one);
    const [openedEvent] = await eventsOf(one._id, 'availability.opened');
    expect(openedEvent!.data).toMatchObject({
      reason: 'created',
      status: 'available',
      date: one.date,
      endDate: one.endDate,
      timeZone: 'America/New_York',
      appointmentType: records.type,
    });

    const several = await call('POST', '/api/availabilities', [
      { provider: records.provider, facility: records.facility, date: '2026-03-03T15:00:00Z', duration: 60 },
      { ...slot, date: '2026-03-03T14:00:00Z', locked: true },
    ]);
    expect(several.statusCode, several.body).toBe(200);
    expect(several.json().map((a: Availability) => [a.date, a.duration, a.appointmentType, a.locked])).toEqual([
      ['2026-03-03T14:00:00.000Z', 30, records.type, true],
      ['2026-03-03T15:00:00.000Z', 60, null, false],
    ]);

    // Sundays 09:00–12:00 local from 1 to 15 March: 2026-03-08 is the US spring-forward day.
    const hours = await call('POST', '/api/availabilities', {
      ...slot,
      workingHours: { from: '2026-03-01', until: '2026-03-15', weekdays: [7], start: '09:00', end: '12:00' },
    });
    expect(hours.statusCode, hours.body).toBe(200);
    const sundays = hours.json() as Availability[];
    expect(sundays).toHaveLength(18);
    expect(
      sundays
        .map((a) => DateTime.fromISO(a.date, { zone: 'America/New_York' }).toFormat('ccc HH:mm'))
        .every((local) => /^Sun (09|10|11):(00|30)$/.test(local)),
    ).toBe(true);
    expect(
      sundays.filter((a) => DateTime.fromISO(a.date, { zone: 'America/New_York' }).toFormat('HH:mm') === '09:00').map((a) => a.date),
    ).toEqual(['2026-03-01T14:00:00.000Z', '2026-03-08T13:00:00.000Z', '2026-03-15T13:00:00.000Z']);
    // The scheduler's local day of 2026-03-08 is 23 hours long and holds that Sunday's six slots from 13:00 UTC.
    expect(await open(`provider=${records.provider}&from=2026-03-08&to=2026-03-08`)).toEqual(
      ['13:00', '13:30', '14:00', '14:30', '15:00', '15:30'].map((time) => `2026-03-08T${time}:00.000Z`),
    );
    // The Sundays, the first one and the unlocked one of the two: a locked slot is not open.
    expect(
      (await call('GET', `/api/scheduler/availabilities/count?provider=${records.provider}&from=2026-03-01&to=2026-03-15`)).json(),
    ).toEqual({ count: 18 + 1 + 1 });
  });

  it('keeps the fall-back Sunday’s hours at 09:00 local, 14:00 UTC', async () => {
    const { call, slot, open, records } = await clinic();
    const hours = await call('POST', '/api/availabilities', {
      ...slot,
      workingHours: { from: '2026-10-25', until: '2026-11-08', weekdays: [7], start: '09:00', end: '12:00', slotMinutes: 60 },
    });
    expect(hours.statusCode, hours.body).toBe(200);
    expect(await open(`provider=${records.provider}&from=2026-10-25&to=2026-11-08`)).toEqual([
      '2026-10-25T13:00:00.000Z',
      '2026-10-25T14:00:00.000Z',
      '2026-10-25T15:00:00.000Z',
      '2026-11-01T14:00:00.000Z',
      '2026-11-01T15:00:00.000Z',
      '2026-11-01T16:00:00.000Z',
      '2026-11-08T14:00:00.000Z',
      '2026-11-08T15:00:00.000Z',
      '2026-11-08T16:00:00.000Z',
    ]);
  });

  it('refuses bad availabilities naming the field, and a second availability of the provider at one start (409), creating nothing', async () => {
    const { org, call, slot, add, records } = await clinic();
    await add('2026-04-01T15:00:00Z');
    const before = await rows(org.id);
    const bad = await call('POST', '/api/availabilities', [
      { ...slot, date: '2026-04-02T15:00:00Z', provider: randomUUID() },
      { provider: records.provider, facility: records.facility, date: '2026-04-02T16:00:00Z' },
      { ...slot, date: '2026-02-01T15:00:00Z' },
    ]);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors).toEqual([
      { field: 'body.0.provider', message: 'no such provider' },
      { field: 'body.1.duration', message: 'required without an appointment type' },
      { field: 'body.2.date', message: 'must be in the future' },
    ]);
    const twice = await call('POST', '/api/availabilities', [
      { ...slot, date: '2026-04-02T15:00:00Z' },
      { ...slot, date: '2026-04-01T15:00:00.000+00:00' },
    ]);
    expect(twice.statusCode).toBe(409);
    expect(twice.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(twice.json().errors).toEqual([{ field: 'body.1.date', message: 'the provider already has an availability starting then' }]);
    const hours = await call('POST', '/api/availabilities', {
      ...slot,
      workingHours: { from: '2026-04-01', until: '2026-04-01', weekdays: [3], start: '12:00', end: '10:00' },
    });
    expect(hours.statusCode).toBe(400);
    expect(hours.json().errors[0].field).toBe('body.workingHours.end');
    expect(await rows(org.id)).toEqual(before);
    // Only staff and integrations maintain availabilities.
    expect((await call('POST', '/api/availabilities', { ...slot, date: '2026-04-03T15:00:00Z' }, org.provider)).statusCode).toBe(403);
    expect((await call('POST', '/api/availabilities', { ...slot, date: '2026-04-03T15:00:00Z' }, org.integrator)).statusCode).toBe(200);
  });

  it('names the field at fault in each shape of availability body, never `body: Invalid input`', async () => {
    const { org, call, slot, records } = await clinic();
    const before = await rows(org.id);
    const fieldsOf = async (method: 'POST' | 'PUT', payload: unknown) => {
      const response = await call(method, '/api/availabilities', payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      return (response.json().errors as Array<{ field: string }>).map((error) => error.field);
    };
    expect(await fieldsOf('POST', { provider: 'nobody', facility: records.facility, date: 'tomorrow' })).toEqual([
      'body.provider',
      'body.date',
    ]);
    expect(await fieldsOf('POST', {})).toEqual(['body.provider', 'body.facility', 'body.date']);
    expect(
      await fieldsOf('POST', [
        { ...slot, date: '2026-04-02T15:00:00Z' },
        { ...slot, date: 'soon' },
      ]),
    ).toEqual(['body.1.date']);
    expect(
      await fieldsOf('POST', { ...slot, workingHours: { from: 'monday', until: '2026-04-30', weekdays: [8], start: '9am', end: '17:00' } }),
    ).toEqual(['body.workingHours.from', 'body.workingHours.weekdays.0', 'body.workingHours.start']);
    expect(await fieldsOf('POST', { ...slot, date: '2026-04-02T15:00:00Z', colour: 'red' })).toEqual(['body.colour']);
    const first = randomUUID();
    expect(
      await fieldsOf('PUT', [
        { _id: first, locked: true },
        { _id: randomUUID(), locked: false },
        { _id: first, locked: false },
      ]),
    ).toEqual(['body.2._id']);
    expect(await fieldsOf('PUT', [{ _id: first }])).toEqual(['body.0']);
    expect(await rows(org.id)).toEqual(before);
  });

  it('lists availabilities by provider, facility, appointment type, state and date', async () => {
    const { org, call, slot, add, records } = await clinic();
    const other = await create(service.app, await as(org.admin), '/api/providers', { firstname: 'Other', lastname: 'Doctor' });
    const a = await add('2026-05-01T13:00:00Z');
    const b = await add('2026-05-01T14:00:00Z', { appointmentType: undefined, duration: 45 });
    const c = await add('2026-05-02T13:00:00Z', { provider: other._id });
    await call('PUT', '/api/availabilities', [{ _id: c._id, status: 'booked-pending' }]);
    const ids = async (query: string) =>
      ((await call('GET', `/api/availabilities?${query}`)).json().response as Availability[]).map((availability) => availability._id);
    expect(await ids('')).toEqual([a._id, b._id, c._id]);
    expect(await ids(`provider=${records.provider}`)).toEqual([a._id, b._id]);
    expect(await ids(`facility=${records.facility}&status=booked-pending`)).toEqual([c._id]);
    expect(await ids(`appointmentType=${slot.appointmentType}`)).toEqual([a._id, b._id, c._id]);
    expect(await ids('date=>2026-05-01T13:00:00Z&date=<2026-05-02T00:00:00Z')).toEqual([b._id]);
    expect(await ids('status=available&limit=1&page=2')).toEqual([b._id]);
    const page = (await call('GET', `/api/providers/${other._id}/availabilities`)).json();
    expect(page).toMatchObject({ page: 1, limit: 25, total: 1 });
    expect(page.response[0]._id).toBe(c._id);
    expect((await call('GET', `/api/providers/${randomUUID()}/availabilities`)).statusCode).toBe(404);
  });

  it('books an available slot for a patient: the appointment and the booked availability commit together', async () => {
    const { org, call, add } = await clinic();
    const slot = await add('2026-03-10T14:00:00Z');
    const patient = await knownPatient(service, org.id);
    const booked = await call('PUT', `/api/availabilities/${slot._id}/book`, { patient, status: 'confirmed' });
    expect(booked.statusCode, booked.body).toBe(200);
    expect(booked.json()).toMatchObject({ _id: slot._id, status: 'booked', updatedBy: org.staff.user });
    const appointment = (await call('GET', `/api/appointments/${booked.json().appointment}`)).json();
    expect(appointment).toMatchObject({
      patient,
      provider: slot.provider,
      facility: slot.facility,
      type: slot.appointmentType,
      date: slot.date,
      duration: 30,
      status: 'confirmed',
      source: 'ui',
    });
    const [event] = await eventsOf(slot._id, 'availability.booked');
    expect(event!.data).toMatchObject({ status: 'booked', appointment: appointment._id, patient });
    await eventsOf(appointment._id, 'appointment.created');

    // Booking it again, by either route, answers 409 and changes nothing.
    const before = await rows(org.id);
    for (const [method, url] of [
      ['PUT', `/api/availabilities/${slot._id}/book`],
      ['POST', `/api/availabilities/book/${slot._id}`],
    ] as const) {
      const again = await call(method, url, { patient: await knownPatient(service, org.id) });
      expect(again.statusCode).toBe(409);
      expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(again.json()).toMatchObject({ status: 409, detail: 'The availability is booked, not available.' });
    }
    expect(await rows(org.id)).toEqual(before);
  });

  it('refuses to book a slot the provider is busy in, a locked one, and one with no type without a type, changing nothing', async () => {
    const { org, records, call, add } = await clinic();
    const busy = await add('2026-03-11T14:00:00Z');
    const locked = await add('2026-03-11T15:00:00Z', { locked: true });
    const untyped = await add('2026-03-11T16:00:00Z', { appointmentType: undefined, duration: 60 });
    expect((await call('POST', '/api/appointments', booking(records, '2026-03-11T14:15:00Z'))).statusCode).toBe(200);
    const before = await rows(org.id);
    const taken = await call('POST', `/api/availabilities/book/${busy._id}`, { patient: await knownPatient(service, org.id) });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().detail).toBe('The provider already has an appointment at that time.');
    expect(
      (await call('POST', `/api/availabilities/book/${locked._id}`, { patient: await knownPatient(service, org.id) })).json(),
    ).toMatchObject({ status: 409, detail: 'The availability is locked.' });
    const typeless = await call('POST', `/api/availabilities/book/${untyped._id}`, { patient: await knownPatient(service, org.id) });
    expect(typeless.statusCode).toBe(400);
    expect(typeless.json().errors).toEqual([{ field: 'body.appointmentType', message: 'required: the availability is for any type' }]);
    expect(
      (await call('POST', `/api/availabilities/book/${untyped._id}`, { patient: await knownPatient(service, org.id) }, org.provider))
        .statusCode,
    ).toBe(403);
    expect(await rows(org.id)).toEqual(before);
    const typed = await call('POST', `/api/availabilities/book/${untyped._id}`, {
      patient: await knownPatient(service, org.id),
      appointmentType: records.type,
    });
    expect(typed.statusCode).toBe(200);
    expect((await call('GET', `/api/appointments/${typed.json().appointment}`)).json()).toMatchObject({ type: records.type, duration: 60 });
  });

  it('subtracts live appointments from the open slots; cancelling reopens the slot, and a booked availability is available again', async () => {
    const { records, call, add, open } = await clinic();
    const range = `provider=${records.provider}&from=2026-03-12T00:00:00Z&to=2026-03-13T00:00:00Z`;
    const first = await add('2026-03-12T14:00:00Z');
    await add('2026-03-12T14:30:00Z');
    const third = await add('2026-03-12T15:00:00Z');
    expect(await open(range)).toEqual(['2026-03-12T14:00:00.000Z', '2026-03-12T14:30:00.000Z', '2026-03-12T15:00:00.000Z']);

    // An appointment booked directly over part of two slots makes both not open.
    const direct = (await call('POST', '/api/appointments', booking(records, '2026-03-12T14:15:00Z'))).json();
    expect(await open(range)).toEqual(['2026-03-12T15:00:00.000Z']);
    // Booked while the organization allowed double booking, it is outside the no-overlap constraint and still busy time.
    await sql.query('UPDATE appointment SET allow_overlap = true WHERE id = $1', [direct._id]);
    expect(await open(range)).toEqual(['2026-03-12T15:00:00.000Z']);
    expect((await call('GET', `/api/scheduler/availabilities/count?${range}`)).json()).toEqual({ count: 1 });
    const booked = (await call('PUT', `/api/availabilities/${third._id}/book`, { patient: records.patient })).json();
    expect(await open(range)).toEqual([]);
    expect((await call('GET', `/api/scheduler/availabilities/count?${range}`)).json()).toEqual({ count: 0 });

    await call('PUT', `/api/appointments/${direct._id}/cancel`);
    expect(await open(range)).toEqual(['2026-03-12T14:00:00.000Z', '2026-03-12T14:30:00.000Z']);
    expect((await call('GET', `/api/availabilities/${first._id}`)).json().status).toBe('available');

    await call('PUT', `/api/appointments/${booked.appointment}/cancel`);
    expect((await call('GET', `/api/availabilities/${third._id}`)).json()).toMatchObject({ status: 'available', appointment: null });
    expect(await open(range)).toEqual(['2026-03-12T14:00:00.000Z', '2026-03-12T14:30:00.000Z', '2026-03-12T15:00:00.000Z']);
    const opened = await eventsOf(third._id, 'availability.opened', 2);
    expect(opened.map((event) => event.data.reason)).toEqual(['created', 'appointment-cancelled']);

    // Moving a booked appointment elsewhere frees its slot too.
    const rebooked = (await call('PUT', `/api/availabilities/${third._id}/book`, { patient: records.patient })).json();
    expect((await call('PUT', `/api/appointments/${rebooked.appointment}`, { date: '2026-03-12T18:00:00Z' })).statusCode).toBe(200);
    expect((await call('GET', `/api/availabilities/${third._id}`)).json().status).toBe('available');
  });

  it('narrows open slots by facility and appointment type', async () => {
    const { org, records, call, add, open } = await clinic();
    const admin = await as(org.admin);
    const west = await create(service.app, admin, '/api/facilities', { name: 'West', timeZone: 'America/Los_Angeles' });
    const long = await create(service.app, admin, '/api/appointmentTypes', { name: 'Long', duration: 60 });
    await add('2026-03-16T14:00:00Z');
    await add('2026-03-16T15:00:00Z', { appointmentType: undefined, duration: 60 });
    await add('2026-03-16T16:00:00Z', { appointmentType: undefined, duration: 30 });
    await add('2026-03-16T23:30:00Z', { facility: west._id });
    const range = 'from=2026-03-16&to=2026-03-16';
    // A local day is each facility's own: 23:30 UTC is 19:30 in New York but 16:30 in Los Angeles, both on the 16th.
    expect(await open(range)).toEqual([
      '2026-03-16T14:00:00.000Z',
      '2026-03-16T15:00:00.000Z',
      '2026-03-16T16:00:00.000Z',
      '2026-03-16T23:30:00.000Z',
    ]);
    expect(await open(`${range}&facility=${west._id}`)).toEqual(['2026-03-16T23:30:00.000Z']);
    expect(await open(`${range}&appointmentType=${long._id}`)).toEqual(['2026-03-16T15:00:00.000Z']);
    expect(await open(`${range}&appointmentType=${records.type}&facility=${records.facility}`)).toEqual([
      '2026-03-16T14:00:00.000Z',
      '2026-03-16T15:00:00.000Z',
      '2026-03-16T16:00:00.000Z',
    ]);
    // A provider no longer schedulable has no open slots, and theirs cannot be booked.
    const unschedulable = await add('2026-03-16T17:00:00Z', {
      provider: (await create(service.app, admin, '/api/providers', { firstname: 'Off', lastname: 'Duty', schedulable: false }))._id,
    });
    expect(await open(range)).toHaveLength(4);
    expect(
      (await call('POST', `/api/availabilities/book/${unschedulable._id}`, { patient: await knownPatient(service, org.id) })).json().detail,
    ).toBe('The provider is not schedulable or the facility was deleted.');
    await call('DELETE', `/api/facilities/${west._id}`);
    expect(await open(range)).toHaveLength(3);
    const wrong = await call('GET', '/api/scheduler/availabilities?from=2026-03-16&to=2026-03-15');
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().errors).toEqual([{ field: 'querystring.to', message: 'must be after from' }]);
    expect((await call('GET', '/api/scheduler/availabilities?from=2026-03-16&to=2026-09-16')).json().errors[0].field).toBe(
      'querystring.to',
    );
    expect((await call('GET', '/api/scheduler/availabilities?from=tomorrow&to=2026-03-16')).json().errors[0].field).toBe(
      'querystring.from',
    );
    const forged = await call('GET', `/api/scheduler/availabilities?${range}&after=${Buffer.from('yesterday').toString('base64url')}`);
    expect(forged.statusCode).toBe(400);
    expect(forged.json().errors).toEqual([
      { field: 'querystring.after', message: 'not a cursor this list gave out; follow the Link header or start again' },
    ]);
  });

  it('moves availabilities through the state machine by hand, all or none, answering 409 for a transition not allowed', async () => {
    const { org, call, add } = await clinic();
    const a = await add('2026-03-17T14:00:00Z');
    const b = await add('2026-03-17T15:00:00Z');
    const c = await add('2026-03-17T16:00:00Z');
    await call('PUT', `/api/availabilities/${c._id}/book`, { patient: await knownPatient(service, org.id) });

    const held = await call('PUT', '/api/availabilities', [
      { _id: a._id, status: 'booked-pending' },
      { _id: b._id, status: 'booked-by-integrator', externalId: 'ehr-9' },
    ]);
    expect(held.statusCode, held.body).toBe(200);
    expect(held.json().map((x: Availability) => x.status)).toEqual(['booked-pending', 'booked-by-integrator']);
    const [integrated] = await eventsOf(b._id, 'availability.booked');
    expect(integrated!.data).toMatchObject({ status: 'booked-by-integrator', appointment: null, patient: null, externalId: 'ehr-9' });
    // Stored as the API spells it, the one spelling of Prisma and raw SQL; the column's check refuses any other.
    expect(
      (await sql.query('SELECT status FROM availability WHERE id = ANY($1::uuid[]) ORDER BY date', [[a._id, b._id]])).rows.map(
        (row) => row.status,
      ),
    ).toEqual(['booked-pending', 'booked-by-integrator']);
    await expect(sql.query("UPDATE availability SET status = 'booked_pending' WHERE id = $1", [a._id])).rejects.toMatchObject({
      code: '23514',
    });

    const before = await rows(org.id);
    const refused = await call('PUT', '/api/availabilities', [
      { _id: a._id, status: 'available' },
      { _id: c._id, status: 'expired' },
      { _id: b._id, status: 'booked' },
    ]);
    expect(refused.statusCode).toBe(409);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.json().errors).toEqual([
      { field: 'body.1.status', message: 'booked → expired is not allowed' },
      { field: 'body.2.status', message: 'booked-by-integrator → booked is not allowed' },
    ]);
    expect((await call('PUT', '/api/availabilities', [{ _id: c._id, date: '2026-03-17T17:00:00Z' }])).json()).toMatchObject({
      status: 409,
      errors: [{ field: 'body.0.date' }],
    });
    expect(await rows(org.id)).toEqual(before);

    const released = await call('PUT', '/api/availabilities', [
      { _id: a._id, status: 'available', date: '2026-03-17T13:00:00Z', duration: 45 },
    ]);
    expect(released.json()[0]).toMatchObject({
      status: 'available',
      date: '2026-03-17T13:00:00.000Z',
      endDate: '2026-03-17T13:45:00.000Z',
    });
    expect((await eventsOf(a._id, 'availability.opened', 2)).map((event) => event.data.reason)).toEqual(['created', 'released']);
    const clash = await call('PUT', '/api/availabilities', [{ _id: a._id, date: '2026-03-17T15:00:00Z' }]);
    expect(clash.statusCode).toBe(409);
    expect((await call('PUT', '/api/availabilities', [{ _id: a._id, status: 'expired' }])).json()[0].status).toBe('expired');
    expect((await call('PUT', '/api/availabilities', [{ _id: a._id, status: 'available' }])).statusCode).toBe(409);
    expect((await call('PUT', '/api/availabilities', [{ _id: randomUUID(), locked: true }])).statusCode).toBe(404);
    expect((await call('PUT', '/api/availabilities', [{ _id: b._id }])).statusCode).toBe(400);
  });

  it('computes expiry: a slot that started while open is expired, listed as such, and cannot be booked or reopened', async () => {
    const { call, add, open, records } = await clinic();
    const soon = await add('2026-02-21T14:00:00Z');
    const later = await add('2026-02-21T15:00:00Z');
    const saved = clock;
    clock = new Date('2026-02-21T14:00:00Z');
    try {
      expect((await call('GET', `/api/availabilities/${soon._id}`)).json().status).toBe('expired');
      expect((await call('GET', `/api/availabilities/${later._id}`)).json().status).toBe('available');
      const expired = (await call('GET', `/api/availabilities?provider=${records.provider}&status=expired`)).json();
      expect(expired.response.map((a: Availability) => a._id)).toEqual([soon._id]);
      expect((await call('GET', `/api/availabilities?provider=${records.provider}&status=available`)).json().total).toBe(1);
      expect(await open(`provider=${records.provider}&from=2026-02-21&to=2026-02-21`)).toEqual([later.date]);
      expect((await call('POST', `/api/availabilities/book/${soon._id}`, { patient: records.patient })).json()).toMatchObject({
        status: 409,
        detail: 'The availability is expired, not available.',
      });
      expect((await call('PUT', '/api/availabilities', [{ _id: soon._id, status: 'booked-pending' }])).json().errors).toEqual([
        { field: 'body.0.status', message: 'expired → booked-pending is not allowed' },
      ]);
    } finally {
      clock = saved;
    }
  });

  it('answers a provider’s free and busy time over a range', async () => {
    const { records, call, add } = await clinic();
    for (const time of ['14:00', '14:30', '15:00', '15:30', '16:00', '16:30']) await add(`2026-03-18T${time}:00Z`);
    await call('POST', '/api/appointments', booking(records, '2026-03-18T15:00:00Z', { duration: 45 }));
    await call('POST', '/api/appointments', booking(records, '2026-03-18T20:00:00Z'));
    const cancelled = (await call('POST', '/api/appointments', booking(records, '2026-03-18T16:30:00Z'))).json();
    await call('PUT', `/api/appointments/${cancelled._id}/cancel`);
    const answer = await call(
      'GET',
      `/api/availabilities/freebusy?provider=${records.provider}&facility=${records.facility}&from=2026-03-18&to=2026-03-18`,
    );
    expect(answer.statusCode, answer.body).toBe(200);
    expect(answer.json()).toEqual({
      provider: records.provider,
      from: '2026-03-18T04:00:00.000Z',
      to: '2026-03-19T04:00:00.000Z',
      busy: [
        { start: '2026-03-18T15:00:00.000Z', end: '2026-03-18T15:45:00.000Z' },
        { start: '2026-03-18T20:00:00.000Z', end: '2026-03-18T20:30:00.000Z' },
      ],
      free: [
        { start: '2026-03-18T14:00:00.000Z', end: '2026-03-18T15:00:00.000Z' },
        { start: '2026-03-18T15:45:00.000Z', end: '2026-03-18T17:00:00.000Z' },
      ],
    });
    const clipped = (
      await call('GET', `/api/availabilities/freebusy?provider=${records.provider}&from=2026-03-18T14:15:00Z&to=2026-03-18T15:15:00Z`)
    ).json();
    expect(clipped.free).toEqual([{ start: '2026-03-18T14:15:00.000Z', end: '2026-03-18T15:00:00.000Z' }]);
    expect(
      (await call('GET', `/api/availabilities/freebusy?provider=${records.provider}&from=2026-03-18&to=2026-03-18`)).json().errors,
    ).toEqual([{ field: 'querystring.facility', message: 'needed to tell which local days from and to are; or give instants' }]);
    expect(
      (await call('GET', `/api/availabilities/freebusy?provider=${randomUUID()}&from=2026-03-18T00:00:00Z&to=2026-03-19T00:00:00Z`))
        .statusCode,
    ).toBe(404);
  });

  it('shows a slot freed by a cancellation as offered in the offer, booked-by-offer once accepted, and available when an offer ends unanswered', async () => {
    const { org, records, call, add } = await clinic();
    const entry = await create(service.app, await as(org.staff), '/api/waitlists', {
      patient: await knownPatient(service, org.id),
      provider: records.provider,
    });
    const slot = await add('2026-03-19T14:00:00Z');
    const booked = (await call('PUT', `/api/availabilities/${slot._id}/book`, { patient: await knownPatient(service, org.id) })).json();
    await call('PUT', `/api/appointments/${booked.appointment}/cancel`);
    const offered = await waitFor(
      async () => {
        const current = (await call('GET', `/api/availabilities/${slot._id}`)).json() as Availability;
        return current.status === 'offered' ? current : null;
      },
      { timeoutMs: 30_000, message: 'the freed slot offered' },
    );
    const offer = (await call('GET', `/api/offers/${offered.offer}`)).json();
    expect(offer).toMatchObject({
      source: 'cancellation',
      cancelledAppointment: booked.appointment,
      date: slot.date,
      waitlists: [entry._id],
    });
    // An offered slot is not open and cannot be booked by hand.
    expect(
      (await call('GET', `/api/scheduler/availabilities/count?provider=${records.provider}&from=2026-03-19&to=2026-03-19`)).json(),
    ).toEqual({ count: 0 });
    expect(
      (await call('POST', `/api/availabilities/book/${slot._id}`, { patient: await knownPatient(service, org.id) })).json().detail,
    ).toBe('The availability is offered, not available.');

    expect((await call('GET', `/api/waitlists/confirmOffer/${entry._id}`)).statusCode).toBe(200);
    const taken = (await call('GET', `/api/availabilities/${slot._id}`)).json();
    const accepted = (await call('GET', `/api/offers/${offered.offer}`)).json();
    expect(taken).toMatchObject({ status: 'booked-by-offer', offer: offered.offer, appointment: accepted.usedForAppointment });
    const bookedEvents = await eventsOf(slot._id, 'availability.booked', 2);
    expect(bookedEvents[1]!.data).toMatchObject({
      status: 'booked-by-offer',
      offer: offered.offer,
      appointment: accepted.usedForAppointment,
      patient: entry.patient,
    });

    // A manual offer of a free slot marks it offered; cancelling the offer makes it available again.
    const second = await create(service.app, await as(org.staff), '/api/waitlists', {
      patient: await knownPatient(service, org.id),
      provider: records.provider,
    });
    const free = await add('2026-03-19T16:00:00Z');
    const manual = await create(service.app, await as(org.staff), '/api/offers', {
      provider: records.provider,
      facility: records.facility,
      appointmentType: records.type,
      date: free.date,
      waitlists: [second._id],
    });
    expect((await call('GET', `/api/availabilities/${free._id}`)).json()).toMatchObject({ status: 'offered', offer: manual._id });
    expect((await call('POST', `/api/offers/${manual._id}/cancel`)).statusCode).toBe(200);
    expect((await call('GET', `/api/availabilities/${free._id}`)).json()).toMatchObject({ status: 'available', offer: null });
    expect((await eventsOf(free._id, 'availability.opened', 2)).map((event) => event.data.reason)).toEqual(['created', 'offer-ended']);
  });

  it('refuses to offer a slot whose availability is locked, held, booked elsewhere or already offered, changing nothing', async () => {
    const { org, records, call, add } = await clinic();
    const entry = await create(service.app, await as(org.staff), '/api/waitlists', {
      patient: await knownPatient(service, org.id),
      provider: records.provider,
    });
    const offerOf = (date: string) =>
      call('POST', '/api/offers', {
        provider: records.provider,
        facility: records.facility,
        appointmentType: records.type,
        date,
        waitlists: [entry._id],
      });
    const locked = await add('2026-03-20T14:00:00Z', { locked: true });
    const held = await add('2026-03-20T15:00:00Z');
    const elsewhere = await add('2026-03-20T16:00:00Z');
    await call('PUT', '/api/availabilities', [
      { _id: held._id, status: 'booked-pending' },
      { _id: elsewhere._id, status: 'booked-by-integrator' },
    ]);
    const before = await rows(org.id);
    for (const slot of [locked, held, elsewhere]) {
      const refused = await offerOf(slot.date);
      expect(refused.statusCode, slot.date).toBe(409);
      expect(refused.json().type).toBe('/problems/slot-unavailable');
    }
    expect(await rows(org.id)).toEqual(before);

    const free = await add('2026-03-20T17:00:00Z');
    const first = await offerOf(free.date);
    expect(first.statusCode).toBe(200);
    const second = await create(service.app, await as(org.staff), '/api/waitlists', {
      patient: await knownPatient(service, org.id),
      provider: records.provider,
    });
    const again = await call('POST', '/api/offers', {
      provider: records.provider,
      facility: records.facility,
      appointmentType: records.type,
      date: free.date,
      waitlists: [second._id],
    });
    expect(again.json().type).toBe('/problems/slot-unavailable');
    expect((await call('GET', `/api/availabilities/${free._id}`)).json()).toMatchObject({ status: 'offered', offer: first.json()._id });
  });

  it('refuses working hours that would make more slots than one request may, without working them all out', async () => {
    const { call, slot } = await clinic();
    const everyFiveMinutes = {
      from: '2026-03-01',
      until: '2027-02-28',
      weekdays: [1, 2, 3, 4, 5, 6, 7],
      start: '00:00',
      end: '23:59',
      slotMinutes: 5,
    };
    const refused = await call('POST', '/api/availabilities', { ...slot, workingHours: everyFiveMinutes });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().errors).toEqual([{ field: 'body.workingHours', message: 'more than 1000 slots; at most 1000 per request' }]);
  });
});
