import { z } from 'zod';
import { listQuery, recordFields } from './schemas.js';

/** What a follow-up rule fires on: the appointment events scheduling publishes. */
export const FOLLOWUP_TRIGGERS = ['no-show', 'completed', 'cancelled'] as const;
export type FollowupTrigger = (typeof FOLLOWUP_TRIGGERS)[number];

/** What a fired rule does: text the patient, or send the NPS survey. */
export const FOLLOWUP_ACTIONS = ['text', 'feedback'] as const;

/** Variables a follow-up's wording may use; the appointment's are of the appointment that fired it. */
export const FOLLOWUP_VARIABLES = [
  'patient.firstname',
  'provider.name',
  'facility.name',
  'facility.phone',
  'appointment.date',
  'appointment.time',
  'organization.name',
  'booking.link',
] as const;

const localTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time HH:MM, e.g. 09:00');
const ids = z.array(z.uuid()).max(100);

const trigger = z
  .object({
    event: z
      .enum(FOLLOWUP_TRIGGERS)
      .describe('no-show and completed: the outcome staff recorded; cancelled: the appointment was cancelled.'),
    delayDays: z.number().int().min(0).max(365).default(0).describe('Calendar days after the event, in the facility’s time zone.'),
    delayHours: z.number().int().min(0).max(23).default(0).describe('Hours after the event; used when sendAt is not given.'),
    sendAt: localTime
      .nullish()
      .describe(
        'Local time of day it goes at on that day (a time already past on day 0 goes the next day); null for the event’s time plus the delay.',
      ),
  })
  .strict();

const conditions = z
  .object({
    facilities: ids.default([]).describe('Facilities it applies to; empty for any.'),
    providers: ids.default([]).describe('Providers it applies to; empty for any.'),
    types: ids.default([]).describe('Appointment types it applies to; empty for any.'),
  })
  .strict();

const wording = z
  .string()
  .trim()
  .min(1)
  .max(1600)
  .describe(`The text, with variables: ${FOLLOWUP_VARIABLES.map((name) => `{{${name}}}`).join(', ')}. Only for action text.`);

const fields = {
  name: z.string().trim().min(1).max(200),
  group: z.string().trim().min(1).max(100).optional().describe('Rules are listed by group; default `default`.'),
  trigger,
  conditions: conditions.optional(),
  action: z
    .enum(FOLLOWUP_ACTIONS)
    .describe('text: the text below; feedback: the NPS survey, whose score earns a review link or a follow-up flag.'),
  text: wording.optional().describe('Required for action text, unless the trigger has a default wording (no-show, cancelled).'),
  active: z.boolean().optional().describe('Default true; an inactive rule plans nothing.'),
};

/** Body of POST /api/followups. */
export const createFollowupBody = z.object(fields).strict();
export type CreateFollowupBody = z.infer<typeof createFollowupBody>;

/** Body of PUT /api/followups/:id: the fields to change. */
export const updateFollowupBody = z
  .object({
    ...fields,
    name: fields.name.optional(),
    trigger: trigger.optional(),
    action: fields.action.optional(),
    text: wording.nullish(),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'change at least one field');
export type UpdateFollowupBody = z.infer<typeof updateFollowupBody>;

/** Body of POST /api/followups/bulk: rules to create (no `_id`) or change (`_id`), all or none. */
export const bulkFollowupBody = z
  .object({
    followups: z
      .array(z.object({ _id: z.uuid().optional(), ...fields }).strict())
      .min(1)
      .max(100),
  })
  .strict();
export type BulkFollowupBody = z.infer<typeof bulkFollowupBody>;

/** Query of GET /api/followups. */
export const followupListQuery = listQuery.extend({
  group: z.string().trim().min(1).max(100).optional(),
  trigger: z.enum(FOLLOWUP_TRIGGERS).optional(),
  active: z.enum(['true', 'false']).optional(),
});
export type FollowupListQuery = z.infer<typeof followupListQuery>;

/** A follow-up rule as the API shows it. */
export const followupResponse = z
  .object({
    ...recordFields,
    name: z.string(),
    group: z.string(),
    trigger: z.object({
      event: z.enum(FOLLOWUP_TRIGGERS),
      delayDays: z.number().int(),
      delayHours: z.number().int(),
      sendAt: z.string().nullable(),
    }),
    conditions: z.object({ facilities: z.array(z.uuid()), providers: z.array(z.uuid()), types: z.array(z.uuid()) }),
    action: z.enum(FOLLOWUP_ACTIONS),
    text: z.string().nullable(),
    active: z.boolean(),
  })
  .meta({ id: 'Followup' });
export type FollowupResponse = z.infer<typeof followupResponse>;

/** A group of rules and how many live rules it has. */
export const followupGroupResponse = z.object({ name: z.string(), rules: z.number().int(), active: z.number().int() });
