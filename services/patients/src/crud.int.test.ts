import { kafkaBrokers, waitFor } from '@pep/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, connect, createPatient, observeEvents } from '../test/fixtures.js';
import { orgA, startPatients, type PatientsUnderTest } from '../test/harness.js';

describe('patients: list, update, delete, contacts and duplicates', () => {
  let service: PatientsUnderTest;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observeEvents>>;
  const api = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) => call(service.app, orgA, method, url, payload);

  beforeAll(async () => {
    service = await startPatients('crud', await kafkaBrokers());
    sql = await connect(service);
    events = await observeEvents(service, 'crud-observer');
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await service?.close();
  });

  it('creates with the richer fields, keeps phone/email and contact consistent and shows displayPhone', async () => {
    const patient = await createPatient(service.app, orgA, {
      firstname: 'Ada',
      middlename: 'King',
      lastname: 'Byron',
      phone: '(415) 555-2671',
      email: 'Ada.Byron@Example.com',
      contact: [{ type: 'home', value: '415 555 2672' }],
      gender: 'female',
      address: '1 Analytical Way',
      city: 'London',
      postcode: 'N1',
      externalId: 'EHR-1',
    });
    expect(patient).toMatchObject({
      firstname: 'Ada',
      middlename: 'King',
      name: 'Ada Byron',
      phone: '+14155552671',
      displayPhone: '(415) 555-2671',
      email: 'ada.byron@example.com',
      language: 'en',
      gender: 'female',
      source: 'ui',
      externalId: 'EHR-1',
      subscribers: [],
      possibleDuplicateOf: [],
      mergedInto: null,
      createdBy: orgA.user,
    });
    expect((patient['contact'] as Array<{ type: string; value: string }>).map(({ type, value }) => ({ type, value }))).toEqual([
      { type: 'email', value: 'ada.byron@example.com' },
      { type: 'mobile', value: '+14155552671' },
      { type: 'home', value: '+14155552672' },
    ]);
  });

  it('lists live patients with filters and paging', async () => {
    const ids: string[] = [];
    for (const [firstname, lastname] of [
      ['Lis', 'Tone'],
      ['Lis', 'Ttwo'],
      ['Lis', 'Tthree'],
    ]) {
      ids.push(
        (
          await createPatient(service.app, orgA, {
            firstname,
            lastname,
            dateOfBirth: '1970-01-0' + (ids.length + 1),
            externalId: `L-${lastname}`,
          })
        )._id,
      );
    }
    const page1 = await api('GET', '/api/patients?name=lis&limit=2&page=1');
    expect(page1.status).toBe(200);
    expect(page1.body).toMatchObject({ page: 1, limit: 2, total: 3 });
    expect(page1.body.response.map((p: { lastname: string }) => p.lastname)).toEqual(['Tone', 'Tthree']);
    const page2 = await api('GET', '/api/patients?name=lis&limit=2&page=2');
    expect(page2.body.response.map((p: { lastname: string }) => p.lastname)).toEqual(['Ttwo']);
    expect((await api('GET', '/api/patients?dateOfBirth=1970-01-02')).body.response.map((p: { _id: string }) => p._id)).toEqual([ids[1]]);
    expect((await api('GET', '/api/patients?externalId=L-Tthree')).body.total).toBe(1);
    const crud = await api('GET', '/api/patients/crudList?name=lis&sort=-createdAt');
    expect(crud.body.total).toBe(3);
    expect(Object.keys(crud.body.response[0]).sort()).toEqual([
      '_id',
      'dateOfBirth',
      'displayPhone',
      'firstname',
      'lastname',
      'name',
      'updatedAt',
    ]);
    expect(crud.body.response[0]._id).toBe(ids[2]);
    expect((await api('GET', '/api/patients?limit=101')).status).toBe(400);
  });

  it('updates only what it is given and publishes patient.updated naming the changed fields', async () => {
    const patient = await createPatient(service.app, orgA, { firstname: 'Upd', lastname: 'Ate', phone: '415-555-2673' });
    const updated = await api('PUT', `/api/patients/${patient._id}`, {
      lastname: 'Ated',
      city: 'Oakland',
      phone: '+1 415 555 2674',
      language: 'es',
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      firstname: 'Upd',
      lastname: 'Ated',
      city: 'Oakland',
      phone: '+14155552674',
      language: 'es',
      updatedBy: orgA.user,
    });
    // The new mobile replaces the old one: the old number is no longer the patient's.
    expect(updated.body.contact.map((c: { value: string }) => c.value)).toEqual(['+14155552674']);
    const event = await events.next('patient.updated', patient._id);
    expect((event.data as { changed: string[] }).changed.sort()).toEqual(['city', 'contact', 'language', 'lastname', 'phone']);
    expect(event.data).toMatchObject({ lastname: 'Ated', phone: '+14155552674', language: 'es' });

    // A change to nothing publishes nothing.
    const outboxBefore = (await sql.query('SELECT count(*)::int AS n FROM outbox WHERE key = $1', [patient._id])).rows[0].n;
    expect((await api('PUT', `/api/patients/${patient._id}`, { city: 'Oakland' })).status).toBe(200);
    expect((await sql.query('SELECT count(*)::int AS n FROM outbox WHERE key = $1', [patient._id])).rows[0].n).toBe(outboxBefore);

    // null clears; removing the phone removes it from contact too.
    const cleared = await api('PUT', `/api/patients/${patient._id}`, { city: null, phone: null });
    expect(cleared.body).toMatchObject({ city: null, phone: null, displayPhone: null, contact: [] });

    await waitFor(
      async () => {
        const journey = (await api('GET', `/api/patients/${patient._id}/journey`)).body.response as Array<{ type: string }>;
        return journey.filter((entry) => entry.type === 'patient.updated').length === 2;
      },
      { timeoutMs: 30_000, message: 'journey records updates' },
    );
  });

  it('keeps staff’s tags (trimmed, each once), carries them in the patient’s events and refuses too many or too long ones', async () => {
    const created = await api('POST', '/api/patients', { firstname: 'Tag', lastname: 'Ged', tags: [' diabetic ', 'flu-2026', 'diabetic'] });
    expect(created.status).toBe(200);
    expect(created.body.tags).toEqual(['diabetic', 'flu-2026']);
    const id = created.body._id as string;
    expect((await events.next('patient.created', id)).data).toMatchObject({ tags: ['diabetic', 'flu-2026'] });
    const listed = await api('GET', '/api/patients?tag=flu-2026');
    expect(listed.body.response.map((one: { _id: string }) => one._id)).toEqual([id]);
    const updated = await api('PUT', `/api/patients/${id}`, { tags: ['spanish-speaker'] });
    expect(updated.body.tags).toEqual(['spanish-speaker']);
    const event = await events.next('patient.updated', id);
    expect(event.data).toMatchObject({ tags: ['spanish-speaker'], changed: ['tags'] });
    const before = (await sql.query('SELECT tags FROM patient WHERE id = $1', [id])).rows;
    for (const [tags, field] of [
      [Array.from({ length: 21 }, (_, index) => `t${index}`), 'body.tags'],
      [['x'.repeat(41)], 'body.tags.0'],
      [['ok', '  '], 'body.tags.1'],
    ] as const) {
      const refused = await api('PUT', `/api/patients/${id}`, { tags });
      expect(refused.status).toBe(400);
      expect(refused.body.errors.map((error: { field: string }) => error.field)).toEqual([field]);
    }
    expect((await sql.query('SELECT tags FROM patient WHERE id = $1', [id])).rows).toEqual(before);
    expect((await api('GET', '/api/patients?tag=flu-2026')).body.total).toBe(0);
    expect((await api('PUT', `/api/patients/${id}`, { tags: [] })).body.tags).toEqual([]);
  });

  it('soft-deletes: 404 afterwards, gone from lists, row kept, patient.deleted published', async () => {
    const patient = await createPatient(service.app, orgA, { firstname: 'Del', lastname: 'Eted' });
    const deleted = await api('DELETE', `/api/patients/${patient._id}`);
    expect(deleted.status).toBe(200);
    expect((await api('GET', `/api/patients/${patient._id}`)).status).toBe(404);
    expect((await api('DELETE', `/api/patients/${patient._id}`)).status).toBe(404);
    expect((await api('PUT', `/api/patients/${patient._id}`, { city: 'X' })).status).toBe(404);
    expect((await api('GET', '/api/patients?name=del eted')).body.total).toBe(0);
    const row = (await sql.query('SELECT deleted_at, deleted_by FROM patient WHERE id = $1', [patient._id])).rows[0];
    expect(row.deleted_at).not.toBeNull();
    expect(row.deleted_by).toBe(orgA.user);
    const event = await events.next('patient.deleted', patient._id);
    expect(event.data).toEqual({ _id: patient._id });
  });

  it('stores a likely duplicate and flags it with the earlier ids', async () => {
    const first = await createPatient(service.app, orgA, { firstname: 'José', lastname: 'Núñez', phone: '415-555-2675' });
    const second = await createPatient(service.app, orgA, { firstname: 'JOSE', lastname: 'nunez', phone: '+14155552675' });
    expect(first['possibleDuplicateOf']).toEqual([]);
    expect(second['possibleDuplicateOf']).toEqual([first._id]);
    // Same name, other phone: not a duplicate.
    const other = await createPatient(service.app, orgA, { firstname: 'Jose', lastname: 'Nunez', phone: '415-555-2676' });
    expect(other['possibleDuplicateOf']).toEqual([]);
    // Updated into a duplicate, and back out of it.
    const became = await api('PUT', `/api/patients/${other._id}`, { phone: '4155552675' });
    expect(became.body.possibleDuplicateOf).toEqual([first._id, second._id]);
    const flagged = await api('GET', '/api/patients?possibleDuplicate=true&name=nunez');
    expect(flagged.body.response.map((p: { _id: string }) => p._id).sort()).toEqual([second._id, other._id].sort());
    const renamed = await api('PUT', `/api/patients/${other._id}`, { firstname: 'Joseph' });
    expect(renamed.body.possibleDuplicateOf).toEqual([]);
    const stored = (await sql.query('SELECT possible_duplicate_of FROM patient WHERE id = $1', [second._id])).rows[0];
    expect(stored.possible_duplicate_of).toEqual([first._id]);
  });

  it('refuses bad input with 400 listing every bad field and stores nothing', async () => {
    const patient = await createPatient(service.app, orgA, { firstname: 'Val', lastname: 'Id', phone: '415-555-2677' });
    const snapshot = async () => ({
      patients: (await sql.query('SELECT * FROM patient ORDER BY id')).rows,
      outbox: (await sql.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n,
    });
    const before = await snapshot();
    const attempts: Array<{ method: 'POST' | 'PUT'; url: string; payload: unknown; fields: string[] }> = [
      {
        method: 'POST',
        url: '/api/patients',
        payload: { firstname: 'A', lastname: 'B', contact: [{ type: 'mobile', value: '12' }] },
        fields: ['body.contact.0.value'],
      },
      {
        method: 'POST',
        url: '/api/patients',
        payload: { firstname: 'A', lastname: 'B', contact: [{ type: 'fax', value: '4155552671' }] },
        fields: ['body.contact.0.type'],
      },
      {
        method: 'POST',
        url: '/api/patients',
        payload: { firstname: '', lastname: 'B', phone: 'nope', gender: 'x', language: 'english' },
        fields: ['body.firstname', 'body.phone', 'body.gender', 'body.language'],
      },
      {
        method: 'PUT',
        url: `/api/patients/${patient._id}`,
        payload: { phone: 'call me', email: 'not-an-email' },
        fields: ['body.phone', 'body.email'],
      },
      {
        method: 'PUT',
        url: `/api/patients/${patient._id}`,
        payload: { organization: 'x', mergedInto: patient._id },
        fields: ['body.organization', 'body.mergedInto'],
      },
      {
        method: 'PUT',
        url: `/api/patients/${patient._id}`,
        payload: {
          contact: [
            { type: 'email', value: 'bad' },
            { type: 'work', value: '1' },
          ],
        },
        fields: ['body.contact.0.value', 'body.contact.1.value'],
      },
      { method: 'PUT', url: `/api/patients/${patient._id}`, payload: { dateOfBirth: '1990-13-45' }, fields: ['body.dateOfBirth'] },
      { method: 'PUT', url: `/api/patients/${patient._id}`, payload: {}, fields: ['body'] },
      { method: 'PUT', url: '/api/patients/not-a-uuid', payload: { city: 'X' }, fields: ['params.id'] },
    ];
    for (const attempt of attempts) {
      const response = await api(attempt.method, attempt.url, attempt.payload);
      expect(response.status, JSON.stringify(attempt.payload)).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      const fields = (response.body.errors as Array<{ field: string }>).map((error) => error.field);
      for (const field of attempt.fields) expect(fields, JSON.stringify(attempt.payload)).toContain(field);
    }
    expect(await snapshot()).toEqual(before);
  });
});
