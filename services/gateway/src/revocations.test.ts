import { createEvent, integratorClientUpdatedV1, organizationUpdatedV1, userPasswordChangedV1 } from '@pep/contracts';
import { describe, expect, it } from 'vitest';
import { revocationOf, RevocationList } from './revocations.js';

const ORG = '0f0e5d8c-5a55-4b6f-8a43-2d1c8c9b7a61';
const OTHER_ORG = '1f0e5d8c-5a55-4b6f-8a43-2d1c8c9b7a62';
const USER = '2f0e5d8c-5a55-4b6f-8a43-2d1c8c9b7a63';
// Half-way through a second, so tokens just before and just after share the same whole-second `iat`.
const CHANGE = Date.UTC(2026, 11, 6, 4, 0, 0, 500);
const seconds = (ms: number) => Math.floor(ms / 1000);

describe('revocation list', () => {
  it('refuses a token issued before a password change and keeps one issued after it in the same second', () => {
    const list = new RevocationList();
    list.add({ scope: 'subject', subject: USER, notBefore: new Date(CHANGE).toISOString() });
    const before = CHANGE - 200;
    const after = CHANGE + 200;
    expect(seconds(before)).toBe(seconds(after));
    expect(list.isRevoked({ subject: USER, organization: ORG, issuedAtSeconds: seconds(before), issuedAtMs: before })).toBe(true);
    expect(list.isRevoked({ subject: USER, organization: ORG, issuedAtSeconds: seconds(after), issuedAtMs: after })).toBe(false);
    // Issued in the very millisecond of the change, a token could predate it: refused.
    expect(list.isRevoked({ subject: USER, organization: ORG, issuedAtSeconds: seconds(CHANGE), issuedAtMs: CHANGE })).toBe(true);
    // A subject revocation holds in every organization.
    expect(list.isRevoked({ subject: USER, organization: OTHER_ORG, issuedAtSeconds: seconds(before), issuedAtMs: before })).toBe(true);
  });

  it('refuses a token without millisecond issue time issued in the revocation’s second, and accepts one from the next second', () => {
    const list = new RevocationList();
    list.add({ scope: 'subject', subject: USER, notBefore: new Date(CHANGE).toISOString() });
    expect(list.isRevoked({ subject: USER, organization: ORG, issuedAtSeconds: seconds(CHANGE) })).toBe(true);
    expect(list.isRevoked({ subject: USER, organization: ORG, issuedAtSeconds: seconds(CHANGE) + 1 })).toBe(false);
  });

  it('scopes a membership revocation to its organization and an organization revocation to everyone in it', () => {
    const list = new RevocationList();
    list.add({ scope: 'member', subject: USER, organization: ORG, notBefore: new Date(CHANGE).toISOString() });
    list.add({ scope: 'organization', organization: OTHER_ORG, notBefore: new Date(CHANGE).toISOString() });
    const token = (organization: string, subject = USER) => ({
      subject,
      organization,
      issuedAtSeconds: seconds(CHANGE - 1),
      issuedAtMs: CHANGE - 1,
    });
    expect(list.isRevoked(token(ORG))).toBe(true);
    expect(list.isRevoked(token('3f0e5d8c-5a55-4b6f-8a43-2d1c8c9b7a64'))).toBe(false);
    expect(list.isRevoked(token(OTHER_ORG, 'someone-else'))).toBe(true);
  });

  it('keeps the latest instant whatever order snapshot and events arrive in, and forgets what no live token can predate', () => {
    const list = new RevocationList();
    expect(list.add({ scope: 'subject', subject: USER, notBefore: new Date(CHANGE).toISOString() })).toBe(true);
    expect(list.add({ scope: 'subject', subject: USER, notBefore: new Date(CHANGE - 60_000).toISOString() })).toBe(false);
    expect(
      list.isRevoked({ subject: USER, organization: ORG, issuedAtSeconds: seconds(CHANGE - 30_000), issuedAtMs: CHANGE - 30_000 }),
    ).toBe(true);
    list.forgetBefore(CHANGE + 1);
    expect(list.size).toBe(0);
  });
});

describe('revocations implied by auth events', () => {
  const time = new Date(CHANGE);
  const base = { source: '/services/auth', organization: ORG, time };

  it('reads a password change as every token of the user, everywhere, from the event’s time', () => {
    expect(revocationOf(createEvent(userPasswordChangedV1, { ...base, subject: USER, data: { _id: USER } }))).toEqual({
      scope: 'subject',
      subject: USER,
      notBefore: time.toISOString(),
    });
  });

  it('reads only a deactivation out of updates: a suspended organization or client revokes, a rename does not', () => {
    const organization = (active: boolean, changed: string[]) =>
      revocationOf(createEvent(organizationUpdatedV1, { ...base, subject: ORG, data: { _id: ORG, name: 'Clinic', active, changed } }));
    expect(organization(false, ['active'])).toEqual({ scope: 'organization', organization: ORG, notBefore: time.toISOString() });
    expect(organization(true, ['active'])).toBeNull();
    expect(organization(true, ['name'])).toBeNull();
    const client = (active: boolean) =>
      revocationOf(
        createEvent(integratorClientUpdatedV1, {
          ...base,
          subject: USER,
          data: { _id: USER, name: 'EHR', clientId: 'c', roles: ['admin'], active, changed: ['active'] },
        }),
      );
    expect(client(false)).toEqual({ scope: 'subject', subject: USER, notBefore: time.toISOString() });
    expect(client(true)).toBeNull();
  });
});
