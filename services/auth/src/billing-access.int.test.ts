import {
  ACCESS_REVOCATIONS_PATH,
  billingAccessChangedV1,
  createEvent,
  parseEvent,
  REVOCATIONS_READER_ROLE,
  type AccessRevocationsSnapshot,
  type EventEnvelope,
} from '@pep/contracts';
import type { Subscription } from '@pep/bus';
import { signIdentity } from '@pep/service-kit';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, publishSoon, SECRET, signup, startAuth, type AuthUnderTest, type SignupResult } from '../test/harness.js';

describe("auth service: an organization suspended for billing, from billing's access-changed events", () => {
  let service: AuthUnderTest;
  let sql: pg.Client;
  let subscription: Subscription;
  let a: SignupResult;
  let b: SignupResult;
  const published: EventEnvelope[] = [];

  beforeAll(async () => {
    service = await startAuth('billing-access', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    a = await signup(service.app);
    b = await signup(service.app);
    subscription = await service.bus.subscribe({
      groupId: 'auth-billing-access-observer',
      topics: ['auth.organization'],
      handler: async (message) => {
        published.push(parseEvent(message.value));
      },
    });
  }, 120_000);
  afterAll(async () => {
    await subscription?.stop();
    await sql?.end();
    await service?.close();
  });

  const changed = (organization: string, standing: 'good-standing' | 'grace' | 'suspended', time: Date, id?: string) =>
    createEvent(billingAccessChangedV1, {
      ...(id ? { id } : {}),
      source: '/services/billing',
      organization,
      subject: organization,
      time,
      data: { _id: organization, standing, graceEndsAt: standing === 'good-standing' ? null : time.toISOString() },
    });
  const announce = (...events: Array<ReturnType<typeof changed>>) =>
    publishSoon(
      service,
      events.map((event) => ({ topic: billingAccessChangedV1.topic, key: event.subject, value: JSON.stringify(event) })),
    );
  const handled = (count: number) =>
    waitFor(
      async () => (await sql.query("SELECT count(*)::int AS n FROM inbox WHERE consumer = 'auth.billing-access'")).rows[0].n >= count,
      { timeoutMs: 60_000, message: 'billing events handled' },
    );
  const suspendedAt = async (organization: string) =>
    (await sql.query('SELECT billing_suspended_at FROM organization WHERE id = $1', [organization])).rows[0]
      .billing_suspended_at as Date | null;
  const updates = (organization: string) =>
    published.filter((e) => e.type === 'organization.updated' && e.organization === organization) as Array<
      EventEnvelope<{ billingSuspended?: boolean; active: boolean; changed: string[] }>
    >;
  const snapshot = async () => {
    const identity = await signIdentity(SECRET, { organization: 'platform', user: 'gateway', roles: [REVOCATIONS_READER_ROLE] });
    const response = await service.app.inject({ url: ACCESS_REVOCATIONS_PATH, headers: { 'x-internal-identity': identity } });
    return response.json() as AccessRevocationsSnapshot;
  };

  it('marks the organization suspended when its grace period ended, once, and tells the gateways', async () => {
    const org = a.organization._id;
    const t0 = new Date(Date.now() - 60_000);
    const suspended = changed(org, 'suspended', new Date(t0.getTime() + 1_000));
    // The grace period's start changes nothing here; the suspension, delivered twice, marks it once.
    await announce(changed(org, 'grace', t0), suspended, suspended);
    await handled(2);
    expect(await suspendedAt(org)).toBeInstanceOf(Date);
    const update = await waitFor(() => updates(org)[0], { timeoutMs: 60_000, message: 'organization.updated' });
    expect(update.data).toMatchObject({ _id: org, active: true, billingSuspended: true, changed: ['billingSuspended'] });
    expect((await snapshot()).billingSuspended).toEqual([{ organization: org, since: (await suspendedAt(org))!.toISOString() }]);
    // The other organization is untouched.
    expect(await suspendedAt(b.organization._id)).toBeNull();
  });

  it('keeps a suspended organization active, readable and its sessions alive: nothing is revoked or deleted', async () => {
    const org = a.organization._id;
    const own = await service.app.inject({ url: `/api/organizations/${org}`, headers: await bearer(a.token) });
    expect(own.statusCode).toBe(200);
    const access = await service.app.inject({ url: `/api/organizations/${org}/access`, headers: await bearer(a.token) });
    expect(access.statusCode).toBe(200);
    expect(access.json()).toMatchObject({ active: true });
    const revoked = await sql.query("SELECT count(*)::int AS n FROM access_revocation WHERE organization = $1 AND scope = 'organization'", [
      org,
    ]);
    expect(revoked.rows[0].n).toBe(0);
    expect((await snapshot()).revocations.filter((r) => r.organization === org)).toEqual([]);
  });

  it('lifts the mark when a payment succeeded, and a late older suspension does not bring it back', async () => {
    const org = a.organization._id;
    const lift = changed(org, 'good-standing', new Date(Date.now() - 10_000));
    const late = changed(org, 'suspended', new Date(Date.now() - 20_000));
    await announce(lift, late);
    await handled(4);
    expect(await suspendedAt(org)).toBeNull();
    const update = await waitFor(() => updates(org)[1], { timeoutMs: 60_000, message: 'the lift' });
    expect(update.data).toMatchObject({ _id: org, active: true, billingSuspended: false, changed: ['billingSuspended'] });
    expect((await snapshot()).billingSuspended).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(updates(org)).toHaveLength(2);
  });
});
