import fc from 'fast-check';
import { DateTime } from 'luxon';
import type { WorkingHours } from '../src/open-slots.js';

/** Zones with DST of every shape: northern and southern, 1 hour and 30 minutes, a transition at midnight, and none. */
export const ZONES = [
  'America/New_York',
  'America/Los_Angeles',
  'Europe/London',
  'Europe/Berlin',
  'Australia/Sydney',
  'Australia/Lord_Howe',
  'America/Santiago',
  'Pacific/Chatham',
  'Asia/Kolkata',
  'UTC',
];

/** Local days of `year` on which the zone's UTC offset changes (its DST transitions). */
export function transitionDays(zone: string, year: number): string[] {
  const days: string[] = [];
  for (let day = DateTime.fromISO(`${year}-01-01`, { zone }); day.year === year; day = day.plus({ days: 1 }).startOf('day')) {
    if (day.startOf('day').offset !== day.endOf('day').offset) days.push(day.toISODate()!);
  }
  return days;
}

/** `HH:mm` of minutes since midnight. */
export const clock = (minute: number) => `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;

/** Options of {@link hoursNearTransition}. */
export interface HoursOptions {
  year: number;
  /** Most extra days after the first. */
  maxDays: number;
  /** Most quarter hours the hours last. */
  maxQuarters: number;
  slotMinutes: number[];
}

/** Weekly working hours around one of a zone's DST transitions (or a fixed day in a zone without them). */
export function hoursNearTransition(options: HoursOptions) {
  const transitions = new Map(ZONES.map((zone) => [zone, transitionDays(zone, options.year)]));
  return fc
    .record({
      zone: fc.constantFrom(...ZONES),
      pick: fc.nat(),
      shift: fc.integer({ min: -8, max: 8 }),
      days: fc.integer({ min: 0, max: options.maxDays }),
      weekdays: fc.uniqueArray(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 7 }),
      // Quarter hours across the whole day, so hours start, end and step across the night's transitions.
      startQuarter: fc.integer({ min: 0, max: 94 }),
      lengthQuarters: fc.integer({ min: 1, max: options.maxQuarters }),
      slotMinutes: fc.constantFrom(...options.slotMinutes),
    })
    .map(({ zone, pick, shift, days, weekdays, startQuarter, lengthQuarters, slotMinutes }) => {
      const changes = transitions.get(zone)!;
      const anchor = changes.length > 0 ? changes[pick % changes.length]! : `${options.year}-03-08`;
      const from = DateTime.fromISO(anchor, { zone }).plus({ days: shift });
      const startMinute = startQuarter * 15;
      const endMinute = Math.min(startMinute + lengthQuarters * 15, 23 * 60 + 45);
      const hours: WorkingHours = {
        from: from.toISODate()!,
        until: from.plus({ days }).toISODate()!,
        weekdays,
        start: clock(startMinute),
        end: clock(endMinute),
        slotMinutes,
      };
      return { zone, hours };
    })
    .filter(({ hours }) => hours.start < hours.end);
}
