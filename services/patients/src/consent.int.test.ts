import { createEvent, patientOptedInV1, patientOptedOutV1 } from '@pep/contracts';
import { kafkaBrokers, waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createPatient } from '../test/fixtures.js';
import { orgA, orgB, startPatients, type PatientsUnderTest } from '../test/harness.js';

describe("patients: a patient's STOP and START heard by messaging", () => {
  let service: PatientsUnderTest;

  beforeAll(async () => {
    service = await startPatients('consent', await kafkaBrokers());
  });
  afterAll(async () => {
    await service?.close();
  });

  const consent = (definition: typeof patientOptedOutV1 | typeof patientOptedInV1, patient: string, organization = orgA.organization) =>
    createEvent(definition, {
      source: '/services/messaging',
      organization,
      subject: patient,
      data: { _id: patient, channel: 'sms', keyword: definition === patientOptedOutV1 ? 'STOP' : 'START' },
    });
  // One key keeps the events in order, so once the last is seen applied the others were handled.
  const deliver = (...events: Array<ReturnType<typeof consent>>) =>
    service.bus.publish(
      events.map((event) => ({ topic: patientOptedOutV1.topic, key: events.at(-1)!.subject, value: JSON.stringify(event) })),
    );
  const read = async (id: string, caller = orgA) => (await call(service.app, caller, 'GET', `/api/patients/${id}/doNotContact`)).body;
  const journey = async (id: string) =>
    ((await call(service.app, orgA, 'GET', `/api/patients/${id}/journey`)).body.response ?? []) as Array<{ type: string }>;

  it('sets do-not-contact on STOP and lifts it on START, once each, with the change on the journey', async () => {
    const patient = await createPatient(service.app, orgA, { firstname: 'Stop', lastname: 'Per' });
    const stop = consent(patientOptedOutV1, patient._id);
    await deliver(stop, stop);
    await waitFor(async () => (await read(patient._id)).doNotContact === true, { timeoutMs: 30_000, message: 'do-not-contact set' });
    expect((await read(patient._id)).doNotContactMessage).toBe('Opted out by replying STOP (sms).');

    await deliver(consent(patientOptedInV1, patient._id));
    await waitFor(async () => (await read(patient._id)).doNotContact === false, { timeoutMs: 30_000, message: 'do-not-contact lifted' });
    expect((await read(patient._id)).doNotContactMessage).toBeNull();
    const changes = async () => (await journey(patient._id)).filter((entry) => entry.type === 'patient.contact-preferences-changed').length;
    await waitFor(async () => (await changes()) >= 2, { timeoutMs: 30_000, message: 'both changes on the journey' });
    expect(await changes()).toBe(2);
  });

  it("passes a merged-away record's STOP to its survivor, and ignores another organization's", async () => {
    const survivor = await createPatient(service.app, orgA, { firstname: 'Sur', lastname: 'Vivor' });
    const merged = await createPatient(service.app, orgA, { firstname: 'Mer', lastname: 'Ged' });
    const elsewhere = await createPatient(service.app, orgB, { firstname: 'Else', lastname: 'Where' });
    expect((await call(service.app, orgA, 'POST', '/api/patients/merge', { survivor: survivor._id, merged: merged._id })).status).toBe(200);
    await deliver(consent(patientOptedOutV1, elsewhere._id), consent(patientOptedOutV1, merged._id));
    await waitFor(async () => (await read(survivor._id)).doNotContact === true, {
      timeoutMs: 30_000,
      message: "the survivor's do-not-contact set",
    });
    expect((await read(elsewhere._id, orgB)).doNotContact).toBe(false);
  });
});
