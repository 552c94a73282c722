import { randomUUID } from 'node:crypto';
import { createOwnerLookup, type OwnerLookup } from '@pep/service-kit';
import { kafkaBrokers } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog } from '../test/fixtures.js';
import { as, organization, SECRET, startScheduling, type SchedulingUnderTest } from '../test/harness.js';

describe('scheduling: the owner lookups auth and messaging make about its records', () => {
  let service: SchedulingUnderTest;
  let lookup: OwnerLookup;
  const a = organization();
  const b = organization();

  beforeAll(async () => {
    service = await startScheduling('record-lookup', await kafkaBrokers());
    // Over real HTTP, as the other services ask.
    lookup = createOwnerLookup({
      owner: 'scheduling',
      baseUrl: await service.app.listen({ host: '127.0.0.1', port: 0 }),
      internalAuthSecret: SECRET,
    });
  });
  afterAll(async () => {
    await service?.close();
  });

  it("finds appointments, providers, facilities and appointment types of the caller's organization only, and not deleted ones", async () => {
    const headers = await as(a.admin);
    const records = await catalog(service.app, headers);
    const appointment = (
      await service.app.inject({ method: 'POST', url: '/api/appointments', headers, payload: booking(records, '2026-11-02T10:00:00Z') })
    ).json()._id as string;
    const ids = { appointment, provider: records.provider, facility: records.facility, 'appointment-type': records.type };
    for (const [kind, id] of Object.entries(ids)) {
      expect(await lookup.exists(a.admin, kind, id), kind).toBe(true);
      expect(await lookup.exists(b.admin, kind, id), kind).toBe(false);
      expect(await lookup.exists(a.admin, kind, randomUUID()), kind).toBe(false);
      expect(await lookup.exists(a.admin, kind, 'not-a-uuid'), kind).toBe(false);
    }
    for (const [kind, url] of [
      ['appointment', `/api/appointments/${appointment}`],
      ['provider', `/api/providers/${records.provider}`],
      ['facility', `/api/facilities/${records.facility}`],
      ['appointment-type', `/api/appointmentTypes/${records.type}`],
    ] as const) {
      expect((await service.app.inject({ method: 'DELETE', url, headers })).statusCode, url).toBe(200);
      expect(await lookup.exists(a.admin, kind, ids[kind]), kind).toBe(false);
    }
  });
});
