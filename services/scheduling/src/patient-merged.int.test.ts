import { randomUUID } from 'node:crypto';
import { createEvent, patientMergedV1 } from '@pep/contracts';
import { kafkaBrokers, waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog } from '../test/fixtures.js';
import { as, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';

describe('scheduling service: merged patients', () => {
  let service: SchedulingUnderTest;
  const org = organization();
  const other = organization();
  let records: Awaited<ReturnType<typeof catalog>>;

  beforeAll(async () => {
    service = await startScheduling('patient-merged', await kafkaBrokers());
    records = await catalog(service.app, await as(org.admin));
  });
  afterAll(async () => {
    await service?.close();
  });

  const call = async (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>, caller = org.staff) =>
    service.app.inject({ method, url, headers: await as(caller), ...(payload ? { payload } : {}) });
  const merge = (organizationId: string, merged: string, survivor: string) =>
    createEvent(patientMergedV1, { source: '/services/patients', organization: organizationId, subject: survivor, data: { survivor, merged } });

  it("moves the merged record's appointments and waitlist entries to the survivor, within the organization only, once", async () => {
    const [merged, survivor] = [randomUUID(), randomUUID()];
    const appointment = (await call('POST', '/api/appointments', { ...booking(records, '2026-06-03T14:00:00Z'), patient: merged })).json();
    const entry = (await call('POST', '/api/waitlists', { patient: merged, provider: records.provider })).json();
    expect(entry._id, JSON.stringify(entry)).toBeDefined();
    const theirs = (await call('POST', '/api/appointments', { ...booking(await catalog(service.app, await as(other.admin)), '2026-06-03T14:00:00Z'), patient: merged }, other.staff)).json();

    const event = merge(org.id, merged, survivor);
    await service.bus.publish([event, event].map((message) => ({ topic: patientMergedV1.topic, key: survivor, value: JSON.stringify(message) })));
    await waitFor(async () => (await call('GET', `/api/appointments/${appointment._id}`)).json().patient === survivor, { timeoutMs: 30_000, message: 'the appointment re-pointed' });
    expect((await call('GET', `/api/waitlists/${entry._id}`)).json().patient).toBe(survivor);
    expect((await call('GET', `/api/appointments/getByPatientId/${survivor}`)).json().total).toBe(1);
    expect((await call('GET', `/api/appointments/${theirs._id}`, undefined, other.staff)).json().patient).toBe(merged);
  });
});
