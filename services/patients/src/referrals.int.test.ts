import { randomUUID } from 'node:crypto';
import { createEvent, parseEvent, settingsChangedV1, type EventEnvelope } from '@pep/contracts';
import type { Identity } from '@pep/service-kit';
import { kafkaBrokers, waitFor } from '@pep/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, connect, createPatient } from '../test/fixtures.js';
import { orgA, orgB, startPatients, type PatientsUnderTest } from '../test/harness.js';

const DAY_MS = 86_400_000;

describe('patients: referrals received, approved, rejected and changed through the state machine', () => {
  let service: PatientsUnderTest;
  let sql: pg.Client;
  let ann = '';
  let bob = '';
  let ofB = '';

  beforeAll(async () => {
    service = await startPatients('referrals', await kafkaBrokers());
    sql = await connect(service);
    ann = (await createPatient(service.app, orgA, { firstname: 'Ann', lastname: 'Zélie Quintero', phone: '(415) 555-0142' }))._id;
    bob = (await createPatient(service.app, orgA, { firstname: 'Bob', lastname: 'Marchetti', phone: '415-555-0199' }))._id;
    ofB = (await createPatient(service.app, orgB, { firstname: 'Bea', lastname: 'Quintero', phone: '415-555-0142' }))._id;
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  /** The events staged for a subject, in order. */
  const eventsOf = async (subject: string) =>
    (
      await sql.query<{ envelope: EventEnvelope }>("SELECT envelope FROM outbox WHERE envelope->>'subject' = $1 ORDER BY seq", [subject])
    ).rows.map((row) => row.envelope);
  const eventCount = async () => (await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox')).rows[0]!.n;
  const referralRows = async (ids: string[]) =>
    (await sql.query('SELECT * FROM referral WHERE id = ANY($1::uuid[]) ORDER BY id', [ids])).rows as Array<Record<string, unknown>>;

  const refer = async (payload: Record<string, unknown>, caller: Identity = orgA) => {
    const response = await call(service.app, caller, 'POST', '/api/referrals', payload);
    if (response.status !== 200) throw new Error(`create answered ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body as { _id: string; status: string } & Record<string, unknown>;
  };

  it('receives a referral pending, with defaults from the platform and its referring provider found or created', async () => {
    const before = Date.now();
    const created = await refer({
      patient: ann,
      referringProvider: { npi: '1234567893', firstname: 'Rita', lastname: 'Okafor' },
      name: 'Cardiology consult',
      notes: 'Chest pain since March',
      duration: 45,
    });
    expect(created).toMatchObject({
      patient: ann,
      status: 'pending',
      source: 'ui',
      name: 'Cardiology consult',
      duration: 45,
      referringProvider: 'Rita Okafor',
      attempt: 0,
      deleted: 0,
      organization: orgA.organization,
    });
    const startOn = Date.parse(created.startOn as string);
    expect(startOn).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(created.expireAt as string) - startOn).toBe(30 * DAY_MS);

    // The same NPI again names the same provider.
    const again = await refer({ patient: bob, referringProvider: { npi: '1234567893', name: 'R. Okafor' } });
    expect(again.referringProviderId).toBe(created.referringProviderId);
    const byAlias = await refer({ patient: bob, referringProviderId: created.referringProviderId });
    expect(byAlias.referringProvider).toBe('Rita Okafor');
    // v1 clients name the provider with a string: the same folded name finds the same provider.
    const byName = await refer({ patient: bob, referringProvider: 'rita  OKAFOR' });
    expect(byName.referringProviderId).toBe(created.referringProviderId);

    const [event] = await eventsOf(created._id);
    expect(event).toMatchObject({
      type: 'referral.created',
      organization: orgA.organization,
      data: { _id: created._id, patient: ann, status: 'pending', referringProvider: created.referringProviderId, attempt: 0 },
    });
    expect(JSON.stringify(event)).not.toContain('Chest pain');
    expect((await call(service.app, orgA, 'GET', `/api/referrals/${created._id}`)).body).toEqual(created);
  });

  it('refuses a patient that is not a live one of the organization, naming the field, and stores nothing', async () => {
    const before = await eventCount();
    const count = async () => (await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM referral')).rows[0]!.n;
    const stored = await count();
    for (const patient of [randomUUID(), ofB]) {
      const response = await call(service.app, orgA, 'POST', '/api/referrals', { patient, name: 'x' });
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.body.errors).toEqual([expect.objectContaining({ field: 'body.patient' })]);
    }
    const foreignProvider = (await refer({ patient: ofB, referringProvider: { name: 'Dr Other Org' } }, orgB)).referringProviderId;
    const storedWithB = await count();
    const badProvider = await call(service.app, orgA, 'POST', '/api/referrals', { patient: ann, referringProviderId: foreignProvider });
    expect(badProvider.status).toBe(400);
    expect(badProvider.body.errors).toEqual([expect.objectContaining({ field: 'body.referringProviderId' })]);
    const badDates = await call(service.app, orgA, 'POST', '/api/referrals', {
      patient: ann,
      startOn: '2027-01-10T00:00:00Z',
      expireAt: '2027-01-01T00:00:00Z',
    });
    expect(badDates.status).toBe(400);
    expect(badDates.body.errors).toEqual([expect.objectContaining({ field: 'body.expireAt' })]);
    const withStatus = await call(service.app, orgA, 'POST', '/api/referrals', { patient: ann, status: 'active' });
    expect(withStatus.status).toBe(400);
    expect(await count()).toBe(storedWithB);
    expect(storedWithB).toBe(stored + 1);
    // Only B's own referral was published.
    expect(await eventCount()).toBe(before + 1);
  });

  it("starts referrals active and dates their expiry by the organization's settings from auth", async () => {
    const org: Identity = { organization: randomUUID(), user: 'user-c', roles: ['manager'] };
    const patient = (await createPatient(service.app, org, { firstname: 'Cy', lastname: 'Auto' }))._id;
    const setting = randomUUID();
    const changed = (settings: Record<string, unknown>, time: Date) =>
      createEvent(settingsChangedV1, {
        source: '/services/auth',
        organization: org.organization,
        subject: setting,
        time,
        data: {
          _id: setting,
          organization: org.organization,
          ref: 'organization',
          refId: org.organization,
          settings,
          unsubscribed: [],
          unsubscribedAll: false,
          deleted: false,
        },
      });
    const now = Date.now();
    // The later change arrives first: the earlier one, handled after it, must not win.
    const events = [
      changed({ referralAutoApprove: true, referralExpiryDays: 7 }, new Date(now)),
      changed({ referralAutoApprove: false }, new Date(now - 60_000)),
    ];
    await service.bus.publish(events.map((event) => ({ topic: settingsChangedV1.topic, key: setting, value: JSON.stringify(event) })));
    await waitFor(
      async () =>
        (await sql.query("SELECT 1 FROM inbox WHERE event_id = $1 AND consumer = 'patients.referral-settings'", [events[1]!.id])).rows
          .length === 1,
      { timeoutMs: 30_000, message: 'both settings changes handled' },
    );
    expect(
      (await sql.query('SELECT auto_approve, expiry_days FROM referral_setting WHERE organization = $1', [org.organization])).rows,
    ).toEqual([{ auto_approve: true, expiry_days: 7 }]);
    const created = await refer({ patient, startOn: '2027-03-01T09:00:00Z' }, org);
    expect(created.status).toBe('active');
    expect(created.expireAt).toBe('2027-03-08T09:00:00.000Z');
    const [event] = await eventsOf(created._id);
    expect(event).toMatchObject({ type: 'referral.created', data: { status: 'active' } });
    // Another organization keeps the defaults.
    expect((await refer({ patient: bob })).status).toBe('pending');
  });

  it('approves a pending referral once; approving it again is refused with 409', async () => {
    const referral = await refer({ patient: ann });
    const approved = await call(service.app, orgA, 'POST', `/api/referrals/${referral._id}/approve`);
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'active', updatedBy: orgA.user });
    const again = await call(service.app, orgA, 'POST', `/api/referrals/${referral._id}/approve`);
    expect(again.status).toBe(409);
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(again.body).toMatchObject({ current: 'active' });
    const events = await eventsOf(referral._id);
    expect(events.map((event) => event.type)).toEqual(['referral.created', 'referral.status-changed']);
    expect(events[1]!.data).toMatchObject({ status: 'active', previousStatus: 'pending', statusReason: null });
  });

  it('lets providers read and change referrals but not delete them', async () => {
    const provider: Identity = { ...orgA, user: 'provider-a', roles: ['provider'] };
    const referral = await refer({ patient: ann }, provider);
    expect((await call(service.app, provider, 'GET', `/api/referrals/${referral._id}`)).status).toBe(200);
    expect((await call(service.app, provider, 'DELETE', `/api/referrals/${referral._id}`)).status).toBe(403);
    expect((await call(service.app, provider, 'DELETE', `/api/referrals/batch?ids=${referral._id}`)).status).toBe(403);
    expect((await call(service.app, orgA, 'GET', `/api/referrals/${referral._id}`)).body.deleted).toBe(0);
  });

  it('lets exactly one of two concurrent approvals win', async () => {
    const referral = await refer({ patient: bob });
    const answers = await Promise.all([1, 2].map(() => call(service.app, orgA, 'POST', `/api/referrals/${referral._id}/approve`)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
    expect((await eventsOf(referral._id)).filter((event) => event.type === 'referral.status-changed')).toHaveLength(1);
  });

  it('rejects with a reason: closed, the description kept but never published; a closed referral cannot be rejected again', async () => {
    const referral = await refer({ patient: ann });
    const missing = await call(service.app, orgA, 'POST', `/api/referrals/${referral._id}/reject`, {});
    expect(missing.status).toBe(400);
    expect(missing.body.errors).toEqual([expect.objectContaining({ field: 'body.statusReason' })]);
    const wrong = await call(service.app, orgA, 'POST', `/api/referrals/${referral._id}/reject`, { statusReason: 'bored' });
    expect(wrong.status).toBe(400);

    const rejected = await call(service.app, orgA, 'POST', `/api/referrals/${referral._id}/reject`, {
      statusReason: 'invalid-insurance',
      statusReasonDescription: 'Plan 7731 lapsed in May',
    });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({
      status: 'closed',
      statusReason: 'invalid-insurance',
      statusReasonDescription: 'Plan 7731 lapsed in May',
    });
    const change = (await eventsOf(referral._id)).at(-1)!;
    expect(change).toMatchObject({
      type: 'referral.status-changed',
      data: { status: 'closed', previousStatus: 'pending', statusReason: 'invalid-insurance' },
    });
    expect(JSON.stringify(change)).not.toContain('7731');

    const again = await call(service.app, orgA, 'POST', `/api/referrals/${referral._id}/reject`, { statusReason: 'other' });
    expect(again.status).toBe(409);
    const reopen = await call(service.app, orgA, 'PUT', `/api/referrals/${referral._id}`, { status: 'active' });
    expect(reopen.status).toBe(409);
    expect(reopen.body).toMatchObject({ current: 'closed', allowed: [] });
  });

  it('changes fields with referral.updated naming them, and the status through the state machine', async () => {
    const referral = await refer({ patient: ann, notes: 'first' });
    const unchanged = await call(service.app, orgA, 'PUT', `/api/referrals/${referral._id}`, { notes: 'first' });
    expect(unchanged.status).toBe(200);
    expect(await eventsOf(referral._id)).toHaveLength(1);

    const changed = await call(service.app, orgA, 'PUT', `/api/referrals/${referral._id}`, {
      notes: 'second',
      referringProvider: { name: 'Dr Lena Voss' },
      expireAt: '2099-01-01T00:00:00Z',
      status: 'active',
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      notes: 'second',
      referringProvider: 'Dr Lena Voss',
      expireAt: '2099-01-01T00:00:00.000Z',
      status: 'active',
    });
    const [, updated, statusChanged] = await eventsOf(referral._id);
    expect(updated).toMatchObject({ type: 'referral.updated', data: { status: 'pending', expireAt: '2099-01-01T00:00:00.000Z' } });
    expect((updated!.data as { changed: string[] }).changed.sort()).toEqual(['expireAt', 'notes', 'referringProvider']);
    expect(statusChanged).toMatchObject({ type: 'referral.status-changed', data: { status: 'active', previousStatus: 'pending' } });

    const scheduled = await call(service.app, orgA, 'PUT', `/api/referrals/${referral._id}`, { status: 'scheduled' });
    expect(scheduled.body.scheduledAt).not.toBeNull();

    const bad = await call(service.app, orgA, 'PUT', `/api/referrals/${referral._id}`, { status: 'called' });
    expect(bad.status).toBe(409);
    const badDates = await call(service.app, orgA, 'PUT', `/api/referrals/${referral._id}`, { expireAt: '2000-01-01T00:00:00Z' });
    expect(badDates.status).toBe(400);
    expect(badDates.body.errors).toEqual([expect.objectContaining({ field: 'body.expireAt' })]);
    const reasonAlone = await call(service.app, orgA, 'PUT', `/api/referrals/${referral._id}`, { statusReason: 'other' });
    expect(reasonAlone.status).toBe(400);
    expect(reasonAlone.body.errors).toEqual([expect.objectContaining({ field: 'body.statusReason' })]);
    expect(await eventsOf(referral._id)).toHaveLength(4);

    // An expired referral reopens only with a deadline still ahead (else the expiry sweep would expire it at once).
    const lapsed = await refer({ patient: ann, startOn: '2020-01-01T00:00:00Z', expireAt: '2020-02-01T00:00:00Z' });
    expect((await call(service.app, orgA, 'PUT', `/api/referrals/${lapsed._id}`, { status: 'expired' })).status).toBe(200);
    const reopened = await call(service.app, orgA, 'PUT', `/api/referrals/${lapsed._id}`, { status: 'active' });
    expect(reopened.status).toBe(400);
    expect(reopened.body.errors).toEqual([expect.objectContaining({ field: 'body.expireAt' })]);
    const later = await call(service.app, orgA, 'PUT', `/api/referrals/${lapsed._id}`, {
      status: 'active',
      expireAt: '2099-01-01T00:00:00Z',
    });
    expect(later.body).toMatchObject({ status: 'active', expireAt: '2099-01-01T00:00:00.000Z' });
  });

  it('changes a batch all or nothing: an unknown id or a refused transition changes none and publishes nothing', async () => {
    const [one, two, three] = [await refer({ patient: ann }), await refer({ patient: bob }), await refer({ patient: bob })];
    await call(service.app, orgA, 'POST', `/api/referrals/${three._id}/reject`, { statusReason: 'missing-data' });
    const ids = [one._id, two._id, three._id];
    const rowsBefore = await referralRows(ids);
    const eventsBefore = await eventCount();

    const unknown = randomUUID();
    const notFound = await call(service.app, orgA, 'PUT', '/api/referrals/batch', { ids: [one._id, unknown, two._id], status: 'active' });
    expect(notFound.status).toBe(404);
    expect(notFound.body.ids).toEqual([unknown]);
    const foreign = await refer({ patient: ofB }, orgB);
    const eventsWithB = await eventCount();
    const ofOther = await call(service.app, orgA, 'PUT', '/api/referrals/batch', { ids: [one._id, foreign._id], notes: 'x' });
    expect(ofOther.status).toBe(404);
    expect(ofOther.body.ids).toEqual([foreign._id]);
    const refused = await call(service.app, orgA, 'PUT', '/api/referrals/batch', { ids, status: 'active', notes: 'batch' });
    expect(refused.status).toBe(409);
    expect(await referralRows(ids)).toEqual(rowsBefore);
    expect(await eventCount()).toBe(eventsWithB);
    expect(eventsWithB).toBe(eventsBefore + 1);

    const done = await call(service.app, orgA, 'PUT', '/api/referrals/batch', { ids: [one._id, two._id, one._id], status: 'active' });
    expect(done.status).toBe(200);
    expect(done.body.total).toBe(2);
    expect(done.body.response.map((referral: { status: string }) => referral.status)).toEqual(['active', 'active']);
    for (const id of [one._id, two._id])
      expect((await eventsOf(id)).filter((event) => event.type === 'referral.status-changed')).toHaveLength(1);
  });

  it('deletes a batch all or nothing, ids in the query or the body, one referral.deleted each', async () => {
    const [one, two] = [await refer({ patient: ann }), await refer({ patient: bob })];
    const unknown = randomUUID();
    const refused = await call(service.app, orgA, 'DELETE', `/api/referrals/batch?ids=${one._id},${unknown}`);
    expect(refused.status).toBe(404);
    expect(refused.body.ids).toEqual([unknown]);
    expect((await referralRows([one._id])).map((row) => row['deleted_at'])).toEqual([null]);
    expect((await call(service.app, orgA, 'DELETE', '/api/referrals/batch')).status).toBe(400);

    const deleted = await call(service.app, orgA, 'DELETE', `/api/referrals/batch?ids=${one._id}&ids=${two._id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body.response.map((referral: { deleted: number }) => referral.deleted)).toEqual([1, 1]);
    for (const referral of [one, two]) {
      expect((await call(service.app, orgA, 'GET', `/api/referrals/${referral._id}`)).status).toBe(404);
      expect((await eventsOf(referral._id)).at(-1)).toMatchObject({ type: 'referral.deleted', data: { _id: referral._id } });
    }
    const third = await refer({ patient: ann });
    const byBody = await call(service.app, orgA, 'DELETE', '/api/referrals/batch', { ids: [third._id] });
    expect(byBody.status).toBe(200);
    const single = await refer({ patient: ann });
    expect((await call(service.app, orgA, 'DELETE', `/api/referrals/${single._id}`)).body.deleted).toBe(1);
    expect((await call(service.app, orgA, 'DELETE', `/api/referrals/${single._id}`)).status).toBe(404);
    expect((await call(service.app, orgA, 'POST', `/api/referrals/${single._id}/approve`)).status).toBe(404);
  });

  it('finds referrals by patient name or phone, referring provider name or NPI, status and dates', async () => {
    const org: Identity = { organization: randomUUID(), user: 'user-d', roles: ['staff'] };
    const zoe = (await createPatient(service.app, org, { firstname: 'Zoë', lastname: "O'Brien", phone: '+1 212 555 0123' }))._id;
    const max = (await createPatient(service.app, org, { firstname: 'Max', lastname: 'Brien', phone: '212-555-0177' }))._id;
    const forZoe = await refer(
      { patient: zoe, referringProvider: { npi: '1679576722', name: 'Dr Harriet Oyelaran' }, startOn: '2027-02-01T00:00:00Z' },
      org,
    );
    const forMax = await refer({ patient: max, source: 'upload', startOn: '2027-04-01T00:00:00Z' }, org);
    await call(service.app, org, 'POST', `/api/referrals/${forMax._id}/approve`);
    const ids = async (url: string) => {
      const response = await call(service.app, org, 'GET', url);
      expect(response.status, url).toBe(200);
      return (response.body.response as Array<{ _id: string }>).map((referral) => referral._id).sort();
    };

    expect(await ids('/api/referrals/search?q=zoe%20obrien')).toEqual([]);
    expect(await ids('/api/referrals/search?q=ZOE%20o%27brien')).toEqual([forZoe._id]);
    expect(await ids('/api/referrals/search?q=brien')).toEqual([forZoe._id, forMax._id].sort());
    expect(await ids('/api/referrals/search?q=(212)%20555-0123')).toEqual([forZoe._id]);
    expect(await ids('/api/referrals/search?q=%2B12125550177')).toEqual([forMax._id]);
    expect(await ids('/api/referrals/search?q=oyelaran')).toEqual([forZoe._id]);
    expect(await ids('/api/referrals/search?q=1679576722')).toEqual([forZoe._id]);
    expect(await ids('/api/referrals/search?q=brien&status=active')).toEqual([forMax._id]);
    expect(await ids('/api/referrals/search?q=brien&status=pending,active')).toEqual([forZoe._id, forMax._id].sort());
    expect(await ids('/api/referrals/search?q=brien&startOn=%3E%3D2027-03-01T00:00:00Z')).toEqual([forMax._id]);
    expect(await ids('/api/referrals/search?value=nobody')).toEqual([]);
    const bad = await call(service.app, org, 'GET', '/api/referrals/search?q=%21%21');
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([expect.objectContaining({ field: 'querystring.q' })]);

    expect(await ids('/api/referrals?status=pending')).toEqual([forZoe._id]);
    expect(await ids(`/api/referrals?patient=${max}`)).toEqual([forMax._id]);
    expect(await ids(`/api/referrals?referringProvider=${forZoe.referringProviderId}`)).toEqual([forZoe._id]);
    expect(await ids('/api/referrals?source=upload')).toEqual([forMax._id]);
    const page = (await call(service.app, org, 'GET', '/api/referrals?sort=startOn&limit=1&page=2')).body;
    expect(page).toMatchObject({ page: 2, limit: 1, total: 2, response: [{ _id: forMax._id }] });
    expect((await call(service.app, org, 'GET', '/api/referrals?status=unknown')).status).toBe(400);
    expect((await call(service.app, org, 'GET', '/api/referrals/count?status=active,pending')).body).toEqual({ count: 2 });
    expect((await call(service.app, org, 'GET', '/api/referrals/count?source=upload')).body).toEqual({ count: 1 });
    const rows = (await call(service.app, org, 'GET', '/api/referrals/crudList?sort=startOn')).body;
    expect(rows).toMatchObject({
      total: 2,
      response: [
        { _id: forZoe._id, patientName: "Zoë O'Brien", referringProvider: 'Dr Harriet Oyelaran', status: 'pending' },
        { _id: forMax._id, patientName: 'Max Brien', referringProvider: null, status: 'active' },
      ],
    });
  });

  it('publishes its events on the referral topic', async () => {
    const seen: EventEnvelope[] = [];
    const subscription = await service.bus.subscribe({
      groupId: 'referrals-test-observer',
      topics: ['patients.referral'],
      handler: async (message) => {
        seen.push(parseEvent(message.value));
      },
    });
    try {
      const referral = await refer({ patient: bob });
      await call(service.app, orgA, 'POST', `/api/referrals/${referral._id}/approve`);
      await waitFor(async () => seen.filter((event) => event.subject === referral._id).length === 2, {
        timeoutMs: 30_000,
        message: 'both events of the referral published',
      });
      expect(seen.filter((event) => event.subject === referral._id).map((event) => event.type)).toEqual([
        'referral.created',
        'referral.status-changed',
      ]);
    } finally {
      await subscription.stop();
    }
  });
});
