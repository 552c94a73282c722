import { DateTime } from 'luxon';

// Slot times are wall-clock times of the facility's IANA time zone; instants are derived from them with luxon, one
// local day at a time, so a 09:00 opening stays 09:00 local on both sides of a DST change (docs/adr/0008-open-slots.md).

/** A half-open interval of time, [start, end), in epoch milliseconds. */
export interface Interval {
  start: number;
  end: number;
}

/** Weekly working hours of a provider at a facility, expanded into one availability per slot. */
export interface WorkingHours {
  /** First local day, `YYYY-MM-DD`, in the facility's zone. */
  from: string;
  /** Last local day, inclusive. */
  until: string;
  /** ISO weekdays worked: 1 Monday … 7 Sunday. */
  weekdays: number[];
  /** Local start of the hours, `HH:mm`. */
  start: string;
  /** Local end of the hours, `HH:mm`, after `start` on the same day. */
  end: string;
  /** Length of each slot in minutes; slots follow each other from `start`. */
  slotMinutes: number;
}

const MINUTE = 60_000;

/** Minutes since local midnight of an `HH:mm` clock time. */
export function minutesOfClock(clock: string): number {
  const [hours, minutes] = clock.split(':').map(Number) as [number, number];
  return hours * 60 + minutes;
}

/** A local calendar day, `YYYY-MM-DD`, in `zone`, at its first instant; invalid days answer an invalid DateTime. */
function localDay(day: string, zone: string): DateTime {
  return DateTime.fromISO(day, { zone }).startOf('day');
}

/**
 * The instant a local wall-clock time of a local day happens in `zone`, or null when it never happens (the clock
 * jumps over it when DST starts). A time that happens twice (the hour repeated when DST ends) is its first
 * occurrence, the one people reach first.
 */
export function wallClockInstant(day: DateTime, minuteOfDay: number, zone: string): DateTime | null {
  const wanted = { year: day.year, month: day.month, day: day.day, hour: Math.floor(minuteOfDay / 60), minute: minuteOfDay % 60 };
  const resolved = DateTime.fromObject(wanted, { zone });
  // luxon moves a skipped time forward by the gap, so it comes back with another wall time.
  if (!resolved.isValid || resolved.day !== wanted.day || resolved.hour !== wanted.hour || resolved.minute !== wanted.minute) return null;
  const occurrences = resolved.getPossibleOffsets();
  return occurrences.reduce((first, candidate) => (candidate.toMillis() < first.toMillis() ? candidate : first), resolved);
}

/**
 * The slots of weekly working hours in `zone`, soonest first. Slot k of a day starts at the local wall time
 * `start + k × slotMinutes` and lasts `slotMinutes` of real time. A slot is left out when its wall time does not
 * happen that day (DST start), when it would begin before the previous slot ends (the clock jumped forward into it),
 * or when it would end after the local `end` or on another day; so slots never overlap and always lie within the
 * hours as the clock on the wall shows them.
 */
export function expandWorkingHours(hours: WorkingHours, zone: string, options: ExpandOptions = {}): Interval[] {
  const first = localDay(hours.from, zone);
  const last = localDay(hours.until, zone);
  const startMinute = minutesOfClock(hours.start);
  const endMinute = minutesOfClock(hours.end);
  const weekdays = new Set(hours.weekdays);
  const after = options.after ?? -Infinity;
  const limit = options.limit ?? Infinity;
  const slots: Interval[] = [];
  for (let day = first; day.toMillis() <= last.toMillis(); day = day.plus({ days: 1 }).startOf('day')) {
    if (!weekdays.has(day.weekday) || day.endOf('day').toMillis() <= after) continue;
    let previousEnd = -Infinity;
    for (let minute = startMinute; minute + hours.slotMinutes <= endMinute; minute += hours.slotMinutes) {
      const start = wallClockInstant(day, minute, zone);
      if (!start || start.toMillis() < previousEnd) continue;
      const end = start.plus({ minutes: hours.slotMinutes });
      if (!end.hasSame(day, 'day') || end.hour * 60 + end.minute > endMinute) continue;
      previousEnd = end.toMillis();
      if (start.toMillis() <= after) continue;
      slots.push({ start: start.toMillis(), end: end.toMillis() });
      // One past the limit tells the caller there are too many, without working out the rest.
      if (slots.length > limit) return slots;
    }
  }
  return slots;
}

