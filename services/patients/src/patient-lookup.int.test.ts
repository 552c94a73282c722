import { randomUUID } from 'node:crypto';
import { createOwnerLookup, type OwnerLookup } from '@pep/service-kit';
import { kafkaBrokers } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createPatient } from '../test/fixtures.js';
import { orgA, orgB, SECRET, startPatients, type PatientsUnderTest } from '../test/harness.js';

describe('patients: the owner lookup other services ask about a patient', () => {
  let service: PatientsUnderTest;
  let lookup: OwnerLookup;

  beforeAll(async () => {
    service = await startPatients('patient-lookup', await kafkaBrokers());
    // Over real HTTP, as scheduling asks it.
    const url = await service.app.listen({ host: '127.0.0.1', port: 0 });
    lookup = createOwnerLookup({ owner: 'patients', baseUrl: url, internalAuthSecret: SECRET, timeoutMs: 2_000 });
  });
  afterAll(async () => {
    await service?.close();
  });

  it("finds a live patient of the caller's organization only", async () => {
    const patient = await createPatient(service.app, orgA, { firstname: 'Lena', lastname: 'Lookup' });
    expect(await lookup.exists(orgA, 'patient', patient._id)).toBe(true);
    expect(await lookup.exists(orgB, 'patient', patient._id)).toBe(false);
    expect(await lookup.exists(orgA, 'patient', randomUUID())).toBe(false);
    // Not a patient id at all: not found, not a database error.
    expect(await lookup.exists(orgA, 'patient', 'not-a-uuid')).toBe(false);
  });

  it('does not find a deleted patient, nor one merged into another (the survivor is the one to book)', async () => {
    const deleted = await createPatient(service.app, orgA, { firstname: 'Dora', lastname: 'Deleted' });
    expect((await call(service.app, orgA, 'DELETE', `/api/patients/${deleted._id}`)).status).toBe(200);
    expect(await lookup.exists(orgA, 'patient', deleted._id)).toBe(false);

    const survivor = await createPatient(service.app, orgA, { firstname: 'Sam', lastname: 'Survivor' });
    const merged = await createPatient(service.app, orgA, { firstname: 'Sam', lastname: 'Survivor-Twin' });
    expect((await call(service.app, orgA, 'POST', '/api/patients/merge', { survivor: survivor._id, merged: merged._id })).status).toBe(200);
    expect(await lookup.exists(orgA, 'patient', merged._id)).toBe(false);
    expect(await lookup.exists(orgA, 'patient', survivor._id)).toBe(true);
  });

  it('answers only callers with a signed identity', async () => {
    const response = await service.app.inject({ url: `/internal/records/patient/${randomUUID()}` });
    expect(response.statusCode).toBe(401);
  });
});
