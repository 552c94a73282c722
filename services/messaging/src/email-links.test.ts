import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { linkKeys, signLink, verifyLink } from './email-links.js';

describe('e-mail answer links', () => {
  const key = linkKeys('0123456789abcdef0123456789abcdef');
  const claim = { message: randomUUID(), action: 'confirm' as const, expiresAt: new Date('2026-08-05T14:00:00Z') };

  it('gives back the claim of a token it signed, and carries nothing but ids, the action and the expiry', () => {
    const token = signLink(key, 'reminders', claim);
    expect(verifyLink(key, 'reminders', token)).toEqual(claim);
    expect(token).toMatch(new RegExp(`^${claim.message}\\.confirm\\.1785938400\\.[A-Za-z0-9_-]{43}$`));
  });

  it('refuses a token changed in any part, signed with another key, or sent to the other callback', () => {
    const token = signLink(key, 'reminders', claim);
    const [message, action, expires, signature] = token.split('.') as [string, string, string, string];
    const refused = [
      [randomUUID(), action, expires, signature],
      [message, 'cancel', expires, signature],
      [message, action, String(Number(expires) + 86_400), signature],
      [message, action, expires, `${signature.slice(0, -1)}${signature.endsWith('A') ? 'B' : 'A'}`],
      [message, action, expires],
    ].map((parts) => parts.join('.'));
    for (const tampered of refused) expect(verifyLink(key, 'reminders', tampered), tampered).toBeNull();
    expect(verifyLink(linkKeys('another-secret-0123456789abcdef'), 'reminders', token)).toBeNull();
    // An offer's actions only at the offers callback; the signature binds the callback as well.
    expect(verifyLink(key, 'offers', token)).toBeNull();
    const accept = signLink(key, 'offers', { ...claim, action: 'accept' });
    expect(verifyLink(key, 'offers', accept)).toMatchObject({ action: 'accept' });
    expect(verifyLink(key, 'reminders', accept)).toBeNull();
  });

  it('during a rotation signs with the first secret and still answers links signed with the older one', () => {
    const older = '0123456789abcdef0123456789abcdef';
    const newer = 'fedcba9876543210fedcba9876543210';
    const mailedBefore = signLink(linkKeys(older), 'reminders', claim);
    const rotating = linkKeys(`${newer},${older}`);
    expect(verifyLink(rotating, 'reminders', mailedBefore)).toEqual(claim);
    const mailedDuring = signLink(rotating, 'reminders', claim);
    expect(verifyLink(linkKeys(newer), 'reminders', mailedDuring)).toEqual(claim);
    expect(verifyLink(linkKeys(older), 'reminders', mailedDuring)).toBeNull();
  });
});
