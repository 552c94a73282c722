import { appointmentOutcomes, appointmentSources, appointmentStatuses } from '@pep/contracts';
import { dateFilter, instant, minutes, timestamp } from '@pep/service-kit';
import { z } from 'zod';
import { durationMinutes } from './appointment-type.schemas.js';
import { listQuery, nonEmpty, recordFields } from './schemas.js';

export { dateFilter, instant, type DateBound } from '@pep/service-kit';

/**
 * Body of POST /api/appointments, as v1 clients send it. Provider, facility and type must be live records of the caller's
 * organization; `user` (the v1 tenant root) must name the organization or one of its users (auth is asked).
 */
export const createAppointmentBody = z
  .object({
    patient: z.uuid().describe('Patient id (patients service).'),
    provider: z.uuid(),
    facility: z.uuid(),
    type: z.uuid().optional().describe('Appointment type id; optional (v1 clients book without one).'),
    date: instant,
    duration: durationMinutes
      .optional()
      .describe(
        'Minutes, a number or a string of digits ("15"); defaults to the type\'s duration, else the organization\'s appointmentDurationMinutes setting (15).',
      ),
    source: z.enum(appointmentSources).optional().describe('Default ui; manual: booked by hand in another tool.'),
    user: z
      .uuid()
      .optional()
      .describe(
        "The v1 tenant root account: the organization's id (what every record's `user` shows) or the id of a user of the organization (the caller " +
          'or another active member, as auth knows them); anything else answers 404 naming body.user, so a body can never place an appointment ' +
          'under another tenant. The appointment is always the caller’s organization’s. 503 with Retry-After when auth cannot be asked.',
      ),
    status: z
      .enum(['unconfirmed', 'confirmed'])
      .optional()
      .describe('Default unconfirmed; an integration may book an already confirmed appointment.'),
    referral: z
      .uuid()
      .optional()
      .describe(
        'The referral (patients service) this appointment is booked for: kept and published with the appointment, and the referral becomes scheduled when it is the patient’s.',
      ),
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
    referral: z.uuid().nullable().optional().describe('The referral this appointment is booked for; null to unlink it.'),
    outcome: z
      .enum(appointmentOutcomes)
      .optional()
      .describe(
        'What became of it once it started: no-show or completed (publishes appointment.no-show or appointment.completed). ' +
          'Before its start, or on a cancelled appointment, 409; the same outcome again changes nothing.',
      ),
  })
  .strict()
  .refine(nonEmpty, 'change at least one field');
export type UpdateAppointmentBody = z.infer<typeof updateAppointmentBody>;

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
export const summaryQuery = z
  .object({ date: filters.date, provider: filters.provider, facility: filters.facility, type: filters.type })
  .strict();
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
export const appointmentResponse = z
  .object({
    ...recordFields,
    patient: z.uuid(),
    provider: z.uuid(),
    facility: z.uuid(),
    type: z.uuid().nullable().describe('Appointment type id; null when booked without one.'),
    date: timestamp,
    duration: minutes,
    source: z.enum(appointmentSources),
    status: z.enum(appointmentStatuses),
    referral: z.uuid().nullable().describe('The referral (patients service) it was booked for; null when none.'),
    outcome: z.enum(appointmentOutcomes).nullable().describe('no-show or completed once staff recorded it; null before.'),
    outcomeAt: timestamp.nullable().describe('When the outcome was recorded.'),
  })
  .meta({ id: 'Appointment' });
export type AppointmentResponse = z.infer<typeof appointmentResponse>;
