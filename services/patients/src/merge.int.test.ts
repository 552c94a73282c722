import { kafkaBrokers, waitFor } from '@pep/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, connect, createPatient, observeEvents } from '../test/fixtures.js';
import { orgA, startPatients, type PatientsUnderTest } from '../test/harness.js';

describe('patients: merge', () => {
  let service: PatientsUnderTest;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observeEvents>>;
  const api = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) => call(service.app, orgA, method, url, payload);
  const journey = async (id: string) =>
    ((await api('GET', `/api/patients/${id}/journey`)).body.response ?? []) as Array<{ type: string; summary: Record<string, unknown> }>;

  beforeAll(async () => {
    service = await startPatients('merge', await kafkaBrokers());
    sql = await connect(service);
    events = await observeEvents(service, 'merge-observer');
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await service?.close();
  });

  it('merges one record into another: gaps filled, journey and followers moved, patient.merged published', async () => {
    const survivor = await createPatient(service.app, orgA, {
      firstname: 'Mary',
      lastname: 'Major',
      phone: '415-555-2601',
      city: 'Boston',
    });
    const merged = await createPatient(service.app, orgA, {
      firstname: 'Mary',
      lastname: 'Major',
      phone: '415-555-2601',
      email: 'mary@example.com',
      dateOfBirth: '1960-06-06',
      city: 'Cambridge',
      contact: [{ type: 'home', value: '415-555-2602' }],
      doNotContact: true,
      doNotContactMessage: 'Opted out at front desk',
    });
    expect(merged['possibleDuplicateOf']).toEqual([survivor._id]);
    await api('POST', `/api/patients/${merged._id}/follow`);
    await waitFor(async () => (await journey(merged._id)).length === 2 && (await journey(survivor._id)).length === 1, {
      timeoutMs: 30_000,
      message: 'journeys before the merge',
    });

    const response = await api('POST', '/api/patients/merge', { survivor: survivor._id, merged: merged._id });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      _id: survivor._id,
      city: 'Boston',
      dateOfBirth: '1960-06-06',
      email: 'mary@example.com',
      phone: '+14155552601',
      doNotContact: true,
      doNotContactMessage: 'Opted out at front desk',
      subscribers: [orgA.user],
      mergedInto: null,
    });
    expect(response.body.contact.map((c: { value: string }) => c.value)).toEqual(['+14155552601', 'mary@example.com', '+14155552602']);

    const gone = await api('GET', `/api/patients/${merged._id}`);
    expect(gone.status).toBe(200);
    expect(gone.body.mergedInto).toBe(survivor._id);
    expect((await api('GET', '/api/patients?name=mary major')).body.response.map((p: { _id: string }) => p._id)).toEqual([survivor._id]);
    expect((await api('GET', '/api/patients/search?type=phone&value=4155552601')).body).toHaveLength(1);

    const event = await events.next('patient.merged', merged._id);
    expect(event.data).toEqual({ survivor: survivor._id, merged: merged._id });
    const updated = await events.next('patient.updated', survivor._id, (e) =>
      (e.data as { changed: string[] }).changed.includes('dateOfBirth'),
    );
    expect((updated.data as { changed: string[] }).changed).toEqual(
      expect.arrayContaining(['email', 'contact', 'dateOfBirth', 'doNotContact', 'subscribers']),
    );
    await events.next('patient.contact-preferences-changed', survivor._id);

    // The merged record's entries now belong to the survivor, followed by the merge itself.
    await waitFor(async () => (await journey(survivor._id)).some((entry) => entry.type === 'patient.merged'), {
      timeoutMs: 30_000,
      message: 'merge in the journey',
    });
    const entries = await journey(survivor._id);
    expect(entries.filter((entry) => entry.type === 'patient.created')).toHaveLength(2);
    expect(entries.find((entry) => entry.type === 'patient.merged')!.summary).toMatchObject({ merged: merged._id, survivor: survivor._id });
    expect(await journey(merged._id)).toEqual([]);
    expect((await sql.query('SELECT count(*)::int AS n FROM journey_entry WHERE patient = $1', [merged._id])).rows[0].n).toBe(0);

    // The merged record is read-only now.
    expect((await api('PUT', `/api/patients/${merged._id}`, { city: 'X' })).status).toBe(409);
    expect((await api('POST', `/api/patients/${merged._id}/follow`)).status).toBe(409);
  });

  it('answers 409 for a merge into itself or of an already merged record, 404 for unknown ids, and changes nothing', async () => {
    const a = await createPatient(service.app, orgA, { firstname: 'Con', lastname: 'Flict' });
    const b = await createPatient(service.app, orgA, { firstname: 'Con', lastname: 'Flicted' });
    const c = await createPatient(service.app, orgA, { firstname: 'Con', lastname: 'Flicting' });
    expect((await api('POST', '/api/patients/merge', { survivor: a._id, merged: b._id })).status).toBe(200);
    const before = (await sql.query('SELECT * FROM patient ORDER BY id')).rows;
    const outbox = (await sql.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n;
    for (const [body, status] of [
      [{ survivor: a._id, merged: a._id }, 409],
      [{ survivor: c._id, merged: b._id }, 409],
      [{ survivor: b._id, merged: c._id }, 409],
      [{ survivor: a._id, merged: '00000000-0000-4000-8000-000000000000' }, 404],
      [{ survivor: a._id }, 400],
      [{ survivor: a._id, merged: c._id, keep: 'both' }, 400],
    ] as const) {
      const response = await api('POST', '/api/patients/merge', body);
      expect(response.status, JSON.stringify(body)).toBe(status);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect((await sql.query('SELECT * FROM patient ORDER BY id')).rows).toEqual(before);
    expect((await sql.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n).toBe(outbox);

    // Merging the survivor on keeps every mergedInto pointing at a live record.
    expect((await api('POST', '/api/patients/merge', { survivor: c._id, merged: a._id })).status).toBe(200);
    expect((await api('GET', `/api/patients/${b._id}`)).body.mergedInto).toBe(c._id);
  });
});
