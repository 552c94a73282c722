import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidWindow, nextAllowed, planSendTime, type AllowedHours } from './send-time.js';

const ZONES = ['America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Pacific/Chatham'] as const;
const DEFAULT_HOURS: AllowedHours = { start: '08:00', end: '20:00' };
const HOUR = 3_600_000;

// DST changes of 2026 in the zones above (Kolkata has none), as UTC instants; appointments are drawn around them.
const TRANSITIONS = [
  '2026-03-08T07:00:00Z', // New York springs forward
  '2026-11-01T06:00:00Z', // New York falls back
  '2026-03-29T01:00:00Z', // London springs forward
  '2026-10-25T01:00:00Z', // London falls back
  '2026-04-04T15:00:00Z', // Lord Howe falls back 30 minutes
  '2026-10-03T15:30:00Z', // Lord Howe springs forward 30 minutes
  '2026-04-04T14:00:00Z', // Chatham falls back
  '2026-09-26T14:00:00Z', // Chatham springs forward
].map((iso) => Date.parse(iso));

/** Local wall-clock minutes of an instant, read by the runtime's own time zone data rather than luxon's arithmetic. */
function localMinute(at: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  const value = (type: string) => Number(parts.find((part) => part.type === type)!.value);
  return value('hour') * 60 + value('minute');
}
const minutes = (clock: string) => Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3));
const clock = (total: number) => `${String(Math.floor(total / 60)).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`;
const inside = (at: Date, zone: string, hours: AllowedHours) => {
  const minute = localMinute(at, zone);
  return minute >= minutes(hours.start) && minute < minutes(hours.end);
};

const zone = fc.constantFrom(...ZONES);
// Either near a DST change or anywhere in 2025–2027.
const appointment = fc.oneof(
  fc
    .tuple(fc.constantFrom(...TRANSITIONS), fc.integer({ min: -10 * 24 * 60, max: 10 * 24 * 60 }))
    .map(([t, offset]) => new Date(t + offset * 60_000)),
  fc.integer({ min: Date.parse('2025-01-01T00:00:00Z'), max: Date.parse('2027-12-31T00:00:00Z') }).map((t) => new Date(t - (t % 60_000))),
);
// Windows that start after any DST gap of these zones (all before 04:00 local) and last at least an hour.
const hours = fc.oneof(
  fc.constant(DEFAULT_HOURS),
  fc
    .integer({ min: 4 * 60, max: 20 * 60 })
    .chain((start) => fc.integer({ min: start + 60, max: 24 * 60 - 1 }).map((end) => ({ start: clock(start), end: clock(end) }))),
);
const offset = fc.integer({ min: 0, max: 24 * 30 });
// Now is somewhere from three weeks before the appointment to just after it.
const nowFor = (at: Date) =>
  fc.integer({ min: -21 * 24 * 60, max: 60 }).map((minutesAfter) => new Date(at.getTime() + minutesAfter * 60_000));

const scenario = fc
  .tuple(zone, appointment, hours)
  .chain(([timeZone, at, allowed]) => fc.tuple(fc.constant(timeZone), fc.constant(at), fc.constant(allowed), offset, offset, nowFor(at)));

describe('reminder send times', () => {
  it('never plans inside quiet hours, after the appointment or in the past', () => {
    fc.assert(
      fc.property(scenario, ([timeZone, at, allowed, offsetHours, , now]) => {
        const planned = planSendTime({ appointment: at, offsetHours, timeZone, allowed, now });
        if ('skip' in planned) return;
        expect(inside(planned.sendAt, timeZone, allowed), `${planned.sendAt.toISOString()} in ${timeZone}`).toBe(true);
        expect(planned.sendAt.getTime()).toBeLessThanOrEqual(at.getTime());
        expect(planned.sendAt.getTime()).toBeGreaterThanOrEqual(now.getTime());
      }),
      { numRuns: 5_000 },
    );
  });

  it('is exactly the offset before when that is inside the allowed hours and not past', () => {
    fc.assert(
      fc.property(scenario, ([timeZone, at, allowed, offsetHours, , now]) => {
        const exact = new Date(at.getTime() - offsetHours * HOUR);
        const planned = planSendTime({ appointment: at, offsetHours, timeZone, allowed, now });
        if (inside(exact, timeZone, allowed) && exact >= now) expect(planned).toEqual({ sendAt: exact });
        if (exact < now && 'sendAt' in planned) expect(planned.sendAt.getTime()).toBeGreaterThanOrEqual(now.getTime());
      }),
      { numRuns: 5_000 },
    );
  });

  it('sends a longer offset no later than a shorter one', () => {
    fc.assert(
      fc.property(scenario, ([timeZone, at, allowed, a, b, now]) => {
        const [shorter, longer] = a <= b ? [a, b] : [b, a];
        const early = planSendTime({ appointment: at, offsetHours: longer, timeZone, allowed, now });
        const late = planSendTime({ appointment: at, offsetHours: shorter, timeZone, allowed, now });
        if ('sendAt' in early && 'sendAt' in late) expect(early.sendAt.getTime()).toBeLessThanOrEqual(late.sendAt.getTime());
        // What is planned for the longer offset leaves the shorter one plannable too.
        if ('sendAt' in early) expect('sendAt' in late).toBe(true);
      }),
      { numRuns: 5_000 },
    );
  });

  it('shifts early times to the start of that day and late ones to the start of the next (local time)', () => {
    const allowed = DEFAULT_HOURS;
    const now = new Date('2026-01-01T00:00:00Z');
    // 10:00 in New York on 12 March 2026 (EDT, UTC-4).
    const at = new Date('2026-03-12T14:00:00Z');
    expect(planSendTime({ appointment: at, offsetHours: 48, timeZone: 'America/New_York', allowed, now })).toEqual({
      sendAt: new Date('2026-03-10T14:00:00Z'),
    });
    // 168 h earlier is 09:00 EST (the clocks moved on 8 March): inside the hours, so exactly a week of elapsed time.
    expect(planSendTime({ appointment: at, offsetHours: 168, timeZone: 'America/New_York', allowed, now })).toEqual({
      sendAt: new Date('2026-03-05T14:00:00Z'),
    });
    // 3 h before 10:00 is 07:00: held to 08:00 that day.
    expect(planSendTime({ appointment: at, offsetHours: 3, timeZone: 'America/New_York', allowed, now })).toEqual({
      sendAt: new Date('2026-03-12T12:00:00Z'),
    });
    // 13 h before 10:00 is 21:00 the evening before: moved to 08:00 — which would be after an 07:30 appointment, so the
    // reminder goes at 19:59 the evening before instead.
    const early = new Date('2026-03-12T11:30:00Z');
    expect(planSendTime({ appointment: early, offsetHours: 1, timeZone: 'America/New_York', allowed, now })).toEqual({
      sendAt: new Date('2026-03-11T23:59:00Z'),
    });
    expect(nextAllowed(new Date('2026-03-12T01:00:00Z'), 'America/New_York', allowed)).toEqual(new Date('2026-03-12T12:00:00Z'));
    expect(
      planSendTime({ appointment: at, offsetHours: 48, timeZone: 'America/New_York', allowed, now: new Date('2026-03-11T00:00:00Z') }),
    ).toEqual({ skip: 'send-time-passed' });
  });

  it('knows a usable window', () => {
    expect(isValidWindow(DEFAULT_HOURS)).toBe(true);
    expect(isValidWindow({ start: '20:00', end: '08:00' })).toBe(false);
    expect(isValidWindow({ start: '8:00', end: '20:00' })).toBe(false);
  });
});