/** Bounds of {@link expandWorkingHours}: only slots starting after `after`, and at most `limit` + 1 of them. */
export interface ExpandOptions {
  after?: number;
  limit?: number;
}

/** How many local days `from`..`until` spans in `zone` (inclusive); NaN when either is not a day. */
export function daysBetween(from: string, until: string, zone: string): number {
  return Math.round(localDay(until, zone).diff(localDay(from, zone), 'days').days) + 1;
}

/** A bound of a range as given: an instant, or a local calendar day of the facility's zone. */
export type RangeBound = { instant: Date } | { day: string };

/**
 * The instants `from`..`to` cover in `zone`: an instant is itself; a day `from` starts at that day's first local
 * instant and a day `to` ends at the first instant of the next local day, so `from=to=2026-03-08` is the whole
 * (23-hour) local day of a spring-forward Sunday.
 */
export function resolveRange(from: RangeBound, to: RangeBound, zone: string): Interval {
  const start = 'instant' in from ? from.instant.getTime() : dayBounds(from.day, zone).start;
  const end = 'instant' in to ? to.instant.getTime() : dayBounds(to.day, zone).end;
  return { start, end };
}

// A client paging through a range asks for the same local days on every page, and luxon's zone arithmetic was a
// measurable part of a page (npm run bench:slots); a day's bounds in a zone never change, so they are kept. Bounded,
// since days and zones come from requests.
const DAY_BOUNDS_KEPT = 512;
const dayBoundsKept = new Map<string, Interval>();

/** The first instant of a local day in `zone` and the first instant of the next one (NaN for a day that is not one). */
function dayBounds(day: string, zone: string): Interval {
  const key = `${zone} ${day}`;
  let bounds = dayBoundsKept.get(key);
  if (!bounds) {
    const first = localDay(day, zone);
    bounds = { start: first.toMillis(), end: first.plus({ days: 1 }).startOf('day').toMillis() };
    if (dayBoundsKept.size >= DAY_BOUNDS_KEPT) dayBoundsKept.clear();
    dayBoundsKept.set(key, bounds);
  }
  return bounds;
}

/** Whether a range bound is a calendar day (and so depends on a time zone). */
export function isDay(bound: RangeBound): bound is { day: string } {
  return 'day' in bound;
}

/** The union of intervals as disjoint intervals, soonest first; touching intervals are joined. */
export function mergeIntervals(intervals: Interval[]): Interval[] {
  const sorted = intervals.filter((interval) => interval.end > interval.start).sort((a, b) => a.start - b.start);
  const merged: Interval[] = [];
  for (const interval of sorted) {
    const last = merged[merged.length - 1];
    if (last && interval.start <= last.end) last.end = Math.max(last.end, interval.end);
    else merged.push({ ...interval });
  }
  return merged;
}

/** The parts of `from` not covered by any of `remove`, clipped to `within`, merged and soonest first. */
export function subtractIntervals(from: Interval[], remove: Interval[], within: Interval): Interval[] {
  const holes = mergeIntervals(remove);
  const result: Interval[] = [];
  for (const interval of mergeIntervals(from)) {
    let cursor = Math.max(interval.start, within.start);
    const end = Math.min(interval.end, within.end);
    for (const hole of holes) {
      if (hole.end <= cursor) continue;
      if (hole.start >= end) break;
      if (hole.start > cursor) result.push({ start: cursor, end: hole.start });
      cursor = Math.max(cursor, hole.end);
    }
    if (cursor < end) result.push({ start: cursor, end });
  }
  return result;
}

/** An interval as the API writes it. */
export function intervalView(interval: Interval): { start: string; end: string } {
  return { start: new Date(interval.start).toISOString(), end: new Date(interval.end).toISOString() };
}

/** The end of a slot of `minutes` starting at `date`. */
export function endOf(date: Date, minutes: number): Date {
  return new Date(date.getTime() + minutes * MINUTE);
}
