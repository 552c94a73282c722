import { kafkaBrokers } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createPatient } from '../test/fixtures.js';
import { orgA, orgB, startPatients, type PatientsUnderTest } from '../test/harness.js';

describe('patients: search', () => {
  let service: PatientsUnderTest;
  const ids: Record<string, string> = {};
  const search = async (type: string, value: string, extra = '') => {
    const response = await call(
      service.app,
      orgA,
      'GET',
      `/api/patients/search?type=${type}&value=${encodeURIComponent(value)}&scope=patient${extra}`,
    );
    return response;
  };
  const found = async (type: string, value: string) =>
    ((await search(type, value)).body as Array<{ _id: string }>).map((p) => p._id).sort();

  beforeAll(async () => {
    service = await startPatients('search', await kafkaBrokers());
    ids['zoe'] = (
      await createPatient(service.app, orgA, {
        firstname: 'Zoë',
        lastname: "O'Brien-Søren",
        phone: '415-555-2681',
        email: 'Zoe@Example.com',
        dateOfBirth: '1985-03-04',
      })
    )._id;
    ids['zoey'] = (
      await createPatient(service.app, orgA, {
        firstname: 'Zoey',
        lastname: 'Adams',
        contact: [
          { type: 'work', value: '(415) 555-2682' },
          { type: 'email', value: 'zoey@example.com' },
        ],
      })
    )._id;
    ids['bob'] = (await createPatient(service.app, orgA, { firstname: 'Bob', lastname: 'Brien', dateOfBirth: '1985-03-04' }))._id;
    ids['gone'] = (await createPatient(service.app, orgA, { firstname: 'Zoe', lastname: 'Gone', phone: '415-555-2681' }))._id;
    await call(service.app, orgA, 'DELETE', `/api/patients/${ids['gone']}`);
    // Another organization's patient with the same details is never found.
    await createPatient(service.app, orgB, {
      firstname: 'Zoe',
      lastname: "O'Brien",
      phone: '415-555-2681',
      email: 'zoe@example.com',
      dateOfBirth: '1985-03-04',
    });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('finds by name: prefix and contains, any case and accents, every word', async () => {
    expect(await found('name', 'zoe')).toEqual([ids['zoe'], ids['zoey']].sort());
    expect(await found('name', 'Zoë Sø')).toEqual([ids['zoe']]);
    expect(await found('name', 'ZO')).toEqual([ids['zoe'], ids['zoey']].sort());
    expect(await found('name', 'brien')).toEqual([ids['zoe'], ids['bob']].sort());
    expect(await found('name', 'obrien')).toEqual([]);
    // Punctuation splits words: "O’Brien" asks for "o" and "brien".
    expect(await found('name', 'O’Brien')).toEqual([ids['zoe'], ids['bob']].sort());
    expect(await found('name', 'zoe o brien')).toEqual([ids['zoe']]);
    expect(await found('name', 'soren zoe')).toEqual([ids['zoe']]);
    expect(await found('name', 'ADA')).toEqual([ids['zoey']]);
  });

  it('finds by phone in any format, on every phone of the patient', async () => {
    expect(await found('phone', '(415) 555-2681')).toEqual([ids['zoe']]);
    expect(await found('phone', '+1 415 555 2682')).toEqual([ids['zoey']]);
    expect(await found('phone', '4155552699')).toEqual([]);
    const bad = await search('phone', 'abc');
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toEqual(['querystring.value']);
  });

  it('finds by e-mail ignoring case, and by exact date of birth', async () => {
    expect(await found('email', 'ZOE@example.COM')).toEqual([ids['zoe']]);
    expect(await found('email', 'zoey@example.com')).toEqual([ids['zoey']]);
    expect(await found('email', 'zoe@example')).toEqual([]);
    expect(await found('dateOfBirth', '1985-03-04')).toEqual([ids['zoe'], ids['bob']].sort());
    expect((await search('dateOfBirth', '04/03/1985')).status).toBe(400);
  });

  it('pages results and refuses unknown types and scopes', async () => {
    // A bare array, as v1 clients read it; the paging is in the headers.
    const first = await search('name', 'o', '&limit=1&page=1');
    expect(first.headers['x-total-count']).toBe('3');
    expect(first.body).toHaveLength(1);
    expect(first.headers['link']).toBe(`</api/patients/search?type=name&value=o&scope=patient&limit=1&page=2>; rel="next"`);
    const second = await search('name', 'o', '&limit=1&page=2');
    expect(second.body[0]._id).not.toBe(first.body[0]._id);
    expect(second.headers['link']).toBe(
      `</api/patients/search?type=name&value=o&scope=patient&limit=1&page=3>; rel="next", </api/patients/search?type=name&value=o&scope=patient&limit=1&page=1>; rel="prev"`,
    );
    const last = await search('name', 'o', '&limit=1&page=3');
    expect(last.headers['link']).not.toContain('rel="next"');
    expect((await call(service.app, orgA, 'GET', '/api/patients/search?type=ssn&value=1')).status).toBe(400);
    expect((await call(service.app, orgA, 'GET', '/api/patients/search?type=name&value=zoe&scope=provider')).status).toBe(400);
    expect((await call(service.app, orgA, 'GET', '/api/patients/search?type=name')).status).toBe(400);
  });
});
