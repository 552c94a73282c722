import { describe, expect, it } from 'vitest';
import { createAppointmentBody, dateFilter } from './appointment.schemas.js';

describe('the date filter of appointment lists', () => {
  it('reads each comparison the product sends', () => {
    expect(dateFilter.parse(['>2026-01-01T00:00:00Z', '<2026-02-01T00:00:00Z'])).toEqual([
      { op: 'gt', at: new Date('2026-01-01T00:00:00Z') },
      { op: 'lt', at: new Date('2026-02-01T00:00:00Z') },
    ]);
    expect(dateFilter.parse('>=2026-01-01T00:00:00.000Z')).toEqual([{ op: 'gte', at: new Date('2026-01-01T00:00:00Z') }]);
    expect(dateFilter.parse('<=2026-01-01T05:00:00+05:00')).toEqual([{ op: 'lte', at: new Date('2026-01-01T00:00:00Z') }]);
  });

  it('takes back the + of an offset a query string turned into a space', () => {
    expect(dateFilter.parse('>2026-01-01T05:00:00 05:00')).toEqual([{ op: 'gt', at: new Date('2026-01-01T00:00:00Z') }]);
  });

  it('refuses a date without a comparison, a non-instant, and too many bounds', () => {
    for (const bad of [
      '2026-01-01T00:00:00Z',
      '>2026-01-01',
      '>tomorrow',
      '=2026-01-01T00:00:00Z',
      Array(5).fill('>2026-01-01T00:00:00Z'),
    ]) {
      expect(dateFilter.safeParse(bad).success, String(bad)).toBe(false);
    }
  });
});

describe('a booking body', () => {
  const valid = {
    patient: '5d2b1c7e-9a4f-4e3b-8c1d-2f6a7b8c9d0e',
    provider: '6d2b1c7e-9a4f-4e3b-8c1d-2f6a7b8c9d0e',
    facility: '7d2b1c7e-9a4f-4e3b-8c1d-2f6a7b8c9d0e',
    type: '8d2b1c7e-9a4f-4e3b-8c1d-2f6a7b8c9d0e',
    date: '2026-03-02T15:00:00Z',
  };

  it('reads the duration as minutes, from a number or digits', () => {
    expect(createAppointmentBody.parse({ ...valid, duration: '45' }).duration).toBe(45);
    expect(createAppointmentBody.safeParse({ ...valid, duration: 1441 }).success).toBe(false);
  });

  it('wants an instant with its offset', () => {
    expect(createAppointmentBody.safeParse({ ...valid, date: '2026-03-02T15:00:00' }).success).toBe(false);
  });
});
