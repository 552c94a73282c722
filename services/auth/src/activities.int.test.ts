import { randomUUID } from 'node:crypto';
import { createEvent, patientCreatedV1, patientUpdatedV1 } from '@pep/contracts';
import { kafkaBrokers, waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarize } from './activity.handlers.js';
import { bearer, signup, startAuth, type AuthUnderTest } from '../test/harness.js';

describe('auth service: the activity feed of every service’s events', () => {
  let service: AuthUnderTest;

  beforeAll(async () => {
    service = await startAuth('activities', await kafkaBrokers());
  });
  afterAll(async () => {
    await service?.close();
  });

  const feed = async (headers: Record<string, string>, query = '') =>
    (await service.app.inject({ url: `/api/activities/${query}`, headers })).json();

  it('keeps ids and status codes of event data, never names or contact details', () => {
    const id = randomUUID();
    expect(
      summarize({
        _id: id,
        firstname: 'Pat',
        phone: '+15551234567',
        email: 'p@example.test',
        doNotContact: false,
        changed: ['phone'],
        subscribers: [id],
        body: 'hello',
      }),
    ).toEqual({ _id: id, doNotContact: false, changed: ['phone'], subscribers: [id] });
  });

  it('records a patient event published on the bus once, even when it is delivered twice', async () => {
    const owner = await signup(service.app);
    const headers = await bearer(owner.token);
    const patient = randomUUID();
    const data = {
      _id: patient,
      firstname: 'Pat',
      lastname: 'Private',
      phone: '+15551234567',
      email: 'pat@example.test',
      dateOfBirth: '1980-01-01',
      doNotContact: false,
    };
    const created = createEvent(patientCreatedV1, {
      source: '/services/patients',
      organization: owner.organization._id,
      subject: patient,
      data,
    });
    // A second later: the feed is newest first, and two events of one millisecond have no order of their own.
    const updated = createEvent(patientUpdatedV1, {
      source: '/services/patients',
      organization: owner.organization._id,
      subject: patient,
      time: new Date(Date.parse(created.time) + 1_000),
      data: { ...data, changed: ['phone'] },
    });
    const message = (event: { id: string }) => ({ topic: patientCreatedV1.topic, key: patient, value: JSON.stringify(event) });
    await service.bus.publish([message(created)]);
    await service.bus.publish([message(created), message(updated)]);

    // One key keeps its order, so once the update is in, both deliveries of the creation were handled.
    await waitFor(async () => (await feed(headers, `?subject=${patient}&type=patient.updated`)).total === 1, { timeoutMs: 20_000 });
    const about = await feed(headers, `?subject=${patient}`);
    expect(about.total).toBe(2);
    expect(about.response.map((entry: { type: string }) => entry.type)).toEqual(['patient.updated', 'patient.created']);
    expect(about.response[1]).toMatchObject({
      _id: created.id,
      subject: patient,
      source: '/services/patients',
      read: false,
      summary: { _id: patient, doNotContact: false },
    });
    // The birth date in full: four digits alone turn up inside random ids now and then.
    expect(JSON.stringify(about)).not.toMatch(/Pat|Private|5551234567|example\.test|1980-01-01/);

    // Auth's own events reach the feed too.
    await waitFor(async () => (await feed(headers, '?type=organization.created')).total === 1, { timeoutMs: 20_000 });

    const read = await service.app.inject({ method: 'PUT', url: `/api/activities/${created.id}`, headers, payload: { read: true } });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ read: true, readBy: owner.user._id });
    expect((await feed(headers, `?subject=${patient}&read=false`)).total).toBe(1);
    const strict = await service.app.inject({
      method: 'PUT',
      url: `/api/activities/${created.id}`,
      headers,
      payload: { read: true, seen: 1 },
    });
    expect(strict.statusCode).toBe(400);
    expect(strict.body).toContain('seen');

    const other = await signup(service.app);
    const otherHeaders = await bearer(other.token);
    expect((await feed(otherHeaders, `?subject=${patient}`)).total).toBe(0);
    expect(
      (await service.app.inject({ method: 'PUT', url: `/api/activities/${updated.id}`, headers: otherHeaders, payload: { read: true } }))
        .statusCode,
    ).toBe(404);
    expect((await service.app.inject({ url: '/api/activities' })).statusCode).toBe(401);
  });
});
