import { kafkaBrokers, waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog } from '../test/fixtures.js';
import { as, observe, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';

describe('scheduling service: the outcome of an appointment (no-show, completed)', () => {
  let service: SchedulingUnderTest;
  let events: Awaited<ReturnType<typeof observe>>;
  const org = organization();
  let records: Awaited<ReturnType<typeof catalog>>;
  // Moved by the tests: an outcome is recorded only once the appointment started.
  let now = new Date('2026-04-06T12:00:00Z');

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    service = await startScheduling('appointment-outcome', brokers, { now: () => now });
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
  const book = async (date: string) => {
    const created = await call('POST', '/api/appointments', booking(records, date));
    expect(created.statusCode).toBe(200);
    return created.json() as { _id: string };
  };

  it('records a no-show once it started, shows it, and publishes appointment.no-show once', async () => {
    const appointment = await book('2026-04-06T14:00:00Z');
    now = new Date('2026-04-06T14:20:00Z');
    const marked = await call('PUT', `/api/appointments/${appointment._id}`, { outcome: 'no-show' });
    expect(marked.statusCode).toBe(200);
    expect(marked.json()).toMatchObject({ outcome: 'no-show', outcomeAt: '2026-04-06T14:20:00.000Z', status: 'unconfirmed' });
    expect((await call('GET', `/api/appointments/${appointment._id}`)).json()).toMatchObject({ outcome: 'no-show' });

    // The same outcome again changes nothing and publishes nothing.
    expect((await call('PUT', `/api/appointments/${appointment._id}`, { outcome: 'no-show' })).json().outcomeAt).toBe(
      '2026-04-06T14:20:00.000Z',
    );
    const event = await waitFor(
      () => events.seen.find((seen) => seen.type === 'appointment.no-show' && seen.subject === appointment._id) ?? null,
      { timeoutMs: 30_000, message: 'appointment.no-show' },
    );
    expect(event.data).toMatchObject({
      _id: appointment._id,
      patient: records.patient,
      facility: records.facility,
      outcomeAt: '2026-04-06T14:20:00.000Z',
      timeZone: expect.any(String),
    });
    // A second event, had the repeat published one, would be on the topic by the time a later event is.
    const later = await book('2026-04-06T13:00:00Z');
    await call('PUT', `/api/appointments/${later._id}`, { outcome: 'completed' });
    await waitFor(() => events.seen.some((seen) => seen.type === 'appointment.completed' && seen.subject === later._id), {
      timeoutMs: 30_000,
      message: 'appointment.completed',
    });
    expect(events.seen.filter((seen) => seen.type === 'appointment.no-show' && seen.subject === appointment._id)).toHaveLength(1);
  });

  it('refuses an outcome before the appointment starts (409 naming the field) and changes nothing', async () => {
    now = new Date('2026-04-07T08:00:00Z');
    const appointment = await book('2026-04-07T15:00:00Z');
    const refused = await call('PUT', `/api/appointments/${appointment._id}`, { outcome: 'completed' });
    expect(refused.statusCode).toBe(409);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect(refused.json().errors).toEqual([{ field: 'body.outcome', message: 'only once the appointment has started' }]);
    expect((await call('GET', `/api/appointments/${appointment._id}`)).json()).toMatchObject({ outcome: null, outcomeAt: null });
  });

  it('refuses an outcome on a cancelled appointment with 409', async () => {
    now = new Date('2026-04-08T08:00:00Z');
    const appointment = await book('2026-04-08T07:00:00Z');
    expect((await call('PUT', `/api/appointments/${appointment._id}/cancel`, {})).statusCode).toBe(200);
    const refused = await call('PUT', `/api/appointments/${appointment._id}`, { outcome: 'no-show' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().type).toContain('appointment-cancelled');
    expect((await call('GET', `/api/appointments/${appointment._id}`)).json().outcome).toBeNull();
  });

  it('refuses an outcome that is not one, naming the field', async () => {
    const appointment = await book('2026-04-06T09:00:00Z');
    const refused = await call('PUT', `/api/appointments/${appointment._id}`, { outcome: 'late' });
    expect(refused.statusCode).toBe(400);
    expect(JSON.stringify(refused.json().errors)).toContain('body.outcome');
  });

  it('answers 404 for another organization’s appointment and records nothing', async () => {
    now = new Date('2026-04-09T12:00:00Z');
    const appointment = await book('2026-04-09T09:00:00Z');
    const other = organization();
    const refused = await service.app.inject({
      method: 'PUT',
      url: `/api/appointments/${appointment._id}`,
      headers: await as(other.staff),
      payload: { outcome: 'no-show' },
    });
    expect(refused.statusCode).toBe(404);
    expect((await call('GET', `/api/appointments/${appointment._id}`)).json().outcome).toBeNull();
  });
});
