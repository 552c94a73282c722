import { messageChannels } from '@pep/contracts';
import { timestamp } from '@pep/service-kit';
import { z } from 'zod';
import { dateFilter, instant, listQuery, recordFields } from './schemas.js';

/** The states of a reminder (the product's). */
export const reminderStatuses = [
  'scheduled',
  'pending',
  'queued',
  'sent',
  'confirmed',
  'emailOpened',
  'skipped',
  'delivered',
  'blocked',
] as const;
/** What a reminder is about (the product's). */
export const reminderTypes = [
  'appointment',
  'feedback',
  'referral',
  'outbound-referral',
  'followup',
  'patient-form',
  'recall',
  'telehealth',
  'waiting-room',
] as const;

const templateKey = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes');

/** A reminder as the API shows it. */
export const reminderResponse = z
  .object({
    ...recordFields,
    appointment: z.uuid().nullable(),
    offer: z.uuid().nullable().describe('Offer of a freed slot the text is about (scheduling).'),
    referral: z.uuid().nullable().describe('Referral (patients) whose outreach attempt this is.'),
    referralAttempt: z.number().int().min(1).nullable().describe('Which outreach attempt of the referral it is, from 1.'),
    patient: z.uuid(),
    provider: z.uuid().nullable(),
    facility: z.uuid().nullable(),
    type: z.enum(reminderTypes),
    channel: z.enum(messageChannels).nullable(),
    offsetHours: z.number().int().nullable(),
    sendAt: timestamp,
    sentAt: timestamp.nullable(),
    status: z.enum(reminderStatuses),
    statusReason: z.string().nullable(),
    messageTemplate: z.string().nullable(),
    message: z.uuid().nullable(),
    text: z.string().nullable(),
    forcedTime: z.boolean(),
  })
  .meta({ id: 'Reminder' });
export type ReminderResponse = z.infer<typeof reminderResponse>;

/**
 * Body of POST /api/reminders: a reminder staff time by hand. Its text is the template's (default the built-in
 * reminder) unless `text` is given.
 */
export const createReminderBody = z
  .object({
    patient: z.uuid().describe('Patient id (patients service).'),
    appointment: z.uuid().optional().describe('Appointment it reminds of; its provider and facility are taken from it.'),
    type: z.enum(reminderTypes).optional().describe('Default appointment.'),
    channel: z.enum(messageChannels).optional().describe('Default: SMS when the patient has a phone, else e-mail.'),
    sendAt: instant,
    messageTemplate: templateKey.optional(),
    text: z.string().trim().min(1).max(1600).optional(),
    forcedTime: z.boolean().optional().describe('Send at sendAt even inside quiet hours. Default false.'),
  })
  .strict();
export type CreateReminderBody = z.infer<typeof createReminderBody>;

/** Body of PUT /api/reminders/:id: only a reminder not sent yet changes; `status: skipped` cancels it. */
export const updateReminderBody = z
  .object({
    sendAt: instant.optional(),
    channel: z.enum(messageChannels).nullable().optional(),
    messageTemplate: templateKey.nullable().optional(),
    text: z.string().trim().min(1).max(1600).nullable().optional(),
    forcedTime: z.boolean().optional(),
    status: z.enum(['scheduled', 'skipped']).optional(),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'change at least one field');
export type UpdateReminderBody = z.infer<typeof updateReminderBody>;

const filters = {
  sendAt: dateFilter.optional(),
  patient: z.uuid().optional(),
  appointment: z.uuid().optional(),
  status: z.enum(reminderStatuses).optional(),
  type: z.enum(reminderTypes).optional(),
};

/** Query of the reminder lists: paging and filters. */
export const reminderListQuery = listQuery.extend(filters);
export type ReminderListQuery = z.infer<typeof reminderListQuery>;

/** Query of the lists by appointment or patient (the id is in the path). */
export const reminderSubListQuery = listQuery.extend({ sendAt: filters.sendAt, status: filters.status });

/** Query of GET /api/reminders/reports/summary. */
export const reminderSummaryQuery = z.object({ sendAt: filters.sendAt, type: filters.type });

/** Counts of reminders by status, and their total. */
export const reminderSummaryResponse = z.object({
  total: z.number().int(),
  ...Object.fromEntries(reminderStatuses.map((status) => [status, z.number().int()])),
} as Record<'total' | (typeof reminderStatuses)[number], z.ZodNumber>);
export type ReminderSummaryResponse = z.infer<typeof reminderSummaryResponse>;
