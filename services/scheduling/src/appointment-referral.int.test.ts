import { randomUUID } from 'node:crypto';
import { kafkaBrokers, waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog } from '../test/fixtures.js';
import { as, observe, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';

describe('scheduling service: the referral an appointment is booked for', () => {
  let service: SchedulingUnderTest;
  let events: Awaited<ReturnType<typeof observe>>;
  const org = organization();
  let records: Awaited<ReturnType<typeof catalog>>;

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    service = await startScheduling('appointment-referral', brokers);
    events = await observe(service, brokers, ['scheduling.appointment']);
    records = await catalog(service.app, await as(org.admin));
  });
  afterAll(async () => {
    await events?.stop();
    await service?.close();
  });

  const call = async (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) =>
    service.app.inject({
      method,
      url,
      headers: await as(org.staff),
      ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
    });
  const published = (type: string, subject: string) =>
    waitFor(() => events.seen.find((event) => event.type === type && event.subject === subject) ?? null, {
      timeoutMs: 30_000,
      message: `${type} of ${subject}`,
    });

  it('keeps the referral a booking names, shows it, and publishes it in appointment.created', async () => {
    const referral = randomUUID();
    const created = await call('POST', '/api/appointments', booking(records, '2026-04-06T14:00:00Z', { referral }));
    expect(created.statusCode).toBe(200);
    const appointment = created.json();
    expect(appointment.referral).toBe(referral);
    expect((await call('GET', `/api/appointments/${appointment._id}`)).json().referral).toBe(referral);

    const event = await published('appointment.created', appointment._id);
    expect(event.data).toMatchObject({ _id: appointment._id, patient: records.patient, referral });
  });

  it('books without a referral as before: null in the view and the event', async () => {
    const created = await call('POST', '/api/appointments', booking(records, '2026-04-06T15:00:00Z'));
    expect(created.statusCode).toBe(200);
    expect(created.json().referral).toBeNull();
    expect((await published('appointment.created', created.json()._id)).data).toMatchObject({ referral: null });
  });

  it('links and unlinks a referral by PUT, publishing appointment.updated with changed [referral]', async () => {
    const appointment = (await call('POST', '/api/appointments', booking(records, '2026-04-06T16:00:00Z'))).json();
    const referral = randomUUID();
    const linked = await call('PUT', `/api/appointments/${appointment._id}`, { referral });
    expect(linked.statusCode).toBe(200);
    expect(linked.json().referral).toBe(referral);
    const updated = await published('appointment.updated', appointment._id);
    expect(updated.data).toMatchObject({ referral, changed: ['referral'] });

    const unlinked = await call('PUT', `/api/appointments/${appointment._id}`, { referral: null });
    expect(unlinked.json().referral).toBeNull();
    await waitFor(
      () =>
        events.seen.some(
          (event) =>
            event.subject === appointment._id &&
            event.type === 'appointment.updated' &&
            (event.data as { referral?: string | null }).referral === null,
        ),
      { timeoutMs: 30_000, message: 'the unlinking appointment.updated' },
    );
  });

  it('refuses a referral that is not an id, naming the field, and books nothing', async () => {
    const refused = await call('POST', '/api/appointments', booking(records, '2026-04-06T17:00:00Z', { referral: 'soon' }));
    expect(refused.statusCode).toBe(400);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.stringify(refused.json())).toContain('body.referral');
    const listed = await call('GET', `/api/appointments?date=>2026-04-06T16:59:00Z&date=<2026-04-06T17:01:00Z`);
    expect(listed.json().total).toBe(0);
  });
});
