import type { Identity } from '@pep/service-kit';
import { kafkaBrokers, waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createPatient, observeEvents } from '../test/fixtures.js';
import { orgA, startPatients, type PatientsUnderTest } from '../test/harness.js';

const colleague: Identity = { ...orgA, user: 'user-a2', roles: ['provider'] };

describe('patients: do-not-contact, verification, followers and recently viewed', () => {
  let service: PatientsUnderTest;
  let events: Awaited<ReturnType<typeof observeEvents>>;
  const api = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, identity = orgA) =>
    call(service.app, identity, method, url, payload);

  beforeAll(async () => {
    service = await startPatients('engagement', await kafkaBrokers());
    events = await observeEvents(service, 'engagement-observer');
  });
  afterAll(async () => {
    await events?.stop();
    await service?.close();
  });

  it('sets and clears do-not-contact through PUT, publishing patient.contact-preferences-changed each time', async () => {
    const patient = await createPatient(service.app, orgA, {
      firstname: 'Dnc',
      lastname: 'Case',
      phone: '415-555-2691',
      email: 'dnc@example.com',
    });
    expect((await api('GET', `/api/patients/${patient._id}/doNotContact`)).body).toEqual({
      doNotContact: false,
      doNotContactMessage: null,
    });

    const set = await api('PUT', `/api/patients/${patient._id}`, { doNotContact: true, doNotContactMessage: 'Asked by phone' });
    expect(set.status).toBe(200);
    expect((await api('GET', `/api/patients/${patient._id}/doNotContact`)).body).toEqual({
      doNotContact: true,
      doNotContactMessage: 'Asked by phone',
    });
    const setEvent = await events.next(
      'patient.contact-preferences-changed',
      patient._id,
      (event) => (event.data as { doNotContact: boolean }).doNotContact,
    );
    expect(setEvent.data).toEqual({
      _id: patient._id,
      doNotContact: true,
      doNotContactMessage: 'Asked by phone',
      language: 'en',
      channels: [],
    });

    await api('PUT', `/api/patients/${patient._id}`, { doNotContact: false });
    expect((await api('GET', `/api/patients/${patient._id}/doNotContact`)).body).toEqual({
      doNotContact: false,
      doNotContactMessage: null,
    });
    const cleared = await events.next(
      'patient.contact-preferences-changed',
      patient._id,
      (event) => !(event.data as { doNotContact: boolean }).doNotContact,
    );
    expect(cleared.data).toMatchObject({ doNotContact: false, channels: ['sms', 'voice', 'email'] });

    // Language and reachable channels are preferences too; a name change is not.
    await api('PUT', `/api/patients/${patient._id}`, { language: 'pt' });
    await events.next(
      'patient.contact-preferences-changed',
      patient._id,
      (event) => (event.data as { language: string }).language === 'pt',
    );
    await api('PUT', `/api/patients/${patient._id}`, { firstname: 'Dnc2' });
    await events.next('patient.updated', patient._id, (event) => (event.data as { changed: string[] }).changed.includes('firstname'));
    expect(
      events.seen.filter((event) => event.type === 'patient.contact-preferences-changed' && event.subject === patient._id),
    ).toHaveLength(3);

    await waitFor(
      async () =>
        ((await api('GET', `/api/patients/${patient._id}/journey`)).body.response as Array<{ type: string }>).filter(
          (entry) => entry.type === 'patient.contact-preferences-changed',
        ).length === 3,
      { timeoutMs: 30_000, message: 'journey records preference changes' },
    );
  });

  it('verifies the record, and one contact detail when named', async () => {
    const patient = await createPatient(service.app, orgA, { firstname: 'Ver', lastname: 'Ify', phone: '415-555-2692' });
    const whole = await api('POST', `/api/patients/${patient._id}/verify`);
    expect(whole.status, JSON.stringify(whole.body)).toBe(200);
    expect(whole.body.verifiedBy).toBe(orgA.user);
    expect(Date.parse(whole.body.verifiedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(whole.body.contact[0].verifiedAt).toBeNull();

    const detail = await api(
      'POST',
      `/api/patients/${patient._id}/verify`,
      { contact: { type: 'mobile', value: '(415) 555-2692' } },
      colleague,
    );
    expect(detail.status).toBe(200);
    expect(detail.body.contact[0]).toMatchObject({ type: 'mobile', value: '+14155552692', verifiedBy: colleague.user });
    expect(detail.body.verifiedBy).toBe(colleague.user);
    const event = await events.next('patient.updated', patient._id, (e) => (e.data as { changed: string[] }).changed.includes('contact'));
    expect((event.data as { changed: string[] }).changed).toEqual(['contact', 'verifiedAt', 'verifiedBy']);

    const unknown = await api('POST', `/api/patients/${patient._id}/verify`, { contact: { type: 'email', value: 'x@example.com' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0].field).toBe('body.contact');
    // A kept detail keeps its verification when the list is rewritten.
    const rewritten = await api('PUT', `/api/patients/${patient._id}`, {
      contact: [
        { type: 'mobile', value: '4155552692' },
        { type: 'email', value: 'ver@example.com' },
      ],
    });
    expect(rewritten.body.contact[0].verifiedBy).toBe(colleague.user);
    expect(rewritten.body.email).toBe('ver@example.com');
  });

  it('follows and unfollows through both groups; the follower list answers only live patients', async () => {
    const one = await createPatient(service.app, orgA, { firstname: 'Fol', lastname: 'Lowed' });
    const two = await createPatient(service.app, orgA, { firstname: 'Fol', lastname: 'Lowedtoo' });
    expect((await api('POST', `/api/patients/${one._id}/follow`)).body.subscribers).toEqual([orgA.user]);
    expect((await api('POST', `/api/patients/${one._id}/follow`)).body.subscribers).toEqual([orgA.user]);
    expect((await api('POST', `/api/patientSubscribers/${one._id}/follow`, undefined, colleague)).body.subscribers).toEqual([
      orgA.user,
      colleague.user,
    ]);
    await api('POST', `/api/patientSubscribers/${two._id}/follow`);
    const followed = await api('GET', '/api/patientSubscribers');
    expect(followed.body).toMatchObject({ page: 1, total: 2 });
    expect(followed.body.response.map((p: { _id: string }) => p._id)).toEqual([one._id, two._id]);
    const event = await events.next('patient.updated', one._id, (e) => (e.data as { changed: string[] }).changed.includes('subscribers'));
    expect(event.data).toMatchObject({ subscribers: [orgA.user] });

    expect((await api('POST', `/api/patients/${one._id}/unfollow`)).body.subscribers).toEqual([colleague.user]);
    expect((await api('POST', `/api/patientSubscribers/${one._id}/unfollow`)).status).toBe(200);
    await api('DELETE', `/api/patients/${two._id}`);
    expect((await api('GET', '/api/patientSubscribers')).body.total).toBe(0);
    expect((await api('GET', '/api/patientSubscribers', undefined, colleague)).body.response.map((p: { _id: string }) => p._id)).toEqual([
      one._id,
    ]);
  });

  it('keeps the 20 most recently viewed patients per user, newest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 22; i++) ids.push((await createPatient(service.app, orgA, { firstname: `Rec${i}`, lastname: 'Ent' }))._id);
    for (const id of ids) expect((await api('POST', '/api/patients/recent', { patient: id })).status).toBe(200);
    // Viewing one again moves it to the front.
    const again = await api('POST', '/api/patients/recent', { patient: ids[5] });
    expect(again.body.response[0]._id).toBe(ids[5]);
    const recent = await api('GET', '/api/patients/recent');
    expect(recent.body).toMatchObject({ page: 1, limit: 20, total: 20 });
    expect(recent.body.response.map((p: { _id: string }) => p._id)).toEqual([ids[5], ...ids.slice(6).reverse(), ids[4], ids[3], ids[2]]);
    // Another user's list is their own.
    expect((await api('GET', '/api/patients/recent', undefined, colleague)).body.total).toBe(0);
    expect((await api('POST', '/api/patients/recent', { patient: '00000000-0000-4000-8000-000000000000' })).status).toBe(404);
    expect((await api('POST', '/api/patients/recent', { patient: ids[0], extra: 1 })).status).toBe(400);
  });
});
