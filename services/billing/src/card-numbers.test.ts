import { describe, expect, it } from 'vitest';
import { cardNumberFields, containsCardNumber, luhnValid } from './card-numbers.js';

describe('card numbers in a request body', () => {
  it('knows Luhn-valid numbers from others', () => {
    expect(luhnValid('4242424242424242')).toBe(true);
    expect(luhnValid('4242424242424241')).toBe(false);
    expect(luhnValid('378282246310005')).toBe(true);
  });

  it('finds 13 to 19 digit Luhn-valid numbers, grouped or not, in strings and numbers', () => {
    expect(containsCardNumber('4242 4242 4242 4242')).toBe(true);
    expect(containsCardNumber('card: 5555-5555-5555-4444 thanks')).toBe(true);
    expect(containsCardNumber(4242424242424242)).toBe(true);
    expect(containsCardNumber('4222222222222')).toBe(true);
    // Too short, too long, or failing the check: a phone number, an EIN, a long reference.
    expect(containsCardNumber('+1 415 555 2671')).toBe(false);
    expect(containsCardNumber('12-3456789')).toBe(false);
    expect(containsCardNumber('42424242424242424242')).toBe(false);
    expect(containsCardNumber('4242424242424241')).toBe(false);
    expect(containsCardNumber('pm_1QabcDEF')).toBe(false);
  });

  it('names every field that carries one, however deep', () => {
    const body = {
      billingEmail: 'billing@example.com',
      address: { line1: '4242424242424242', city: 'Boston' },
      defaultPaymentMethod: 'pm_123',
      notes: ['ok', '5555 5555 5555 4444'],
    };
    expect(cardNumberFields(body)).toEqual(['body.address.line1', 'body.notes.1']);
    expect(cardNumberFields({ billingEmail: 'a@b.co' })).toEqual([]);
  });
});
