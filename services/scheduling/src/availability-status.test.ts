import { availabilityStatuses } from '@pep/contracts';
import { describe, expect, it } from 'vitest';
import { BOOKABLE, canSet, canTransition, effectiveStatus, SETTABLE, stateOf, TRANSITIONS } from './availability-status.js';

describe('availability states', () => {
  it('goes from available to held or offered, from there to booked or expired, and back to available only by release', () => {
    expect(canTransition('available', 'booked-pending')).toBe(true);
    expect(canTransition('available', 'offered')).toBe(true);
    expect(canTransition('offered', 'booked-by-offer')).toBe(true);
    expect(canTransition('booked-pending', 'booked')).toBe(true);
    expect(canTransition('offered', 'booked')).toBe(false);
    expect(canTransition('booked', 'expired')).toBe(false);
    expect(canTransition('booked-by-offer', 'available')).toBe(true);
    for (const to of availabilityStatuses) expect(canTransition('expired', to)).toBe(false);
    // Every state named is one of the product's, and none moves to itself.
    for (const [from, targets] of Object.entries(TRANSITIONS)) {
      expect(availabilityStatuses).toContain(from);
      expect(targets).not.toContain(from);
    }
  });

  it('lets a PUT set only the settable states, of slots no offer or appointment holds', () => {
    expect(canSet('available', 'booked-pending')).toBe(true);
    expect(canSet('booked-pending', 'available')).toBe(true);
    expect(canSet('available', 'booked-by-integrator')).toBe(true);
    expect(canSet('booked-by-integrator', 'available')).toBe(true);
    expect(canSet('available', 'booked')).toBe(false);
    expect(canSet('available', 'offered')).toBe(false);
    expect(canSet('offered', 'available')).toBe(false);
    expect(canSet('booked', 'available')).toBe(false);
    expect(canSet('booked-by-offer', 'available')).toBe(false);
    expect(canSet('expired', 'available')).toBe(false);
    // Setting the state a slot is in changes nothing and is allowed.
    for (const state of availabilityStatuses) expect(canSet(state, state)).toBe(true);
    for (const state of SETTABLE) expect(availabilityStatuses).toContain(state);
    expect([...BOOKABLE]).toEqual(['available', 'booked-pending']);
  });

  it('expires a slot that started while open, pending or offered, and keeps booked ones booked', () => {
    const start = new Date('2026-03-08T13:00:00Z');
    const before = new Date('2026-03-08T12:59:59Z');
    for (const state of ['available', 'booked-pending', 'offered'] as const) {
      expect(effectiveStatus(state, start, before)).toBe(state);
      expect(effectiveStatus(state, start, start)).toBe('expired');
    }
    for (const state of ['booked', 'booked-by-offer', 'booked-by-integrator', 'expired'] as const)
      expect(effectiveStatus(state, start, new Date('2027-01-01T00:00:00Z'))).toBe(state);
  });

  it('reads a stored status as the state it spells, and refuses a value outside the column’s check', () => {
    for (const state of availabilityStatuses) expect(stateOf(state)).toBe(state);
    expect(() => stateOf('booked_pending')).toThrow(/outside its check/);
    expect(() => stateOf('')).toThrow(/outside its check/);
  });
});
