import { waitlistStatuses } from '@pep/contracts';
import { z } from 'zod';
import { dateFilter, instant } from './appointment.schemas.js';
import { clearableText, listQuery, nonEmpty, optionalText, recordFields } from './schemas.js';

const facilities = z.array(z.uuid()).max(50).describe('Further facilities the patient would go to.');

/** Body of POST /api/waitlists. Provider, facility and type are what the patient asked for; leave one out for any. */
export const createWaitlistBody = z
  .object({
    patient: z.uuid().describe('Patient id (patients service).'),
    provider: z.uuid().optional().describe('Provider asked for; any when left out.'),
    facility: z.uuid().optional().describe('Facility asked for; any (or one of facilities) when left out.'),
    facilities: facilities.optional(),
    appointmentType: z.uuid().optional().describe('Appointment type asked for; any when left out.'),
    notes: optionalText(2000),
  })
  .strict();
export type CreateWaitlistBody = z.infer<typeof createWaitlistBody>;

/** Body of PUT /api/waitlists/:id: null clears provider, facility, type or notes (any). States change through offers and bulk actions. */
export const updateWaitlistBody = z
  .object({
    provider: z.uuid().nullable().optional(),
    facility: z.uuid().nullable().optional(),
    facilities: facilities.optional(),
    appointmentType: z.uuid().nullable().optional(),
    notes: clearableText(2000),
  })
  .strict()
  .refine(nonEmpty, 'change at least one field');
export type UpdateWaitlistBody = z.infer<typeof updateWaitlistBody>;

const filterFields = {
  status: z.enum(waitlistStatuses).optional(),
  patient: z.uuid().optional(),
  provider: z.uuid().optional(),
  facility: z.uuid().optional().describe('Entries asking for this facility, or listing it among their facilities.'),
  appointmentType: z.uuid().optional(),
};

/** Filters every waitlist list and count shares. */
export interface WaitlistFilters {
  status?: (typeof waitlistStatuses)[number] | undefined;
  statuses?: Array<(typeof waitlistStatuses)[number]> | undefined;
  patient?: string | undefined;
  provider?: string | undefined;
  facility?: string | undefined;
  appointmentType?: string | undefined;
  createdAt?: Array<{ op: 'gt' | 'gte' | 'lt' | 'lte'; at: Date }> | undefined;
}

/** Query of GET /api/waitlists, crudList and providers/:id/waitlists. */
export const waitlistListQuery = listQuery.extend(filterFields);

/** Query of GET /api/waitlists/filter: the list's filters and creation-date bounds. */
export const waitlistFilterQuery = listQuery.extend({ ...filterFields, createdAt: dateFilter.optional() });

/** Query of GET /api/waitlists/count. */
export const waitlistCountQuery = z.object({ ...filterFields, createdAt: dateFilter.optional() }).strict();

/** Body of POST /api/waitlists/find/count: the filters, with several states at once. */
export const findCountBody = z
  .object({
    statuses: z.array(z.enum(waitlistStatuses)).min(1).max(waitlistStatuses.length).optional(),
    patient: z.uuid().optional(),
    provider: z.uuid().optional(),
    facility: z.uuid().optional(),
    appointmentType: z.uuid().optional(),
  })
  .strict();

/** Answer of the count routes. */
export const countResponse = z.object({ count: z.number().int() });

/** Query of GET /api/waitlists/search. */
export const waitlistSearchQuery = listQuery.extend({
  value: z.string().trim().min(1).max(100).describe("Words found in the notes or the provider's name."),
});

/** Body of POST /api/waitlists/candidates: the slot to fill. */
export const candidatesBody = z
  .object({
    provider: z.uuid(),
    facility: z.uuid(),
    appointmentType: z.uuid(),
    date: instant,
    duration: z.number().int().min(5).max(1440).optional().describe("Minutes; defaults to the appointment type's duration."),
    limit: z.number().int().min(1).max(100).default(10),
  })
  .strict();
export type CandidatesBody = z.infer<typeof candidatesBody>;

/** Path of update-position. */
export const moveParams = z.object({ providerId: z.uuid(), id: z.uuid(), replacedId: z.uuid() }).strict();

/** Body of POST /api/waitlists/bulk/action. */
export const bulkActionBody = z
  .object({
    action: z
      .enum(['remove', 'activate', 'deactivate'])
      .describe(
        'remove deletes; activate puts pending or declined entries back to waiting; deactivate sets waiting or declined ones pending.',
      ),
    ids: z
      .array(z.uuid())
      .min(1)
      .max(100)
      .refine((ids) => new Set(ids).size === ids.length, 'ids must not repeat'),
  })
  .strict();
export type BulkActionBody = z.infer<typeof bulkActionBody>;

/** A waitlist entry as the API returns it. */
export const waitlistResponse = z
  .object({
    ...recordFields,
    patient: z.uuid(),
    provider: z.uuid().nullable(),
    facility: z.uuid().nullable(),
    facilities: z.array(z.uuid()),
    appointmentType: z.uuid().nullable(),
    position: z.number().int(),
    notes: z.string().nullable(),
    status: z.enum(waitlistStatuses),
    offer: z.uuid().nullable(),
  })
  .meta({ id: 'Waitlist' });
export type WaitlistResponse = z.infer<typeof waitlistResponse>;

/** One ranked candidate for a slot, with why it ranks where it does. */
export const candidateResponse = z
  .object({
    rank: z.number().int().describe('1 is offered first.'),
    score: z.number().int().describe('Match quality: 4 for the same provider, 2 for a listed facility, 1 for the same type.'),
    match: z.object({
      provider: z.enum(['same', 'any']),
      facility: z.enum(['listed', 'any']),
      appointmentType: z.enum(['same', 'any']),
    }),
    reasons: z.array(z.string()).describe('The ranking explained: match quality, then position, then time waiting.'),
    waitlist: waitlistResponse,
  })
  .meta({ id: 'WaitlistCandidate' });
export type CandidateResponse = z.infer<typeof candidateResponse>;

/** Answer of POST /api/waitlists/candidates. */
export const candidatesResponse = z.object({ response: z.array(candidateResponse), total: z.number().int() });
