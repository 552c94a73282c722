import { appointmentSources, appointmentStatuses } from '@pep/contracts';
import { z } from 'zod';
import { durationMinutes } from './appointment-type.schemas.js';
import { listQuery, nonEmpty, recordFields } from './schemas.js';

/** An instant with its offset, as every date of the API is written. */
export const instant = z.iso.datetime({ offset: true }).describe('An instant with its offset, e.g. 2026-03-02T15:30:00Z.');

/** Body of POST /api/appointments. Provider, facility and type must be live records of the caller's organization. */
export const createAppointmentBody = z
  .object({
    patient: z.uuid().describe('Patient id (patients service).'),
    provider: z.uuid(),
    facility: z.uuid(),
    type: z.uuid().describe('Appointment type id.'),
    date: instant,
    duration: durationMinutes.optional().describe("Minutes; defaults to the appointment type's duration."),
    source: z.enum(appointmentSources).optional().describe('Default ui.'),
    status: z.enum(['unconfirmed', 'confirmed']).optional().describe('Default unconfirmed; an integration may book an already confirmed appointment.'),
  })
  .strict();
export type CreateAppointmentBody = z.infer<typeof createAppointmentBody>;

/**
 * Body of PUT /api/appointments/:id. Moving it (date, duration, provider, facility) publishes appointment.rescheduled;
 * status changes go through /confirm and /cancel so each has its own event and rules.
 */
export const updateAppointmentBody = z
  .object({
    provider: z.uuid().optional(),
    facility: z.uuid().optional(),
    type: z.uuid().optional(),
    date: instant.optional(),
    duration: durationMinutes.optional(),
  })
  .strict()
  .refine(nonEmpty, 'change at least one field');
export type UpdateAppointmentBody = z.infer<typeof updateAppointmentBody>;

/** One bound of a date filter. */
export interface DateBound {
  op: 'gt' | 'gte' | 'lt' | 'lte';
  at: Date;
}

const OPERATORS: ReadonlyArray<[string, DateBound['op']]> = [
  ['>=', 'gte'],
  ['<=', 'lte'],
  ['>', 'gt'],
  ['<', 'lt'],
];

/**
 * The product's date filter: `date` repeated, each value an instant behind a comparison, e.g.
 * `?date=>2026-01-01T00:00:00Z&date=<2026-02-01T00:00:00Z`.
 */
export const dateFilter = z
  .union([z.string(), z.array(z.string()).max(4)])
  .transform((value, context) => {
    const bounds: DateBound[] = [];
    for (const raw of Array.isArray(value) ? value : [value]) {
      const operator = OPERATORS.find(([prefix]) => raw.startsWith(prefix));
      // A `+` of an unencoded offset arrives as a space.
      const iso = operator ? raw.slice(operator[0].length).trim().replace(/ /g, '+') : '';
      if (!operator || !instant.safeParse(iso).success) {
        context.addIssue({ code: 'custom', message: 'each date needs >, >=, < or <= before an instant, e.g. >2026-01-01T00:00:00Z' });
        return z.NEVER;
      }
      bounds.push({ op: operator[1], at: new Date(iso) });
    }
    return bounds;
  })
  .describe('Repeat with a comparison before each instant: date=>2026-01-01T00:00:00Z&date=<2026-02-01T00:00:00Z (>, >=, <, <=).');

const filters = {
  date: dateFilter.optional(),
  provider: z.uuid().optional(),
  facility: z.uuid().optional(),
  type: z.uuid().optional(),
  status: z.enum(appointmentStatuses).optional(),
};

/** Query of GET /api/appointments and crudList. */
export const appointmentListQuery = listQuery.extend({ ...filters, patient: z.uuid().optional() });
export type AppointmentListQuery = z.infer<typeof appointmentListQuery>;

/** Query of GET /api/appointments/getByPatientId/:id. */
export const patientAppointmentsQuery = listQuery.extend(filters);

/** Query of GET /api/appointments/summary. */
export const summaryQuery = z.object({ date: filters.date, provider: filters.provider, facility: filters.facility, type: filters.type }).strict();
export type SummaryQuery = z.infer<typeof summaryQuery>;

/** Counts of appointments by status. */
export const summaryResponse = z.object({
  total: z.number().int(),
  unconfirmed: z.number().int(),
  confirmed: z.number().int(),
  cancelled: z.number().int(),
});
export type SummaryResponse = z.infer<typeof summaryResponse>;

/** An appointment as the API returns it (the product's Appointment fields). */
export const appointmentResponse = z.object({
  ...recordFields,
  patient: z.uuid(),
  provider: z.uuid(),
  facility: z.uuid(),
  type: z.uuid(),
  date: z.string(),
  duration: z.number().int().describe('Minutes.'),
  source: z.enum(appointmentSources),
  status: z.enum(appointmentStatuses),
});
export type AppointmentResponse = z.infer<typeof appointmentResponse>;
