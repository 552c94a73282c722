import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { hoursNearTransition, transitionDays, ZONES } from '../test/dst.js';
import { expandWorkingHours, mergeIntervals, minutesOfClock, resolveRange, subtractIntervals, type Interval } from './open-slots.js';

const TRANSITIONS = new Map(ZONES.map((zone) => [zone, transitionDays(zone, 2026)]));
const wallMinute = (at: number, zone: string) => {
  const local = DateTime.fromMillis(at, { zone });
  return local.hour * 60 + local.minute;
};
const hoursNear = hoursNearTransition({ year: 2026, maxDays: 9, maxQuarters: 40, slotMinutes: [10, 15, 20, 30, 45, 60, 90] });

describe('open slots: weekly working hours in the facility’s time zone', () => {
  it('puts the Sunday 09:00–12:00 hours of the US spring-forward and fall-back weeks at 09:00 local: 13:00 vs 14:00 UTC', () => {
    const zone = 'America/New_York';
    const sundays = (from: string, until: string) =>
      expandWorkingHours({ from, until, weekdays: [7], start: '09:00', end: '12:00', slotMinutes: 30 }, zone);
    const firstOfEachDay = (slots: Interval[]) =>
      slots.filter((slot) => wallMinute(slot.start, zone) === 9 * 60).map((slot) => new Date(slot.start).toISOString());
    // 2026-03-08 (clocks go forward at 02:00) and the Sundays either side.
    expect(firstOfEachDay(sundays('2026-03-01', '2026-03-15'))).toEqual([
      '2026-03-01T14:00:00.000Z',
      '2026-03-08T13:00:00.000Z',
      '2026-03-15T13:00:00.000Z',
    ]);
    // 2026-11-01 (clocks go back at 02:00).
    expect(firstOfEachDay(sundays('2026-10-25', '2026-11-08'))).toEqual([
      '2026-10-25T13:00:00.000Z',
      '2026-11-01T14:00:00.000Z',
      '2026-11-08T14:00:00.000Z',
    ]);
    expect(sundays('2026-03-08', '2026-03-08').map((slot) => DateTime.fromMillis(slot.start, { zone }).toFormat('HH:mm'))).toEqual([
      '09:00',
      '09:30',
      '10:00',
      '10:30',
      '11:00',
      '11:30',
    ]);
  });

  it('skips the wall times the clock jumps over and takes a repeated time at its first occurrence', () => {
    const zone = 'America/New_York';
    const spring = expandWorkingHours(
      { from: '2026-03-08', until: '2026-03-08', weekdays: [7], start: '01:00', end: '04:00', slotMinutes: 30 },
      zone,
    );
    expect(spring.map((slot) => DateTime.fromMillis(slot.start, { zone }).toFormat('HH:mm'))).toEqual(['01:00', '01:30', '03:00', '03:30']);
    const fall = expandWorkingHours(
      { from: '2026-11-01', until: '2026-11-01', weekdays: [7], start: '00:00', end: '03:00', slotMinutes: 60 },
      zone,
    );
    expect(fall.map((slot) => DateTime.fromMillis(slot.start, { zone }).toISO())).toEqual([
      '2026-11-01T00:00:00.000-04:00',
      '2026-11-01T01:00:00.000-04:00',
      '2026-11-01T02:00:00.000-05:00',
    ]);
    // 45-minute slots: 03:15 would begin before the 01:45 slot ends (at 03:30 after the jump), so it is left out.
    const uneven = expandWorkingHours(
      { from: '2026-03-08', until: '2026-03-08', weekdays: [7], start: '01:00', end: '05:00', slotMinutes: 45 },
      zone,
    );
    expect(uneven.map((slot) => DateTime.fromMillis(slot.start, { zone }).toFormat('HH:mm'))).toEqual(['01:00', '01:45', '04:00']);
  });

  it('starts every slot at an intended local wall time, on a chosen weekday within the days, and at the first instant showing it', () => {
    fc.assert(
      fc.property(hoursNear, ({ zone, hours }) => {
        const start = minutesOfClock(hours.start);
        for (const slot of expandWorkingHours(hours, zone)) {
          const local = DateTime.fromMillis(slot.start, { zone });
          const minute = local.hour * 60 + local.minute;
          expect(local.second).toBe(0);
          expect((minute - start) % hours.slotMinutes).toBe(0);
          expect(minute).toBeGreaterThanOrEqual(start);
          expect(hours.weekdays).toContain(local.weekday);
          expect(local.toISODate()! >= hours.from && local.toISODate()! <= hours.until).toBe(true);
          // No earlier instant shows the same wall time (a repeated hour is taken the first time round).
          for (const back of [30, 60, 120])
            expect(DateTime.fromMillis(slot.start - back * 60_000, { zone }).toFormat('yyyy-MM-dd HH:mm')).not.toBe(
              local.toFormat('yyyy-MM-dd HH:mm'),
            );
        }
      }),
      { numRuns: 200 },
    );
  });

  it('keeps every slot within the hours on the local clock, lasting slotMinutes, never overlapping another', () => {
    fc.assert(
      fc.property(hoursNear, ({ zone, hours }) => {
        const slots = expandWorkingHours(hours, zone);
        const end = minutesOfClock(hours.end);
        slots.forEach((slot, index) => {
          expect(slot.end - slot.start).toBe(hours.slotMinutes * 60_000);
          const localEnd = DateTime.fromMillis(slot.end, { zone });
          expect(localEnd.hasSame(DateTime.fromMillis(slot.start, { zone }), 'day')).toBe(true);
          expect(localEnd.hour * 60 + localEnd.minute).toBeLessThanOrEqual(end);
          if (index > 0) expect(slot.start).toBeGreaterThanOrEqual(slots[index - 1]!.end);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('leaves a grid slot out only where the clock changes during it or just before it', () => {
    fc.assert(
      fc.property(hoursNear, ({ zone, hours }) => {
        const produced = new Set(expandWorkingHours(hours, zone).map((slot) => slot.start));
        const start = minutesOfClock(hours.start);
        const end = minutesOfClock(hours.end);
        const weekdays = new Set(hours.weekdays);
        for (
          let day = DateTime.fromISO(hours.from, { zone });
          day.toISODate()! <= hours.until;
          day = day.plus({ days: 1 }).startOf('day')
        ) {
          if (!weekdays.has(day.weekday)) continue;
          // A day whose offset is the same from midnight to midnight has every grid slot.
          if (day.startOf('day').offset !== day.endOf('day').offset) continue;
          for (let minute = start; minute + hours.slotMinutes <= end; minute += hours.slotMinutes) {
            const expected = day.set({ hour: Math.floor(minute / 60), minute: minute % 60, second: 0, millisecond: 0 }).toMillis();
            expect(produced.has(expected)).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('open slots: ranges of local days', () => {
  it('covers exactly the local days asked for, however long DST makes them', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.nat(),
        fc.integer({ min: -2, max: 2 }),
        fc.integer({ min: 0, max: 3 }),
        (zone, pick, shift, extra) => {
          const transitions = TRANSITIONS.get(zone)!;
          const anchor = DateTime.fromISO(transitions.length > 0 ? transitions[pick % transitions.length]! : '2026-06-01', { zone }).plus({
            days: shift,
          });
          const from = anchor.toISODate()!;
          const to = anchor.plus({ days: extra }).toISODate()!;
          const range = resolveRange({ day: from }, { day: to }, zone);
          expect(DateTime.fromMillis(range.start, { zone }).toISODate()).toBe(from);
          expect(DateTime.fromMillis(range.start - 1, { zone }).toISODate()! < from).toBe(true);
          expect(DateTime.fromMillis(range.end - 1, { zone }).toISODate()).toBe(to);
          expect(DateTime.fromMillis(range.end, { zone }).toISODate()! > to).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
    const spring = resolveRange({ day: '2026-03-08' }, { day: '2026-03-08' }, 'America/New_York');
    expect((spring.end - spring.start) / 3_600_000).toBe(23);
  });

  it('takes instants as they are', () => {
    expect(
      resolveRange({ instant: new Date('2026-03-08T05:00:00Z') }, { instant: new Date('2026-03-09T04:00:00Z') }, 'Asia/Kolkata'),
    ).toEqual({
      start: Date.parse('2026-03-08T05:00:00Z'),
      end: Date.parse('2026-03-09T04:00:00Z'),
    });
  });
});

describe('open slots: free time is availability minus busy time', () => {
  const interval = fc
    .tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 40 }))
    .map(([start, length]): Interval => ({ start, end: start + length }));
  const covered = (intervals: Interval[], at: number) => intervals.some((i) => i.start <= at && at < i.end);

  it('is free exactly where some availability is, no busy interval is, and within the range', () => {
    fc.assert(
      fc.property(fc.array(interval, { maxLength: 12 }), fc.array(interval, { maxLength: 12 }), interval, (free, busy, within) => {
        const result = subtractIntervals(free, busy, within);
        for (let at = -1; at <= 242; at += 1) {
          const expected = covered(free, at) && !covered(busy, at) && within.start <= at && at < within.end;
          expect(covered(result, at)).toBe(expected);
        }
        result.forEach((i, index) => {
          expect(i.end).toBeGreaterThan(i.start);
          // Disjoint and not touching: merged.
          if (index > 0) expect(i.start).toBeGreaterThan(result[index - 1]!.end);
        });
      }),
      { numRuns: 500 },
    );
  });

  it('merges overlapping and touching intervals', () => {
    expect(
      mergeIntervals([
        { start: 5, end: 7 },
        { start: 0, end: 2 },
        { start: 2, end: 3 },
        { start: 6, end: 9 },
      ]),
    ).toEqual([
      { start: 0, end: 3 },
      { start: 5, end: 9 },
    ]);
  });
});
