import { randomUUID } from 'node:crypto';
import {
  appointmentCancelledV1,
  appointmentConfirmedV1,
  appointmentCreatedV1,
  appointmentRescheduledV1,
  createEvent,
} from '@pep/contracts';
import { kafkaBrokers, waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createPatient } from '../test/fixtures.js';
import { orgA, startPatients, type PatientsUnderTest } from '../test/harness.js';

describe("patients: the journey records other services' appointment events", () => {
  let service: PatientsUnderTest;
  const journey = async (id: string) =>
    ((await call(service.app, orgA, 'GET', `/api/patients/${id}/journey`)).body.response ?? []) as Array<{
      type: string;
      summary: Record<string, unknown>;
    }>;

  beforeAll(async () => {
    service = await startPatients('journey', await kafkaBrokers());
  });
  afterAll(async () => {
    await service?.close();
  });

  const appointment = (patient: string) => ({
    _id: randomUUID(),
    patient,
    provider: randomUUID(),
    facility: randomUUID(),
    type: randomUUID(),
    date: '2026-12-01T15:00:00.000Z',
    duration: 30,
    status: 'unconfirmed' as const,
    source: 'ui' as const,
    timeZone: 'America/New_York',
  });

  it('keys appointment events by data.patient, and lands those of a merged patient on the survivor', async () => {
    const patient = await createPatient(service.app, orgA, { firstname: 'Jour', lastname: 'Ney' });
    const survivor = await createPatient(service.app, orgA, { firstname: 'Sur', lastname: 'Vivor' });
    const merged = await createPatient(service.app, orgA, { firstname: 'Mer', lastname: 'Ged' });
    expect((await call(service.app, orgA, 'POST', '/api/patients/merge', { survivor: survivor._id, merged: merged._id })).status).toBe(200);

    const booked = appointment(patient._id);
    const common = { source: '/services/scheduling', organization: orgA.organization, subject: booked._id };
    const late = appointment(merged._id);
    const events = [
      createEvent(appointmentCreatedV1, { ...common, data: booked }),
      createEvent(appointmentConfirmedV1, { ...common, data: { ...booked, status: 'confirmed' } }),
      createEvent(appointmentRescheduledV1, {
        ...common,
        data: {
          ...booked,
          status: 'confirmed',
          date: '2026-12-02T15:00:00.000Z',
          changed: ['date'],
          previous: { date: booked.date, duration: 30, provider: booked.provider, facility: booked.facility, timeZone: booked.timeZone },
        },
      }),
      createEvent(appointmentCancelledV1, { ...common, data: { ...booked, status: 'cancelled' } }),
      createEvent(appointmentCreatedV1, { ...common, subject: late._id, data: late }),
    ];
    await service.bus.publish(
      events.map((event) => ({ topic: appointmentCreatedV1.topic, key: event.subject, value: JSON.stringify(event) })),
    );

    await waitFor(async () => (await journey(patient._id)).length === 5, { timeoutMs: 30_000, message: 'appointment entries' });
    const entries = await journey(patient._id);
    expect(entries.map((entry) => entry.type)).toEqual([
      'patient.created',
      'appointment.created',
      'appointment.confirmed',
      'appointment.rescheduled',
      'appointment.cancelled',
    ]);
    expect(entries[3]!.summary).toMatchObject({ appointment: booked._id, date: '2026-12-02T15:00:00.000Z', status: 'confirmed' });

    await waitFor(async () => (await journey(survivor._id)).some((entry) => entry.type === 'appointment.created'), {
      timeoutMs: 30_000,
      message: "the merged patient's appointment on the survivor",
    });
    expect(await journey(merged._id)).toEqual([]);
  });
});
