import { createEvent, patientDeletedV1, patientMergedV1 } from '@pep/contracts';
import { kafkaBrokers, waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog } from '../test/fixtures.js';
import { as, knownPatient, knownPatients, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';

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
    createEvent(patientMergedV1, {
      source: '/services/patients',
      organization: organizationId,
      subject: survivor,
      data: { survivor, merged },
    });

  it("moves the merged record's appointments and waitlist entries to the survivor, within the organization only, once", async () => {
    const [merged, survivor] = (await knownPatients(service, org.id, 2)) as [string, string];
    const theirPatient = await knownPatient(service, other.id);
    const appointment = (await call('POST', '/api/appointments', { ...booking(records, '2026-06-03T14:00:00Z'), patient: merged })).json();
    const entry = (await call('POST', '/api/waitlists', { patient: merged, provider: records.provider })).json();
    expect(entry._id, JSON.stringify(entry)).toBeDefined();
    const theirs = (
      await call(
        'POST',
        '/api/appointments',
        { ...booking(await catalog(service.app, await as(other.admin)), '2026-06-03T14:00:00Z'), patient: theirPatient },
        other.staff,
      )
    ).json();

    const event = merge(org.id, merged, survivor);
    await service.bus.publish(
      [event, event].map((message) => ({ topic: patientMergedV1.topic, key: survivor, value: JSON.stringify(message) })),
    );
    await waitFor(async () => (await call('GET', `/api/appointments/${appointment._id}`)).json().patient === survivor, {
      timeoutMs: 30_000,
      message: 'the appointment re-pointed',
    });
    expect((await call('GET', `/api/waitlists/${entry._id}`)).json().patient).toBe(survivor);
    expect((await call('GET', `/api/appointments/getByPatientId/${survivor}`)).json().total).toBe(1);
    expect((await call('GET', `/api/appointments/${theirs._id}`, undefined, other.staff)).json().patient).toBe(theirPatient);
  });

  it('takes no new booking or entry for a merged or deleted patient, naming the survivor; their history stays readable', async () => {
    const [merged, survivor, deleted] = (await knownPatients(service, org.id, 3)) as [string, string, string];
    await service.bus.publish([
      { topic: patientMergedV1.topic, key: merged, value: JSON.stringify(merge(org.id, merged, survivor)) },
      {
        topic: patientDeletedV1.topic,
        key: deleted,
        value: JSON.stringify(
          createEvent(patientDeletedV1, { source: '/services/patients', organization: org.id, subject: deleted, data: { _id: deleted } }),
        ),
      },
    ]);
    const bookMerged = () => call('POST', '/api/appointments', { ...booking(records, '2026-06-04T14:00:00Z'), patient: merged });
    await waitFor(async () => (await bookMerged()).statusCode === 404, { timeoutMs: 30_000, message: 'the merge reaches the read model' });
    expect((await bookMerged()).json().errors).toEqual([
      { field: 'body.patient', message: `the patient was merged into ${survivor}; use that patient` },
    ]);
    await waitFor(async () => (await call('POST', '/api/waitlists', { patient: deleted })).statusCode === 404, {
      timeoutMs: 30_000,
      message: 'the deletion reaches the read model',
    });
    expect((await call('POST', '/api/waitlists', { patient: deleted })).json().errors).toEqual([
      { field: 'body.patient', message: 'the patient was deleted' },
    ]);
    expect((await call('GET', `/api/appointments/getByPatientId/${deleted}`)).statusCode).toBe(200);
    expect((await call('POST', '/api/appointments', { ...booking(records, '2026-06-04T15:00:00Z'), patient: survivor })).statusCode).toBe(
      200,
    );
  });
});
