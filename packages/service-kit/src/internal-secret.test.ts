import { describe, expect, it } from 'vitest';
import { signClientAddress, verifyClientAddress } from './client-address.js';
import { signIdentity, verifyIdentity } from './identity.js';
import { internalAuthSecretSchema } from './internal-secret.js';

const older = 'older-secret-0123456789abcdef-0123456789';
const newer = 'newer-secret-0123456789abcdef-0123456789';
const identity = { organization: 'org-1', user: 'user-1', roles: ['admin'] };

describe('internal secret rotation', () => {
  it('signs with the first secret of the list and accepts every one of them', async () => {
    const signedByOld = await signIdentity(older, identity);
    const signedDuring = await signIdentity(`${newer},${older}`, identity);
    expect(await verifyIdentity(`${newer},${older}`, signedByOld)).toEqual(identity);
    expect(await verifyIdentity(newer, signedDuring)).toEqual(identity);
    expect(await verifyIdentity(older, signedDuring)).toBeNull();
    // Step 1 of a rotation: replicas still signing with the old secret are trusted by those that already know the new one.
    expect(await verifyIdentity(`${older},${newer}`, await signIdentity(newer, identity))).toEqual(identity);
    expect(await verifyIdentity(newer, signedByOld)).toBeNull();
  });

  it('treats the client address header the same way', async () => {
    const header = await signClientAddress(older, '203.0.113.9');
    expect(await verifyClientAddress(`${newer},${older}`, header)).toBe('203.0.113.9');
    expect(await verifyClientAddress(newer, header)).toBeNull();
  });

  it('refuses a short secret anywhere in the list, and more than three', () => {
    expect(internalAuthSecretSchema.safeParse(`${newer}, ${older}`).data).toBe(`${newer},${older}`);
    const short = internalAuthSecretSchema.safeParse(`${newer},short`);
    expect(short.success).toBe(false);
    expect(short.error?.issues[0]?.message).toMatch(/at least 32 characters/);
    expect(internalAuthSecretSchema.safeParse([newer, older, newer, older].join(',')).success).toBe(false);
  });
});
