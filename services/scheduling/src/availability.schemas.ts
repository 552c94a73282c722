import { appointmentSources, availabilityStatuses } from '@pep/contracts';
import { minutes, timestamp } from '@pep/service-kit';
import { z } from 'zod';
import { durationMinutes } from './appointment-type.schemas.js';
import { dateFilter, instant } from './appointment.schemas.js';
import type { RangeBound } from './open-slots.js';
import { clearableText, listQuery, nonEmpty, optionalText, recordFields } from './schemas.js';

const clock = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time, HH:mm')
  .describe('Local wall-clock time of the facility, HH:mm.');

const calendarDay = z.iso.date().describe('A local calendar day of the facility, YYYY-MM-DD.');

/** One availability of POST /api/availabilities. */
export const availabilityItem = z
  .object({
    provider: z.uuid(),
    facility: z.uuid(),
    appointmentType: z.uuid().optional().describe('The type the slot is for; omitted, any type that fits.'),
    date: instant,
    duration: durationMinutes.optional().describe("Minutes; defaults to the appointment type's duration (required without a type)."),
    externalId: optionalText(200).describe("The slot's id in the system it is synced from."),
    locked: z.boolean().optional().describe('Held back: not open, not offered, not bookable until unlocked. Default false.'),
  })
  .strict();
export type AvailabilityItem = z.infer<typeof availabilityItem>;

// A comparison of two fields means something only once both are valid; otherwise it would add a second, wrong complaint.
const validFields =
  (...fields: string[]) =>
  (payload: z.core.ParsePayload): boolean =>
    typeof payload.value === 'object' &&
    payload.value !== null &&
    !payload.issues.some((issue) => fields.includes(String(issue.path?.[0])));

/** Weekly working hours of POST /api/availabilities, expanded into one availability per slot. */
export const workingHoursBody = z
  .object({
    provider: z.uuid(),
    facility: z.uuid(),
    appointmentType: z.uuid().optional(),
    locked: z.boolean().optional(),
    workingHours: z
      .object({
        from: calendarDay.describe('First local day.'),
        until: calendarDay.describe('Last local day (inclusive); at most 366 days after from.'),
        weekdays: z.array(z.number().int().min(1).max(7)).min(1).max(7).describe('ISO weekdays: 1 Monday … 7 Sunday.'),
        start: clock,
        end: clock.describe('Local end, after start on the same day.'),
        slotMinutes: durationMinutes.optional().describe("Length of each slot; defaults to the appointment type's duration."),
      })
      .strict()
      .refine((hours) => hours.start < hours.end, { message: 'end must be after start', path: ['end'], when: validFields('start', 'end') })
      .refine((hours) => hours.from <= hours.until, {
        message: 'until must not be before from',
        path: ['until'],
        when: validFields('from', 'until'),
      }),
  })
  .strict();
export type WorkingHoursBody = z.infer<typeof workingHoursBody>;

/** Body of POST /api/availabilities: one availability, several, or weekly working hours in the facility's time. */
export const createAvailabilitiesBody = z.union([availabilityItem, z.array(availabilityItem).min(1).max(500), workingHoursBody]);
export type CreateAvailabilitiesBody = z.infer<typeof createAvailabilitiesBody>;

/** One change of PUT /api/availabilities. */
export const availabilityChange = z
  .object({
    _id: z.uuid(),
    status: z
      .enum(availabilityStatuses)
      .optional()
      .describe('available, booked-pending, booked-by-integrator or expired; offers and bookings set the others.'),
    date: instant.optional(),
    duration: durationMinutes.optional(),
    appointmentType: z.uuid().nullable().optional().describe('Null: any type that fits.'),
    externalId: clearableText(200),
    locked: z.boolean().optional(),
  })
  .strict()
  .refine(({ _id, ...change }) => nonEmpty(change), 'change at least one field');
export type AvailabilityChange = z.infer<typeof availabilityChange>;

/** Body of PUT /api/availabilities: changes of several availabilities, applied all or none. */
export const updateAvailabilitiesBody = z
  .array(availabilityChange)
  .min(1)
  .max(200)
  .superRefine((changes, context) => {
    const seen = new Set<string>();
    changes.forEach((change, index) => {
      if (seen.has(change._id)) context.addIssue({ code: 'custom', message: 'each availability at most once', path: [index, '_id'] });
      seen.add(change._id);
    });
  });

const filters = {
  facility: z.uuid().optional(),
  appointmentType: z.uuid().optional().describe('Availabilities for this type, or for any type.'),
  status: z.enum(availabilityStatuses).optional().describe('The state now: a slot that started while open, pending or offered is expired.'),
  date: dateFilter.optional(),
};

/** Query of GET /api/availabilities. */
export const availabilityListQuery = listQuery.extend({ provider: z.uuid().optional(), ...filters });
export type AvailabilityListQuery = z.infer<typeof availabilityListQuery>;

