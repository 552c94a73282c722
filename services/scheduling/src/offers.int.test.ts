import { randomUUID } from 'node:crypto';
import { createEvent, replyReceivedV1, type EventEnvelope } from '@pep/contracts';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog, create } from '../test/fixtures.js';
import {
  as,
  knownPatient,
  knownPatients,
  observe,
  organization,
  publishOrganizationSettings,
  startScheduling,
  type SchedulingUnderTest,
} from '../test/harness.js';

type Data = Record<string, unknown> & {
  patients?: Array<{ patient: string; waitlist: string }>;
  offered?: Array<{ patient: string; waitlist: string }>;
};

describe('scheduling service: offers of freed slots', () => {
  let service: SchedulingUnderTest;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  // The service's clock: tests move it forward to make offers lapse.
  let clock = new Date('2026-05-01T08:00:00Z');

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    service = await startScheduling('offers', brokers, { now: () => clock, offerExpiryIntervalMs: 100 });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    events = await observe(service, brokers, ['scheduling.offer', 'scheduling.appointment', 'scheduling.waitlist']);
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await service?.close();
  });

  /** An organization with a catalog, its settings (when given) applied, and `waiting` patients on the waitlist. */
  async function clinic(settings: Record<string, unknown> | null, waiting: number) {
    const org = organization();
    const headers = await as(org.staff);
    const records = await catalog(service.app, await as(org.admin));
    if (settings) {
      const event = await publishOrganizationSettings(service, org.id, settings);
      await waitFor(async () => (await sql.query('SELECT 1 FROM inbox WHERE event_id = $1', [event.id])).rows.length === 1, {
        timeoutMs: 30_000,
        message: 'settings kept',
      });
    }
    const entries: Array<Awaited<ReturnType<typeof create>>> = [];
    const patients = await knownPatients(service, org.id, waiting);
    for (let i = 0; i < waiting; i += 1)
      entries.push(await create(service.app, headers, '/api/waitlists', { patient: patients[i], provider: records.provider }));
    const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: Record<string, unknown>) =>
      service.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
    return { org, headers, records, entries, call };
  }

  /** Books and cancels an appointment, and waits for the offer the cancellation makes. */
  async function freeSlot(place: Awaited<ReturnType<typeof clinic>>, date: string) {
    const booked = await place.call(
      'POST',
      '/api/appointments',
      booking(place.records, date, { patient: await knownPatient(service, place.org.id) }),
    );
    const appointment = booked.json()._id as string;
    await place.call('PUT', `/api/appointments/${appointment}/cancel`);
    const row = await waitFor(
      async () =>
        (await sql.query('SELECT id FROM offer WHERE from_appointment = $1', [appointment])).rows[0] as { id: string } | undefined,
      {
        timeoutMs: 30_000,
        message: 'the offer of the freed slot',
      },
    );
    return { appointment, offer: row.id };
  }

  const eventsOf = (subject: string, type: string, count = 1) =>
    waitFor(
      () => {
        const found = events.seen.filter((event) => event.subject === subject && event.type === type);
        return found.length >= count ? (found as Array<EventEnvelope<Data>>) : null;
      },
      { timeoutMs: 30_000, message: `${type} of ${subject}` },
    );

  it('offers a cancelled slot to the top waiting patients at once (parallel), and the first acceptance books it', async () => {
    const place = await clinic({ maxOffersPerSlot: 3 }, 4);
    const { offer, appointment } = await freeSlot(place, '2026-05-10T09:00:00Z');
    const made = (await place.call('GET', `/api/offers/${offer}`)).json();
    expect(made).toMatchObject({
      status: 'in-progress',
      protocol: 'parallel',
      source: 'cancellation',
      cancelledAppointment: appointment,
      expireAt: '2026-05-01T09:00:00.000Z',
      duration: 30,
    });
    expect(made.waitlists).toEqual(place.entries.slice(0, 3).map((entry) => entry._id));
    const [created] = await eventsOf(offer, 'offer.created');
    expect(created!.data.offered!.map((p) => p.waitlist)).toEqual(made.waitlists);
    expect(created!.data).toMatchObject({ timeZone: 'America/New_York', status: 'in-progress' });
    expect((await place.call('GET', `/api/waitlists/${place.entries[0]!._id}`)).json()).toMatchObject({ status: 'offered', offer });
    expect((await place.call('GET', `/api/waitlists/${place.entries[3]!._id}`)).json()).toMatchObject({ status: 'waiting', offer: null });

    const accepted = await place.call('GET', `/api/waitlists/confirmOffer/${place.entries[1]!._id}`);
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json()).toMatchObject({ status: 'accepted', offer });
    const late = await place.call('GET', `/api/waitlists/confirmOffer/${place.entries[0]!._id}`);
    expect(late.statusCode).toBe(409);
    expect(late.json().detail).toBe('The slot was taken by another patient.');
    const found = (await place.call('GET', `/api/offers/${offer}`)).json();
    expect(found).toMatchObject({ status: 'patient-found', patientFound: place.entries[1]!.patient });
    const booked = (await place.call('GET', `/api/appointments/${found.usedForAppointment}`)).json();
    expect(booked).toMatchObject({
      patient: place.entries[1]!.patient,
      source: 'waitlist',
      status: 'unconfirmed',
      date: '2026-05-10T09:00:00.000Z',
    });
    for (const loser of [place.entries[0]!, place.entries[2]!])
      expect((await place.call('GET', `/api/waitlists/${loser._id}`)).json()).toMatchObject({ status: 'waiting', offer: null });
    const [won] = await eventsOf(offer, 'offer.accepted');
    expect(won!.data).toMatchObject({ patient: place.entries[1]!.patient, appointment: found.usedForAppointment, awaitingApproval: false });
    const [closed] = await eventsOf(offer, 'offer.closed');
    expect(closed!.data.reason).toBe('patient-found');
    expect(closed!.data.patients!.map((p) => p.waitlist).sort()).toEqual([place.entries[0]!._id, place.entries[2]!._id].sort());
    await eventsOf(found.usedForAppointment, 'appointment.created');

    const recipients = (await place.call('GET', `/api/offers/${offer}/waitlists`)).json();
    expect(recipients.response.map((e: { recipient: { status: string } }) => e.recipient.status)).toEqual(['taken', 'accepted', 'taken']);
    expect((await place.call('GET', `/api/offers/findByPatientId/${place.entries[2]!.patient}`)).json().total).toBe(1);
    expect((await place.call('GET', `/api/offers/findByPatientId/${place.entries[3]!.patient}`)).json().total).toBe(0);
  });

  it('walks a serial offer one patient at a time, on decline and on lapse, and ends it patient-not-found', async () => {
    const place = await clinic({ offerProtocol: 'serial', maxOffersPerSlot: 3, offerExpiryMinutes: 30 }, 3);
    const [a, b, c] = place.entries as [
      { _id: string; patient: string },
      { _id: string; patient: string },
      { _id: string; patient: string },
    ];
    const { offer } = await freeSlot(place, '2026-05-11T09:00:00Z');
    expect((await place.call('GET', `/api/waitlists/${b._id}`)).json().status).toBe('in-flight');
    expect((await place.call('GET', `/api/waitlists/confirmOffer/${b._id}`)).statusCode).toBe(409);
    const declined = await place.call('GET', `/api/waitlists/declineOffer/${a._id}`);
    expect(declined.json()).toMatchObject({ status: 'waiting', offer: null });
    expect((await place.call('GET', `/api/waitlists/${b._id}`)).json().status).toBe('offered');
    const [extended] = await eventsOf(offer, 'offer.extended');
    expect(extended!.data.offered).toEqual([{ patient: b.patient, waitlist: b._id }]);

    clock = new Date(clock.getTime() + 31 * 60_000);
    await waitFor(async () => (await place.call('GET', `/api/waitlists/${c._id}`)).json().status === 'offered', {
      timeoutMs: 10_000,
      message: 'the lapse moves on to the third patient',
    });
    expect((await place.call('GET', `/api/waitlists/${b._id}`)).json().status).toBe('waiting');
    clock = new Date(clock.getTime() + 31 * 60_000);
    await waitFor(async () => (await place.call('GET', `/api/offers/${offer}`)).json().status === 'patient-not-found', {
      timeoutMs: 10_000,
      message: 'the offer lapses',
    });
    expect((await place.call('GET', `/api/waitlists/${c._id}`)).json()).toMatchObject({ status: 'waiting', offer: null });
    const [expired] = await eventsOf(offer, 'offer.expired');
    expect(expired!.data.patients).toEqual([{ patient: c.patient, waitlist: c._id }]);
    const summary = (await place.call('GET', '/api/offers/reports/summary')).json();
    expect(summary).toMatchObject({ total: 1, byStatus: { 'patient-not-found': 1 }, bySource: { cancellation: 1 }, fillRate: 0 });
  });

  it("takes a patient's YES and NO from messaging's reply.received, once", async () => {
    const place = await clinic({ maxOffersPerSlot: 2 }, 2);
    const [a, b] = place.entries as [{ _id: string; patient: string }, { _id: string; patient: string }];
    const { offer } = await freeSlot(place, '2026-05-12T09:00:00Z');
    const reply = (patient: string, intent: 'accept-offer' | 'decline-offer') =>
      createEvent(replyReceivedV1, {
        source: '/services/messaging',
        organization: place.org.id,
        subject: randomUUID(),
        data: {
          _id: randomUUID(),
          patient,
          channel: 'sms',
          classification: 'positive',
          intent,
          receivedAt: clock.toISOString(),
          appointment: null,
          reminder: null,
          offer,
        },
      });
    const no = reply(a.patient, 'decline-offer');
    const yes = reply(b.patient, 'accept-offer');
    for (const event of [no, yes, yes])
      await service.bus.publish([{ topic: replyReceivedV1.topic, key: event.data.patient, value: JSON.stringify(event) }]);
    await waitFor(async () => (await place.call('GET', `/api/offers/${offer}`)).json().status === 'patient-found', {
      timeoutMs: 30_000,
      message: 'the YES books the slot',
    });
    expect((await place.call('GET', `/api/waitlists/${a._id}`)).json().status).toBe('waiting');
    expect((await place.call('GET', `/api/waitlists/${b._id}`)).json().status).toBe('accepted');
    expect(
      (await sql.query("SELECT count(*)::int AS n FROM appointment WHERE patient = $1 AND source = 'waitlist'", [b.patient])).rows[0].n,
    ).toBe(1);
    // The booking the YES made is traced to it, as every event of the acceptance is.
    const [appointment] = (await sql.query("SELECT id FROM appointment WHERE patient = $1 AND source = 'waitlist'", [b.patient]))
      .rows as Array<{ id: string }>;
    const [created] = await eventsOf(appointment!.id, 'appointment.created');
    expect(created).toMatchObject({ causationid: yes.id, correlationid: yes.correlationid });
    const [accepted] = await eventsOf(offer, 'offer.accepted');
    expect(accepted).toMatchObject({ causationid: yes.id });
    // Stored as the API spells it, the one spelling of Prisma and raw SQL.
    expect((await sql.query('SELECT status FROM offer WHERE id = $1', [offer])).rows[0].status).toBe('patient-found');
  });

  it('holds the slot for the front office when it approves acceptances, and offers it afresh when it refuses', async () => {
    const place = await clinic({ frontOfficeAcceptance: true, maxOffersPerSlot: 1 }, 2);
    const [a, b] = place.entries as [{ _id: string; patient: string }, { _id: string; patient: string }];
    const { offer } = await freeSlot(place, '2026-05-13T09:00:00Z');
    expect((await place.call('GET', `/api/waitlists/confirmOffer/${a._id}`)).json().status).toBe('confirming');
    const [held] = await eventsOf(offer, 'offer.accepted');
    expect(held!.data.awaitingApproval).toBe(true);
    const refused = await place.call('GET', `/api/waitlists/declineOffer/${a._id}`);
    expect(refused.json()).toMatchObject({ status: 'declined', offer: null });
    expect((await place.call('GET', `/api/offers/${offer}`)).json().declinedBy).toBe(place.org.staff.user);
    // Messaging tells the patient the slot is no longer theirs from offer.rejected.
    const [rejected] = await eventsOf(offer, 'offer.rejected');
    expect(rejected!.data).toMatchObject({
      patient: a.patient,
      waitlist: a._id,
      appointment: held!.data.appointment,
      timeZone: 'America/New_York',
    });
    // The held booking is cancelled, which frees the slot again: the next patient is offered it.
    await waitFor(async () => (await place.call('GET', `/api/waitlists/${b._id}`)).json().status === 'offered', {
      timeoutMs: 30_000,
      message: 'offered afresh',
    });
    expect((await place.call('GET', `/api/waitlists/confirmOffer/${b._id}`)).json().status).toBe('confirming');
    const approved = await place.call('GET', `/api/waitlists/confirmOffer/${b._id}`);
    expect(approved.json().status).toBe('accepted');
    const second = (await place.call('GET', `/api/offers?status=patient-found`)).json().response[0];
    expect(second).toMatchObject({ approvedBy: place.org.staff.user, patientFound: b.patient });
    // ...and that the booking stands from offer.approved, once.
    const [approvedEvent] = await eventsOf(second._id, 'offer.approved');
    expect(approvedEvent!.data).toMatchObject({
      patient: b.patient,
      waitlist: b._id,
      appointment: second.usedForAppointment,
      date: '2026-05-13T09:00:00.000Z',
      timeZone: 'America/New_York',
    });
    expect(events.seen.filter((event) => event.type === 'offer.approved' && event.subject === offer)).toEqual([]);
  });

  it('makes, lists, changes and cancels offers by hand', async () => {
    const place = await clinic(null, 3);
    const [a, b, c] = place.entries as [{ _id: string }, { _id: string }, { _id: string }];
    const body = {
      provider: place.records.provider,
      facility: place.records.facility,
      appointmentType: place.records.type,
      date: '2026-05-14T09:00:00Z',
    };
    const made = await place.call('POST', '/api/offers', { ...body, protocol: 'serial', expiryMinutes: 15, waitlists: [c._id, a._id] });
    expect(made.statusCode).toBe(200);
    const offer = made.json();
    expect(offer).toMatchObject({
      source: 'manual',
      protocol: 'serial',
      waitlists: [c._id, a._id],
      currentWaitlist: 0,
      expireAt: new Date(clock.getTime() + 15 * 60_000).toISOString(),
    });
    expect((await place.call('POST', '/api/offers', { ...body, waitlists: [c._id] })).statusCode).toBe(400);
    expect((await place.call('POST', '/api/offers', { ...body, date: '2020-01-01T00:00:00Z' })).statusCode).toBe(400);
    const changed = await place.call('PUT', `/api/offers/${offer._id}`, { expireAt: '2026-05-02T00:00:00Z' });
    expect(changed.json().expireAt).toBe('2026-05-02T00:00:00.000Z');
    expect((await place.call('PUT', `/api/offers/${offer._id}`, { expireAt: '2026-06-01T00:00:00Z' })).statusCode).toBe(400);
    const withdrawn = await place.call('GET', `/api/waitlists/cancelOffer/${c._id}`);
    expect(withdrawn.json().status).toBe('waiting');
    expect((await place.call('GET', `/api/waitlists/${a._id}`)).json().status).toBe('offered');
    const cancelled = await place.call('POST', `/api/offers/${offer._id}/cancel`);
    expect(cancelled.json().status).toBe('cancelled');
    expect((await place.call('POST', `/api/offers/${offer._id}/cancel`)).json().status).toBe('cancelled');
    expect((await place.call('GET', `/api/waitlists/${a._id}`)).json()).toMatchObject({ status: 'waiting', offer: null });
    const [closed] = await eventsOf(offer._id, 'offer.closed');
    expect(closed!.data).toMatchObject({ reason: 'cancelled', patients: [{ waitlist: a._id }] });

    const ranked = await place.call('POST', '/api/offers', { ...body, maxOffers: 2 });
    expect(ranked.json().waitlists).toEqual([a._id, b._id]);
    expect((await place.call('GET', '/api/offers?status=in-progress')).json().total).toBe(1);
    expect((await place.call('GET', '/api/offers/crudList')).json().total).toBe(2);
    expect((await place.call('GET', '/api/offers/reports/find?source=manual&date=>=2026-05-14T00:00:00Z')).json().total).toBe(2);
    await place.call(
      'POST',
      '/api/appointments',
      booking(place.records, '2026-05-15T09:00:00Z', { patient: await knownPatient(service, place.org.id) }),
    );
    const busy = await place.call('POST', '/api/offers', { ...body, date: '2026-05-15T09:10:00Z' });
    expect(busy.statusCode).toBe(409);
  });

  it('does not offer a slot that is booked again before the offer is made, or that nobody fits', async () => {
    const place = await clinic(null, 0);
    const booked = await place.call(
      'POST',
      '/api/appointments',
      booking(place.records, '2026-05-16T09:00:00Z', { patient: await knownPatient(service, place.org.id) }),
    );
    await place.call('PUT', `/api/appointments/${booked.json()._id}/cancel`);
    await waitFor(
      async () =>
        (
          await sql.query(
            "SELECT 1 FROM inbox WHERE consumer = $1 AND event_id IN (SELECT id FROM outbox WHERE envelope->>'subject' = $2 AND envelope->>'type' = 'appointment.cancelled')",
            ['scheduling.offers', booked.json()._id],
          )
        ).rows.length === 1,
      { timeoutMs: 30_000, message: 'the cancellation handled' },
    );
    expect((await sql.query('SELECT count(*)::int AS n FROM offer WHERE organization = $1', [place.org.id])).rows[0].n).toBe(0);
  });
});
