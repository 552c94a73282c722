import { describe, expect, it } from 'vitest';
import { outreachTimes } from './referral-outreach.handlers.js';

const allowed = { start: '08:00', end: '20:00' };
const iso = (dates: Date[]) => dates.map((date) => date.toISOString());

describe('referral outreach times', () => {
  it('keeps the start’s local time on each outreach day across a DST change, out of quiet hours', () => {
    // 10:00 EST on Friday 6 March 2026; New York moves to EDT on 8 March.
    const times = outreachTimes({
      startOn: new Date('2026-03-06T15:00:00Z'),
      days: [0, 2, 5],
      timeZone: 'America/New_York',
      allowed,
      done: 0,
      now: new Date('2026-03-06T15:00:00Z'),
    });
    expect(iso(times)).toEqual(['2026-03-06T15:00:00.000Z', '2026-03-08T14:00:00.000Z', '2026-03-11T14:00:00.000Z']);

    // Started at 21:30 local: every day waits for 08:00 the next morning.
    const late = outreachTimes({
      startOn: new Date('2026-03-02T02:30:00Z'),
      days: [0, 2],
      timeZone: 'America/New_York',
      allowed,
      done: 0,
      now: new Date('2026-03-02T02:30:00Z'),
    });
    expect(iso(late)).toEqual(['2026-03-02T13:00:00.000Z', '2026-03-04T13:00:00.000Z']);
  });

  it('folds the days already past into one attempt now, and none when they all went', () => {
    const input = {
      startOn: new Date('2026-07-26T14:00:00Z'),
      days: [0, 2, 5, 10],
      timeZone: 'America/New_York',
      allowed,
      now: new Date('2026-08-01T14:00:00Z'),
    };
    expect(iso(outreachTimes({ ...input, done: 0 }))).toEqual(['2026-08-01T14:00:00.000Z', '2026-08-05T14:00:00.000Z']);
    expect(iso(outreachTimes({ ...input, done: 3 }))).toEqual(['2026-08-05T14:00:00.000Z']);
    expect(iso(outreachTimes({ ...input, done: 4 }))).toEqual([]);
    // Due now at night: at the morning's start instead.
    expect(iso(outreachTimes({ ...input, now: new Date('2026-08-02T03:00:00Z'), done: 1 }))).toEqual([
      '2026-08-02T12:00:00.000Z',
      '2026-08-05T14:00:00.000Z',
    ]);
  });
});
