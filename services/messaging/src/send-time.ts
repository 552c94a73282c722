import { DateTime } from 'luxon';

/** The local hours in which patients may be messaged: from `start` (inclusive) to `end` (exclusive), `HH:MM`. */
export interface AllowedHours {
  start: string;
  end: string;
}

/** Where and when a reminder is planned. */
export interface SendTimeInput {
  /** The appointment's start. */
  appointment: Date;
  /** Hours before the appointment the reminder is meant for. */
  offsetHours: number;
  /** IANA time zone of the facility; quiet hours are kept in its local time. */
  timeZone: string;
  allowed: AllowedHours;
  /** Now; a time before it is not planned. */
  now: Date;
}

/** When to send, or why not to. */
export type SendTime = { sendAt: Date } | { skip: 'send-time-passed' };

const minutesOf = (clock: string) => {
  const [hours, minutes] = clock.split(':').map(Number) as [number, number];
  return hours * 60 + minutes;
};

/** Whether `start`..`end` is a usable window: well-formed and starting before it ends on the same day. */
export function isValidWindow(allowed: AllowedHours): boolean {
  const pattern = /^([01]\d|2[0-3]):[0-5]\d$/;
  return pattern.test(allowed.start) && pattern.test(allowed.end) && minutesOf(allowed.start) < minutesOf(allowed.end);
}

/** Whether an instant falls in the allowed hours of its local day. */
export function isAllowed(at: Date, timeZone: string, allowed: AllowedHours): boolean {
  const local = DateTime.fromJSDate(at, { zone: timeZone });
  const minute = local.hour * 60 + local.minute;
  return minute >= minutesOf(allowed.start) && minute < minutesOf(allowed.end);
}

/** The instant of `clock` on the local day of `day`; a clock time skipped by a DST jump lands just after the jump. */
function at(day: DateTime, clock: string): DateTime {
  const minutes = minutesOf(clock);
  return day.set({ hour: Math.floor(minutes / 60), minute: minutes % 60, second: 0, millisecond: 0 });
}

/**
 * The first allowed instant at or after `instant`: itself inside the allowed hours; the day's start when earlier;
 * the next day's start when later. Shifting forward (never dropping) keeps every reminder, and never moves one
 * into the night.
 */
export function nextAllowed(instant: Date, timeZone: string, allowed: AllowedHours): Date {
  const local = DateTime.fromJSDate(instant, { zone: timeZone });
  const minute = local.hour * 60 + local.minute;
  if (minute < minutesOf(allowed.start)) return at(local, allowed.start).toJSDate();
  if (minute >= minutesOf(allowed.end)) return at(local.plus({ days: 1 }).startOf('day'), allowed.start).toJSDate();
  return instant;
}

/** The last allowed minute at or before `instant` (the mirror of {@link nextAllowed}). */
function lastAllowed(instant: Date, timeZone: string, allowed: AllowedHours): Date {
  const local = DateTime.fromJSDate(instant, { zone: timeZone });
  const minute = local.hour * 60 + local.minute;
  const lastMinuteOf = (day: DateTime) => at(day, allowed.end).minus({ minutes: 1 });
  if (minute < minutesOf(allowed.start)) return lastMinuteOf(local.minus({ days: 1 }).startOf('day')).toJSDate();
  if (minute >= minutesOf(allowed.end)) return lastMinuteOf(local).toJSDate();
  return instant;
}

/**
 * When a reminder `offsetHours` before an appointment goes out. Exactly that many hours before (elapsed hours,
 * so a week before 09:00 is 08:00 or 10:00 local across a DST change) when that is inside the allowed hours;
 * otherwise shifted forward to the next allowed start (before 08:00 → 08:00 that day, after 20:00 → 08:00 the
 * next day). A shift that would pass the appointment (an appointment itself in quiet hours) goes back to the last
 * allowed minute before it instead. A time before `now` is not planned.
 */
export function planSendTime(input: SendTimeInput): SendTime {
  const { appointment, timeZone, allowed } = input;
  const exact = new Date(appointment.getTime() - input.offsetHours * 3_600_000);
  let sendAt = nextAllowed(exact, timeZone, allowed);
  if (sendAt.getTime() > appointment.getTime()) sendAt = lastAllowed(appointment, timeZone, allowed);
  if (sendAt.getTime() < input.now.getTime()) return { skip: 'send-time-passed' };
  return { sendAt };
}
