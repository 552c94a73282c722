import { offerProtocols, offerSources, offerStatuses } from '@pep/contracts';
import { minutes, timestamp } from '@pep/service-kit';
import { z } from 'zod';
import { dateFilter, instant } from './appointment.schemas.js';
import { listQuery, recordFields } from './schemas.js';
import { waitlistResponse } from './waitlist.schemas.js';

/** An offer as the API returns it (the product's OfferResponse fields this service keeps). */
export const offerResponse = z
  .object({
    ...recordFields,
    provider: z.uuid(),
    facility: z.uuid(),
    appointmentType: z.array(z.uuid()).describe('The appointment type of the slot (one).'),
    date: timestamp,
    duration: minutes,
    expireAt: timestamp.describe('When the patients offered now can no longer accept.'),
    protocol: z.enum(offerProtocols),
    source: z.enum(offerSources),
    status: z.enum(offerStatuses),
    patientFound: z.uuid().nullable().describe('The patient who took the slot.'),
    patientFoundAt: timestamp.nullable(),
    usedForAppointment: z.uuid().nullable().describe('The appointment booked for that patient.'),
    availability: z.uuid().nullable().describe('Always null for now: the availability offered names its offer in its own `offer` field.'),
    approvedBy: z.string().nullable().describe('Who approved the acceptance, when the organization has the front office approve them.'),
    declinedBy: z.string().nullable(),
    currentWaitlist: z.number().int().describe('Index in `waitlists` of the entry offered now (serial), -1 when none or several.'),
    rescheduledFromAppointment: z.uuid().nullable(),
    cancelledAppointment: z.uuid().nullable().describe('The cancelled appointment that freed the slot.'),
    waitlists: z.array(z.uuid()).describe('Waitlist entries the offer was made to, in rank order.'),
  })
  .meta({ id: 'Offer' });
export type OfferResponse = z.infer<typeof offerResponse>;

/** Body of POST /api/offers: a manual offer of a free slot; what is left out comes from the organization's settings. */
export const createOfferBody = z
  .object({
    provider: z.uuid(),
    facility: z.uuid(),
    appointmentType: z.uuid(),
    date: instant,
    duration: z.number().int().min(5).max(1440).optional().describe("Minutes; defaults to the appointment type's duration."),
    protocol: z.enum(offerProtocols).optional(),
    maxOffers: z.number().int().min(1).max(100).optional().describe('How many ranked candidates to offer it to.'),
    expiryMinutes: z.number().int().min(1).max(10_080).optional(),
    waitlists: z
      .array(z.uuid())
      .min(1)
      .max(100)
      .optional()
      .describe('Offer to these waiting entries, in this order, instead of the ranked candidates.'),
  })
  .strict();
export type CreateOfferBody = z.infer<typeof createOfferBody>;

/** Body of PUT /api/offers/:id: extend or shorten an offer in progress. */
export const updateOfferBody = z
  .object({ expireAt: instant.describe('New lapse time; in the future and not after the slot starts.') })
  .strict();

const filters = {
  status: z.enum(offerStatuses).optional(),
  source: z.enum(offerSources).optional(),
  provider: z.uuid().optional(),
  facility: z.uuid().optional(),
  date: dateFilter.optional(),
};

/** Filters of the offer lists and reports. */
export interface OfferFilters {
  status?: (typeof offerStatuses)[number] | undefined;
  source?: (typeof offerSources)[number] | undefined;
  provider?: string | undefined;
  facility?: string | undefined;
  date?: Array<{ op: 'gt' | 'gte' | 'lt' | 'lte'; at: Date }> | undefined;
  patient?: string | undefined;
}

/** Query of the offer lists. */
export const offerListQuery = listQuery.extend(filters);

/** Query of GET /api/offers/reports/summary. */
export const offerSummaryQuery = z.object(filters).strict();

/** Counts of offers over the filters. */
export const offerSummaryResponse = z.object({
  total: z.number().int(),
  byStatus: z.object(
    Object.fromEntries(offerStatuses.map((status) => [status, z.number().int()])) as Record<(typeof offerStatuses)[number], z.ZodNumber>,
  ),
  bySource: z.record(z.string(), z.number().int()),
  fillRate: z.number().describe('Share of finished offers (not in progress) that found a patient, 0 to 1.'),
});
export type OfferSummaryResponse = z.infer<typeof offerSummaryResponse>;

/** A waitlist entry an offer was made to, with where it stood in the offer. */
export const offerWaitlistResponse = waitlistResponse.extend({
  recipient: z.object({
    rank: z.number().int(),
    status: z.enum(['queued', 'offered', 'accepted', 'declined', 'expired', 'taken', 'withdrawn']),
    offeredAt: timestamp.nullable(),
    respondedAt: timestamp.nullable(),
  }),
});
