import { kafkaBrokers, waitFor } from '@pep/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, connect, createPatient } from '../test/fixtures.js';
import { orgA, orgB, startPatients, type PatientsUnderTest } from '../test/harness.js';
import { NOT_BUILT } from './not-built.routes.js';

describe('patients service: one organization never reaches another’s records', () => {
  let service: PatientsUnderTest;
  let sql: pg.Client;
  let ofA = '';
  let ofB = '';
  let otherOfB = '';
  let referralOfB = '';
  let referringOfB = '';

  beforeAll(async () => {
    service = await startPatients('tenancy', await kafkaBrokers());
    sql = await connect(service);
    ofA = (await createPatient(service.app, orgA, { firstname: 'Alice', lastname: 'Aardvark', phone: '415-555-2611' }))._id;
    ofB = (
      await createPatient(service.app, orgB, { firstname: 'Bella', lastname: 'Bravo', phone: '415-555-2611', email: 'bella@example.com' })
    )._id;
    otherOfB = (await createPatient(service.app, orgB, { firstname: 'Bert', lastname: 'Bravo' }))._id;
    referralOfB = (
      await call(service.app, orgB, 'POST', '/api/referrals', { patient: ofB, referringProvider: { name: 'Dr Bravo Referrer' } })
    ).body._id;
    const referrerOfB = { name: 'Dr Bravo Second', npi: '1234567893' };
    referringOfB = (await call(service.app, orgB, 'POST', '/api/providers/referring', referrerOfB)).body._id;
    await call(service.app, orgB, 'POST', `/api/patients/${ofB}/follow`);
    await call(service.app, orgB, 'POST', '/api/patients/recent', { patient: ofB });
    // The journey is written by a consumer; B's rows must be settled before they are compared.
    await waitFor(
      async () => {
        const { rows } = await sql.query<{ pending: number; total: number; handled: number }>(
          'SELECT (SELECT count(*)::int FROM outbox WHERE published_at IS NULL) AS pending, (SELECT count(*)::int FROM outbox) AS total, (SELECT count(*)::int FROM inbox) AS handled',
        );
        return rows[0]!.pending === 0 && rows[0]!.handled >= rows[0]!.total;
      },
      { timeoutMs: 30_000, message: 'every setup event consumed' },
    );
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  /** Every row that belongs to organization B. */
  const snapshotOfB = async () => {
    const query = async (text: string) => (await sql.query(text, [orgB.organization])).rows;
    return {
      patients: await query('SELECT * FROM patient WHERE organization = $1 ORDER BY id'),
      subscribers: await query('SELECT * FROM patient_subscriber WHERE organization = $1 ORDER BY id'),
      recent: await query('SELECT * FROM recent_patient WHERE organization = $1 ORDER BY id'),
      journey: await query('SELECT id, patient FROM journey_entry WHERE organization = $1 ORDER BY id'),
      events: await query("SELECT id FROM outbox WHERE envelope->>'organization' = $1 ORDER BY seq"),
      referrals: await query('SELECT * FROM referral WHERE organization = $1 ORDER BY id'),
      referringProviders: await query('SELECT * FROM referring_provider WHERE organization = $1 ORDER BY id'),
      referralShares: await query('SELECT * FROM referral_share WHERE organization = $1 ORDER BY id'),
    };
  };

  /** Each built route that takes an id, called by A's staff with B's ids. */
  const attempts = () =>
    [
      { method: 'GET', route: '/api/patients/:id', url: `/api/patients/${ofB}` },
      { method: 'PUT', route: '/api/patients/:id', url: `/api/patients/${ofB}`, payload: { firstname: 'Hacked' } },
      { method: 'PUT', route: '/api/patients/:id', url: `/api/patients/${ofB}`, payload: { doNotContact: true } },
      { method: 'DELETE', route: '/api/patients/:id', url: `/api/patients/${ofB}` },
      { method: 'GET', route: '/api/patients/:id/doNotContact', url: `/api/patients/${ofB}/doNotContact` },
      { method: 'GET', route: '/api/patients/:id/journey', url: `/api/patients/${ofB}/journey` },
      { method: 'POST', route: '/api/patients/:id/verify', url: `/api/patients/${ofB}/verify` },
      {
        method: 'POST',
        route: '/api/patients/:id/verify',
        url: `/api/patients/${ofB}/verify`,
        payload: { contact: { type: 'email', value: 'bella@example.com' } },
      },
      { method: 'POST', route: '/api/patients/:id/follow', url: `/api/patients/${ofB}/follow` },
      { method: 'POST', route: '/api/patients/:id/unfollow', url: `/api/patients/${ofB}/unfollow` },
      { method: 'POST', route: '/api/patientSubscribers/:id/follow', url: `/api/patientSubscribers/${ofB}/follow` },
      { method: 'POST', route: '/api/patientSubscribers/:id/unfollow', url: `/api/patientSubscribers/${ofB}/unfollow` },
      { method: 'GET', route: '/api/referrals/:id', url: `/api/referrals/${referralOfB}` },
      { method: 'PUT', route: '/api/referrals/:id', url: `/api/referrals/${referralOfB}`, payload: { notes: 'Hacked' } },
      { method: 'PUT', route: '/api/referrals/:id', url: `/api/referrals/${referralOfB}`, payload: { status: 'active' } },
      { method: 'DELETE', route: '/api/referrals/:id', url: `/api/referrals/${referralOfB}` },
      { method: 'POST', route: '/api/referrals/:id/approve', url: `/api/referrals/${referralOfB}/approve` },
      {
        method: 'POST',
        route: '/api/referrals/:id/reject',
        url: `/api/referrals/${referralOfB}/reject`,
        payload: { statusReason: 'other' },
      },
      { method: 'PUT', route: '/api/referrals/batch', url: '/api/referrals/batch', payload: { ids: [referralOfB], status: 'active' } },
      { method: 'DELETE', route: '/api/referrals/batch', url: `/api/referrals/batch?ids=${referralOfB}` },
      { method: 'DELETE', route: '/api/referrals/batch', url: '/api/referrals/batch', payload: { ids: [referralOfB] } },
      { method: 'GET', route: '/api/providers/referring/:id', url: `/api/providers/referring/${referringOfB}` },
      {
        method: 'PUT',
        route: '/api/providers/referring/:id',
        url: `/api/providers/referring/${referringOfB}`,
        payload: { name: 'Hacked' },
      },
      { method: 'PUT', route: '/api/providers/referring/:id/activate', url: `/api/providers/referring/${referringOfB}/activate` },
      { method: 'PUT', route: '/api/providers/referring/:id/deactivate', url: `/api/providers/referring/${referringOfB}/deactivate` },
      { method: 'GET', route: '/api/providers/referring/:id/referrals', url: `/api/providers/referring/${referringOfB}/referrals` },
      {
        method: 'POST',
        route: '/api/providers/referring/:id/share',
        url: `/api/providers/referring/${referringOfB}/share`,
        payload: { channel: 'email', email: 'a@example.com' },
      },
      {
        method: 'POST',
        route: '/api/providers/referring/:id/share',
        url: `/api/providers/referring/${referringOfB}/share`,
        payload: { channel: 'fax' },
      },
      // Not id routes, but they name B's records in the body.
      { method: 'POST', route: '/api/patients/recent', url: '/api/patients/recent', payload: { patient: ofB } },
      { method: 'POST', route: '/api/patients/merge', url: '/api/patients/merge', payload: { survivor: ofA, merged: ofB } },
      { method: 'POST', route: '/api/patients/merge', url: '/api/patients/merge', payload: { survivor: ofB, merged: ofA } },
      { method: 'POST', route: '/api/patients/merge', url: '/api/patients/merge', payload: { survivor: ofB, merged: otherOfB } },
    ] as const;

  it('covers every built route that takes an id', async () => {
    const document = (await service.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const notBuilt = new Set(NOT_BUILT.map(([method, url]) => `${method} ${url}`));
    const withIds = Object.entries(document.paths)
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`))
      .filter((route) => route.includes('/:') && !notBuilt.has(route));
    expect(withIds.length).toBeGreaterThanOrEqual(10);
    const covered = new Set(attempts().map((attempt) => `${attempt.method} ${attempt.route}`));
    expect(withIds.filter((route) => !covered.has(route))).toEqual([]);
  });

  it("answers 404 for B's ids to A and changes none of B's rows", async () => {
    const before = await snapshotOfB();
    const aBefore = (await sql.query('SELECT * FROM patient WHERE id = $1', [ofA])).rows;
    for (const attempt of attempts()) {
      const response = await call(service.app, orgA, attempt.method, attempt.url, 'payload' in attempt ? attempt.payload : undefined);
      expect(response.status, `${attempt.method} ${attempt.url} ${JSON.stringify('payload' in attempt ? attempt.payload : '')}`).toBe(404);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.stringify(response.body)).not.toContain('Bravo');
    }
    expect(await snapshotOfB()).toEqual(before);
    expect((await sql.query('SELECT * FROM patient WHERE id = $1', [ofA])).rows).toEqual(aBefore);
  });

  // B's referral named in a share body is refused the same way (400 on body.referrals): referring-providers.int shows it,
  // where the service has the mail transport a share needs to get that far.
  it("refuses B's patient and referring provider named in a referral body, naming the field, and changes none of B's rows", async () => {
    const before = await snapshotOfB();
    const own = (await call(service.app, orgA, 'POST', '/api/referrals', { patient: ofA })).body._id as string;
    const references = [
      ['POST', '/api/referrals', { patient: ofB }, 'body.patient'],
      ['POST', '/api/referrals', { patient: ofA, referringProvider: { id: referringOfB } }, 'body.referringProvider'],
      ['POST', '/api/referrals', { patient: ofA, referringProviderId: referringOfB }, 'body.referringProviderId'],
      ['PUT', `/api/referrals/${own}`, { referringProvider: { id: referringOfB } }, 'body.referringProvider'],
      ['PUT', `/api/referrals/${own}`, { referringProviderId: referringOfB }, 'body.referringProviderId'],
    ] as const;
    for (const [method, url, payload, field] of references) {
      const response = await call(service.app, orgA, method, url, payload);
      expect(response.status, `${method} ${url} ${JSON.stringify(payload)}`).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.body.errors.map((error: { field: string }) => error.field)).toEqual([field]);
      expect(JSON.stringify(response.body)).not.toContain('Bravo');
    }
    expect(await snapshotOfB()).toEqual(before);
  });

  it("lists, searches and flags duplicates only within A's organization", async () => {
    const lists = [
      '/api/patients',
      '/api/patients/crudList',
      '/api/patients/search?type=name&value=bravo',
      '/api/patients/search?type=phone&value=4155552611',
      '/api/patients/search?type=email&value=bella@example.com',
      '/api/patients/recent',
      '/api/patientSubscribers',
      '/api/referrals',
      '/api/referrals/crudList',
      '/api/providers/referring',
      '/api/providers/referring?name=bravo',
      '/api/referrals/search?q=bravo',
      '/api/referrals/search?q=4155552611',
    ];
    for (const url of lists) {
      const response = await call(service.app, orgA, 'GET', url);
      expect(response.status, url).toBe(200);
      expect(JSON.stringify(response.body), url).not.toContain('Bravo');
      expect(JSON.stringify(response.body), url).not.toContain(ofB);
    }
    // Same phone and a different organization: not a duplicate.
    expect((await call(service.app, orgA, 'GET', `/api/patients/${ofA}`)).body.possibleDuplicateOf).toEqual([]);
  });

  it('answers 501 problem+json for the endpoints patients owns but has not built', async () => {
    for (const [method, url] of NOT_BUILT) {
      const concrete = url.replace(/:(\w+)\??/g, '1').replace('*', 'anything');
      const response = await call(service.app, orgA, method, concrete, method === 'GET' || method === 'DELETE' ? undefined : {});
      expect(response.status, `${method} ${concrete}`).toBe(501);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    expect((await call(service.app, orgA, 'GET', '/api/insurances/')).status).toBe(501);
  });
});
