import { referralSources, referralStatuses, referralStatusReasons } from '@pep/contracts';
import { instant, listOf, listQuery, rootAccount, timestamp } from '@pep/service-kit';
import { z } from 'zod';

const DAY_MS = 24 * 60 * 60 * 1000;
const calendarDay = z.iso.date();

/**
 * One end of a report's range: an instant, or a day (UTC). A `from` day starts at its midnight; a `to` day is included
 * whole, so `from=2027-03-01&to=2027-03-31` is March.
 */
const rangeBound = (end: 'from' | 'to') =>
  z
    .string()
    .trim()
    // A `+` of an unencoded offset arrives as a space.
    .transform((value) => value.replace(/ /g, '+'))
    .pipe(
      z.union([
        calendarDay.transform((day) => new Date(Date.parse(`${day}T00:00:00Z`) + (end === 'to' ? DAY_MS : 0))),
        instant.transform((at) => new Date(at)),
      ]),
    )
    .describe(
      end === 'from'
        ? 'Start of the range, included: an instant (2027-03-01T05:00:00Z) or a day (2027-03-01, from its midnight UTC).'
        : 'End of the range: an instant, excluded (2027-04-01T05:00:00Z), or a day, included whole (2027-03-31, UTC).',
    );

/** A filter given once, repeated (`status=a&status=b`) or comma-separated (`status=a,b`). */
const oneOrMany = <const T extends readonly [string, ...string[]]>(values: T) =>
  z
    .union([z.string(), z.array(z.string()).max(values.length)])
    .transform((value) => (Array.isArray(value) ? value : [value]).flatMap((item) => item.split(',')).map((item) => item.trim()))
    .pipe(z.array(z.enum(values)).min(1));

/** Which date of a referral the range applies to. */
export const REPORT_DATE_FIELDS = ['createdAt', 'startOn', 'scheduledAt'] as const;
export type ReportDateField = (typeof REPORT_DATE_FIELDS)[number];

const reportFilterShape = {
  from: rangeBound('from'),
  to: rangeBound('to'),
  dateField: z
    .enum(REPORT_DATE_FIELDS)
    .default('createdAt')
    .describe('The date the range applies to: when the referral was received (default), outreach starts, or it was scheduled.'),
  status: oneOrMany(referralStatuses).optional().describe('Only these statuses (repeat or separate with commas).'),
  source: oneOrMany(referralSources).optional().describe('Only these sources (repeat or separate with commas).'),
  referringProvider: z.uuid().optional().describe('Only referrals from this referring provider.'),
  facility: z.uuid().optional().describe('Only referrals to this facility.'),
  provider: z.uuid().optional().describe('Only referrals to this provider of the clinic.'),
  appointmentType: z.uuid().optional().describe('Only referrals for this appointment type.'),
};

const rangeInOrder = (range: { from: Date; to: Date }) => range.to > range.from;
const REVERSED = { message: 'must be after from', path: ['to'] };

/** The filters every referral report takes: a range of one of the referral's dates, and optional narrowing. */
export const reportFilters = z.object(reportFilterShape).refine(rangeInOrder, REVERSED);
export type ReportFilters = z.output<typeof reportFilters>;

/** Query of GET /api/referrals/reports/find: the filters, paged. */
export const findReportQuery = listQuery.extend(reportFilterShape).refine(rangeInOrder, REVERSED);
export type FindReportQuery = z.output<typeof findReportQuery>;

/** Query of GET /api/referrals/reports/summary: the filters and how many referring providers to name. */
export const summaryReportQuery = z
  .object({
    ...reportFilterShape,
    top: z.coerce
      .number()
      .int()
      .min(1)
      .max(100)
      .default(10)
      .describe('How many referring providers to name, most referrals first; the rest are summed in `otherReferringProviders`.'),
  })
  .refine(rangeInOrder, REVERSED);
export type SummaryReportQuery = z.output<typeof summaryReportQuery>;

const optionalInstant = timestamp.nullable();

/** One row of the find report: a referral in its v1 shape, with the names of its patient and referring provider. */
export const referralReportRow = z.object({
  _id: z.uuid(),
  user: rootAccount,
  organization: z.uuid(),
  name: z.string().nullable().describe('What the patient is referred for.'),
  patient: z.uuid(),
  patientName: z.string().nullable().describe("The patient's first and last name."),
  facility: z.uuid().nullable(),
  provider: z.uuid().nullable(),
  appointmentType: z.uuid().nullable(),
  referringProviderId: z.uuid().nullable(),
  referringProvider: z.string().nullable().describe("The referring provider's name."),
  duration: z.number().int().nullable(),
  status: z.enum(referralStatuses),
  statusReason: z.enum(referralStatusReasons).nullable(),
  statusReasonDescription: z.string().nullable(),
  source: z.enum(referralSources),
  startOn: timestamp,
  expireAt: optionalInstant,
  attempt: z.number().int(),
  lastAttemptSentAt: optionalInstant,
  calledAt: optionalInstant,
  acceptedAt: optionalInstant,
  scheduledAt: optionalInstant,
  scheduledByAppointment: z.uuid().nullable(),
  scheduledByOffer: z.uuid().nullable(),
  processedReferralFollowup: z.string().nullable(),
  notes: z.string().nullable(),
  customerNotes: z.string().nullable(),
  reason: z.string().nullable(),
  departmentOrFacility: z.string().nullable(),
  externalId: z.string().nullable(),
  faxSentAt: optionalInstant,
  referringProviderFaxNumberOverride: z.string().nullable(),
  deleted: z.union([z.literal(0), z.literal(1)]),
  createdBy: z.string().nullable(),
  updatedBy: z.string().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export type ReferralReportRow = z.infer<typeof referralReportRow>;

/** Answer of GET /api/referrals/reports/find. */
export const findReportResponse = listOf(referralReportRow);

const countsOf = <const T extends readonly [string, ...string[]]>(keys: T) =>
  z.object(Object.fromEntries(keys.map((key) => [key, z.number().int()])) as Record<T[number], z.ZodNumber>);

/** Answer of GET /api/referrals/reports/summary. */
export const summaryReportResponse = z.object({
  from: timestamp,
  to: timestamp.describe('Excluded.'),
  dateField: z.enum(REPORT_DATE_FIELDS),
  total: z.number().int().describe('Referrals in the range (deleted ones never count).'),
  byStatus: countsOf(referralStatuses).describe('Referrals per status; every status is present.'),
  bySource: countsOf(referralSources).describe('Referrals per source; every source is present.'),
  byReferringProvider: z
    .array(z.object({ _id: z.uuid(), name: z.string().nullable(), count: z.number().int() }))
    .describe('The `top` referring providers with the most referrals, most first (ties by id).'),
  otherReferringProviders: z
    .object({ providers: z.number().int(), count: z.number().int() })
    .describe('The referring providers after the top ones: how many, and their referrals.'),
  withoutReferringProvider: z.number().int().describe('Referrals that name no referring provider.'),
  timeToSchedule: z
    .object({
      scheduled: z.number().int().describe('Referrals scheduled or scheduled-late, with the time they were scheduled.'),
      medianHours: z.number().nullable().describe('Median of scheduledAt − createdAt over those, in hours; null when none.'),
    })
    .describe('How long referrals took to be scheduled after they were received.'),
});
export type SummaryReport = z.infer<typeof summaryReportResponse>;
