import { randomUUID } from 'node:crypto';
import { createEvent, replyReceivedV1 } from '@pep/contracts';
import { kafkaBrokers, waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog } from '../test/fixtures.js';
import { as, knownPatient, observe, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';

describe("scheduling service: patients' answers to reminders", () => {
  let service: SchedulingUnderTest;
  let events: Awaited<ReturnType<typeof observe>>;
  const org = organization();
  let records: Awaited<ReturnType<typeof catalog>>;

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    service = await startScheduling('replies', brokers);
    events = await observe(service, brokers, ['scheduling.appointment', 'scheduling.waitlist']);
    records = await catalog(service.app, await as(org.admin));
  });
  afterAll(async () => {
    await events?.stop();
    await service?.close();
  });

  const call = async (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) =>
    service.app.inject({ method, url, headers: await as(org.staff), ...(payload ? { payload } : {}) });
  const book = async (date: string) =>
    (await call('POST', '/api/appointments', { ...booking(records, date), patient: await knownPatient(service, org.id) })).json() as {
      _id: string;
      patient: string;
    };
  const classifications = { confirm: 'positive', cancel: 'negative', waitlist: 'recognized-keywords' } as const;
  const reply = (appointment: string, patient: string, intent: 'confirm' | 'cancel' | 'waitlist', organizationId = org.id) =>
    createEvent(replyReceivedV1, {
      source: '/services/messaging',
      organization: organizationId,
      subject: randomUUID(),
      data: {
        _id: randomUUID(),
        patient,
        channel: 'sms',
        classification: classifications[intent],
        intent,
        receivedAt: new Date().toISOString(),
        appointment,
        reminder: randomUUID(),
        offer: null,
      },
    });
  const deliver = (...replies: Array<ReturnType<typeof reply>>) =>
    service.bus.publish(replies.map((event) => ({ topic: replyReceivedV1.topic, key: event.data.patient, value: JSON.stringify(event) })));
  const statusOf = async (id: string) => (await call('GET', `/api/appointments/${id}`)).json().status as string;
  const eventTypes = (id: string) => events.seen.filter((event) => event.subject === id).map((event) => event.type);

  it('confirms on C and cancels on X, once each, publishing the change as staff changes would', async () => {
    const first = await book('2026-06-01T14:00:00Z');
    const second = await book('2026-06-01T15:00:00Z');
    const confirm = reply(first._id, first.patient, 'confirm');
    const cancel = reply(second._id, second.patient, 'cancel');
    await deliver(confirm, confirm, cancel);
    await waitFor(async () => (await statusOf(first._id)) === 'confirmed' && (await statusOf(second._id)) === 'cancelled', {
      timeoutMs: 30_000,
      message: 'both answers applied',
    });
    await waitFor(() => eventTypes(second._id).includes('appointment.cancelled'), {
      timeoutMs: 30_000,
      message: 'the cancellation published',
    });
    expect(eventTypes(first._id).filter((type) => type === 'appointment.confirmed')).toHaveLength(1);
    const cancelled = events.seen.find((event) => event.subject === second._id && event.type === 'appointment.cancelled')!;
    expect(cancelled.correlationid).toBe(cancel.correlationid);
  });

  it("ignores an answer about another patient's or another organization's appointment, and a confirm after a cancel", async () => {
    const mine = await book('2026-06-02T14:00:00Z');
    const cancelledFirst = await book('2026-06-02T15:00:00Z');
    await deliver(reply(mine._id, randomUUID(), 'cancel'), reply(mine._id, mine.patient, 'cancel', randomUUID()));
    await deliver(reply(cancelledFirst._id, cancelledFirst.patient, 'cancel'));
    await waitFor(async () => (await statusOf(cancelledFirst._id)) === 'cancelled', { timeoutMs: 30_000, message: 'the cancel applied' });
    // Keyed by the patient, this confirm comes after the cancel and is refused without retries or dead letters.
    await deliver(reply(cancelledFirst._id, cancelledFirst.patient, 'confirm'), reply(mine._id, mine.patient, 'confirm'));
    await waitFor(async () => (await statusOf(mine._id)) === 'confirmed', { timeoutMs: 30_000, message: 'a later answer still flows' });
    expect(await statusOf(cancelledFirst._id)).toBe('cancelled');
    expect(eventTypes(mine._id)).not.toContain('appointment.cancelled');
  });

  it('puts a patient who replies WAITLIST after cancelling on the waitlist for that provider, facility and type, once however often they ask', async () => {
    const cancelled = await book('2026-06-03T14:00:00Z');
    await deliver(reply(cancelled._id, cancelled.patient, 'cancel'));
    await waitFor(async () => (await statusOf(cancelled._id)) === 'cancelled', { timeoutMs: 30_000, message: 'the cancel applied' });
    // Someone else's WAITLIST about this appointment, and another organization's, add nothing.
    await deliver(reply(cancelled._id, randomUUID(), 'waitlist'), reply(cancelled._id, cancelled.patient, 'waitlist', randomUUID()));
    await deliver(
      reply(cancelled._id, cancelled.patient, 'waitlist'),
      reply(cancelled._id, cancelled.patient, 'waitlist'),
      reply(cancelled._id, cancelled.patient, 'waitlist'),
    );
    const requested = await waitFor(
      () => {
        const found = events.seen.filter((event) => event.type === 'waitlist.requested');
        return found.length >= 3 ? found : null;
      },
      { timeoutMs: 30_000, message: 'three answers to WAITLIST' },
    );
    const entries = (await call('GET', `/api/waitlists?patient=${cancelled.patient}`)).json().response as Array<Record<string, unknown>>;
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      patient: cancelled.patient,
      provider: records.provider,
      facility: records.facility,
      appointmentType: records.type,
      status: 'waiting',
    });
    expect(requested.map((event) => event.data)).toEqual([
      {
        _id: entries[0]!._id,
        patient: cancelled.patient,
        appointment: cancelled._id,
        provider: records.provider,
        facility: records.facility,
        appointmentType: records.type,
        created: true,
      },
      {
        _id: entries[0]!._id,
        patient: cancelled.patient,
        appointment: cancelled._id,
        provider: records.provider,
        facility: records.facility,
        appointmentType: records.type,
        created: false,
      },
      {
        _id: entries[0]!._id,
        patient: cancelled.patient,
        appointment: cancelled._id,
        provider: records.provider,
        facility: records.facility,
        appointmentType: records.type,
        created: false,
      },
    ]);
    expect(
      events.seen
        .filter((event) => event.type === 'waitlist.entry-changed' && event.subject === entries[0]!._id)
        .map((event) => (event.data as { changed: string[] }).changed),
    ).toEqual([['created']]);
  });
});