/** Query of GET /api/providers/:id/availabilities. */
export const providerAvailabilitiesQuery = listQuery.extend(filters);

/** Filters of the availability lists. */
export type AvailabilityFilters = Omit<AvailabilityListQuery, 'page' | 'limit'>;

/** Body of PUT /api/availabilities/:id/book and POST /api/availabilities/book/:id. */
export const bookAvailabilityBody = z
  .object({
    patient: z.uuid().describe('Patient id (patients service).'),
    appointmentType: z.uuid().optional().describe("The appointment's type; required when the availability is for any type."),
    source: z.enum(appointmentSources).optional().describe('Default ui.'),
    status: z.enum(['unconfirmed', 'confirmed']).optional().describe('Default unconfirmed.'),
  })
  .strict();
export type BookAvailabilityBody = z.infer<typeof bookAvailabilityBody>;

/** A range bound: an instant, or a local day of the facility (a `from` day starts it, a `to` day ends with it). */
export const rangeBound = z
  .string()
  .trim()
  // A `+` of an unencoded offset arrives as a space.
  .transform((value) => value.replace(/ /g, '+'))
  .pipe(
    z.union([calendarDay.transform((day): RangeBound => ({ day })), instant.transform((at): RangeBound => ({ instant: new Date(at) }))]),
  )
  .describe('An instant (2026-03-08T00:00:00Z) or a local day of the facility (2026-03-08).');

const range = { from: rangeBound, to: rangeBound };

/** The open-slot filters of the scheduler. */
export const schedulerFilters = z.object({
  provider: z.uuid().optional(),
  facility: z.uuid().optional(),
  appointmentType: z.uuid().optional().describe('Slots for this type, or for any type and long enough for it.'),
  ...range,
});
export type SchedulerFilters = z.infer<typeof schedulerFilters>;

/** Where a page of open slots resumes: after this start and id, with the total the listing began with. */
export interface SlotCursor {
  date: Date;
  id: string;
  total: number;
}

/** A {@link SlotCursor} as the `after` parameter carries it: base64url of `<epoch ms>.<id>.<total>`. */
export function encodeSlotCursor(cursor: SlotCursor): string {
  return Buffer.from(`${cursor.date.getTime()}.${cursor.id}.${cursor.total}`).toString('base64url');
}

const slotCursor = z
  .string()
  .max(200)
  .transform((value, context): SlotCursor => {
    const match = /^(\d{1,15})\.([0-9a-f-]{36})\.(\d{1,9})$/.exec(Buffer.from(value, 'base64url').toString());
    const id = match?.[2];
    if (!match || !id || !z.uuid().safeParse(id).success) {
      context.addIssue({ code: 'custom', message: 'not a cursor this list gave out; follow the Link header or start again' });
      return z.NEVER;
    }
    return { date: new Date(Number(match[1])), id, total: Number(match[3]) };
  })
  .describe(
    'Resume after the last slot of the previous page: the `after` of the `Link: rel="next"` target; `page` then only numbers the page.',
  );

/** Query of GET /api/scheduler/availabilities. */
export const schedulerQuery = listQuery.extend({ ...schedulerFilters.shape, after: slotCursor.optional() });

/** Query of GET /api/availabilities/freebusy. */
export const freeBusyQuery = z.object({
  provider: z.uuid(),
  facility: z.uuid().optional().describe('Needed when from or to is a local day.'),
  ...range,
});
export type FreeBusyQuery = z.infer<typeof freeBusyQuery>;

const intervalView = z.object({ start: z.string(), end: z.string() });

/** Answer of GET /api/availabilities/freebusy. */
export const freeBusyResponse = z.object({
  provider: z.uuid(),
  from: z.string(),
  to: z.string(),
  busy: z.array(intervalView).describe("The provider's live appointments, merged."),
  free: z.array(intervalView).describe('Open availabilities minus busy time, merged.'),
});
export type FreeBusyResponse = z.infer<typeof freeBusyResponse>;

/** Answer of GET /api/scheduler/availabilities/count. */
export const countResponse = z.object({ count: z.number().int() });

/** An availability as the API returns it (the product's AvailabilitySchedulerResponse fields). */
export const availabilityResponse = z
  .object({
    ...recordFields,
    provider: z.uuid(),
    facility: z.uuid(),
    appointmentType: z.uuid().nullable(),
    date: timestamp,
    duration: minutes,
    endDate: z.string(),
    timeZone: z.string().describe("The facility's IANA time zone, the slot's local clock."),
    externalId: z.string().nullable(),
    status: z.enum(availabilityStatuses).describe('The state now: a slot that started while open, pending or offered is expired.'),
    offer: z.uuid().nullable(),
    appointment: z.uuid().nullable().describe('The appointment booked into the slot, while booked.'),
    locked: z.boolean(),
  })
  .meta({ id: 'Availability' });
export type AvailabilityResponse = z.infer<typeof availabilityResponse>;
