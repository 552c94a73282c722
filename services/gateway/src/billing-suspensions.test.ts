import { createEvent, organizationUpdatedV1, type EventEnvelope } from '@pep/contracts';
import { describe, expect, it } from 'vitest';
import { BillingSuspensions, refusedWhileSuspended } from './billing-suspensions.js';

const ORG = '0f0e5d8c-5a55-4b6f-8a43-2d1c8c9b7a61';
const T = Date.UTC(2026, 11, 6, 4, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const billingChange = (suspended: boolean, at: number, changed = ['billingSuspended']) =>
  createEvent(organizationUpdatedV1, {
    source: '/services/auth',
    organization: ORG,
    subject: ORG,
    time: new Date(at),
    data: { _id: ORG, name: 'Clinic', active: true, billingSuspended: suspended, changed },
  }) as EventEnvelope;

describe('billing suspensions a gateway replica knows', () => {
  it('follows the latest change, whatever order events and snapshots arrive in', () => {
    const known = new BillingSuspensions();
    expect(known.applyEvent(billingChange(true, T))).toBe(true);
    expect(known.isSuspended(ORG)).toBe(true);
    // A late, older lift changes nothing; a newer one lifts.
    expect(known.applyEvent(billingChange(false, T - 1_000))).toBe(false);
    expect(known.isSuspended(ORG)).toBe(true);
    expect(known.applyEvent(billingChange(false, T + 1_000))).toBe(true);
    expect(known.isSuspended(ORG)).toBe(false);
    // A snapshot that still lists the older suspension does not bring it back.
    known.applySnapshot({ asOf: iso(T + 500), billingSuspended: [{ organization: ORG, since: iso(T) }] });
    expect(known.isSuspended(ORG)).toBe(false);
  });

  it('ignores organization updates that are not about billing (a rename keeps the suspension)', () => {
    const known = new BillingSuspensions();
    known.applyEvent(billingChange(true, T));
    expect(known.applyEvent(billingChange(false, T + 1_000, ['name']))).toBe(false);
    expect(known.isSuspended(ORG)).toBe(true);
  });

  it('lifts a suspension a later snapshot no longer lists, once the snapshot is well past it', () => {
    const known = new BillingSuspensions();
    known.applySnapshot({ asOf: iso(T), billingSuspended: [{ organization: ORG, since: iso(T - 60_000) }] });
    expect(known.isSuspended(ORG)).toBe(true);
    // Too recent for the snapshot to be sure of: its transaction may still be committing at auth.
    known.applyEvent(billingChange(true, T + 1_000));
    known.applySnapshot({ asOf: iso(T + 2_000), billingSuspended: [] });
    expect(known.isSuspended(ORG)).toBe(true);
    known.applySnapshot({ asOf: iso(T + 120_000), billingSuspended: [] });
    expect(known.isSuspended(ORG)).toBe(false);
    // A snapshot from an auth that predates billing suspensions says nothing about them.
    known.applyEvent(billingChange(true, T + 200_000));
    known.applySnapshot({ asOf: iso(T + 900_000) });
    expect(known.isSuspended(ORG)).toBe(true);
  });

  it('refuses writes but reads, paying and signing in', () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) expect(refusedWhileSuspended(method, '/api/patients/1')).toBe(true);
    for (const method of ['GET', 'HEAD', 'OPTIONS']) expect(refusedWhileSuspended(method, '/api/patients/1')).toBe(false);
    for (const path of [
      '/api/billing',
      '/api/billing/subscriptions',
      '/api/callback/stripe/charges',
      '/api/users/login',
      '/api/tokens/validate',
    ])
      expect(refusedWhileSuspended('POST', path)).toBe(false);
    expect(refusedWhileSuspended('POST', '/api/billingfoo')).toBe(true);
  });
});
