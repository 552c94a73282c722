import { referralSources, referralStatuses, referralStatusReasons } from '@pep/contracts';
import { dateFilter, deletedFlag, instant, listQuery, rootAccount, timestamp } from '@pep/service-kit';
import { z } from 'zod';
import { toE164 } from './contact.js';

/** Outcomes staff record for the follow-up a patient asked for (YES/CALL to outreach). */
export const REFERRAL_FOLLOWUP_OUTCOMES = ['pending', 'skipped', 'failed', 'success'] as const;

const text = (max: number) => z.string().trim().min(1).max(max);
const phoneNumber = z
  .string()
  .min(3)
  .max(32)
  .refine((value) => toE164(value) !== null, 'not a valid phone number')
  .describe('Any common format (US numbers may omit +1); stored in E.164.');
const npi = z
  .string()
  .regex(/^\d{10}$/, 'a National Provider Identifier: 10 digits')
  .describe('National Provider Identifier (10 digits).');

/** A referring provider a referral names by its details: matched by NPI, else by name, else created. */
const referringProviderDetails = z
  .object({
    npi: npi.optional(),
    firstname: text(100).optional(),
    lastname: text(100).optional(),
    name: text(200).optional().describe('Display name; built from first and last name when absent.'),
    taxonomy: text(200).optional(),
    email: z.email().max(254).optional(),
    phone: phoneNumber.optional(),
    fax: phoneNumber.optional(),
  })
  .strict();

/** The referring provider of a referral: `{ id }` of one of the organization's, its details, or its name as v1 sends it. */
const referringProviderInput = z
  .union([z.object({ id: z.uuid() }).strict(), referringProviderDetails, text(200).transform((name) => ({ name }))])
  .describe(
    '`{ id }` of a referring provider of the organization, or its details (found by NPI, else by name, else created), or only its name as v1 clients send it.',
  );

/** Fields a client may set on a referral; shared by create and update. */
const referralFields = {
  facility: z.uuid().nullable().describe('Facility the patient is referred to (scheduling).'),
  provider: z.uuid().nullable().describe('Provider of the clinic the patient is referred to (scheduling).'),
  appointmentType: z.uuid().nullable().describe('Appointment type to book (scheduling).'),
  referringProvider: referringProviderInput.nullable(),
  referringProviderId: z.uuid().nullable().describe('Alias of `referringProvider: { id }`, as v1 clients send it.'),
  name: text(200).nullable().describe('What the patient is referred for.'),
  duration: z.number().int().min(1).max(1440).nullable().describe('Minutes the appointment to book should last.'),
  source: z.enum(referralSources),
  startOn: instant.describe('When outreach may start.'),
  expireAt: instant.nullable().describe('When the referral lapses unless scheduled.'),
  notes: text(5000).nullable(),
  customerNotes: text(5000).nullable(),
  reason: text(2000).nullable(),
  departmentOrFacility: text(200).nullable(),
  externalId: text(200).nullable().describe("The referral's id in the system it came from."),
  referringProviderFaxNumberOverride: phoneNumber.nullable().describe('Fax the referral status is shared to instead of the provider’s.'),
};

const oneReferringProvider = (body: { referringProvider?: unknown; referringProviderId?: unknown }, context: z.RefinementCtx) => {
  if (body.referringProvider !== undefined && body.referringProviderId !== undefined)
    context.addIssue({ code: 'custom', path: ['referringProviderId'], message: 'give referringProvider or referringProviderId, not both' });
};

/** Body of POST /api/referrals. Unknown fields (`status` among them: it follows the organization's settings) are refused. */
export const createReferralBody = z
  .object({
    patient: z.uuid().describe('A live patient of the organization.'),
    facility: referralFields.facility.optional(),
    provider: referralFields.provider.optional(),
    appointmentType: referralFields.appointmentType.optional(),
    referringProvider: referralFields.referringProvider.optional(),
    referringProviderId: referralFields.referringProviderId.optional(),
    name: referralFields.name.optional(),
    duration: referralFields.duration.optional(),
    source: referralFields.source.optional().describe('Defaults to ui.'),
    startOn: referralFields.startOn.optional().describe('Defaults to now.'),
    expireAt: referralFields.expireAt
      .optional()
      .describe("Defaults to startOn plus the organization's referralExpiryDays setting; null: never expires."),
    notes: referralFields.notes.optional(),
    customerNotes: referralFields.customerNotes.optional(),
    reason: referralFields.reason.optional(),
    departmentOrFacility: referralFields.departmentOrFacility.optional(),
    externalId: referralFields.externalId.optional(),
    referringProviderFaxNumberOverride: referralFields.referringProviderFaxNumberOverride.optional(),
  })
  .strict()
  .superRefine(oneReferringProvider);
export type CreateReferralBody = z.infer<typeof createReferralBody>;

/** What PUT /api/referrals/:id and PUT /api/referrals/batch may change: fields, and the status through the state machine. */
const referralChange = {
  facility: referralFields.facility.optional(),
  provider: referralFields.provider.optional(),
  appointmentType: referralFields.appointmentType.optional(),
  referringProvider: referralFields.referringProvider.optional(),
  referringProviderId: referralFields.referringProviderId.optional(),
  name: referralFields.name.optional(),
  duration: referralFields.duration.optional(),
  source: referralFields.source.optional(),
  startOn: referralFields.startOn.optional(),
  expireAt: referralFields.expireAt.optional(),
  notes: referralFields.notes.optional(),
  customerNotes: referralFields.customerNotes.optional(),
  reason: referralFields.reason.optional(),
  departmentOrFacility: referralFields.departmentOrFacility.optional(),
  externalId: referralFields.externalId.optional(),
  referringProviderFaxNumberOverride: referralFields.referringProviderFaxNumberOverride.optional(),
  processedReferralFollowup: z
    .enum(REFERRAL_FOLLOWUP_OUTCOMES)
    .nullable()
    .optional()
    .describe('Outcome of the staff follow-up the patient asked for.'),
  status: z
    .enum(referralStatuses)
    .optional()
    .describe('A new status the state machine allows from the current one (409 otherwise); the same status changes nothing.'),
  statusReason: z.enum(referralStatusReasons).nullable().optional().describe('Why, with a new status that ends the referral.'),
  statusReasonDescription: text(2000).nullable().optional(),
};

const reasonNeedsStatus = (
  body: { status?: unknown; statusReason?: unknown; statusReasonDescription?: unknown },
  context: z.RefinementCtx,
) => {
  for (const field of ['statusReason', 'statusReasonDescription'] as const)
    if (body[field] !== undefined && body.status === undefined)
      context.addIssue({ code: 'custom', path: [field], message: 'goes with a new status; give `status` too' });
};

/** Body of PUT /api/referrals/:id: any subset of the fields; `null` clears an optional one. */
export const updateReferralBody = z
  .object(referralChange)
  .strict()
  .superRefine(oneReferringProvider)
  .superRefine(reasonNeedsStatus)
  .refine((body) => Object.keys(body).length > 0, 'change at least one field');
export type UpdateReferralBody = z.infer<typeof updateReferralBody>;

const idList = z.array(z.uuid()).min(1).max(500);

/** Body of PUT /api/referrals/batch: the referrals and the one change applied to each of them. */
export const batchUpdateBody = z
  .object({ ids: idList.describe('The referrals to change; all of them change, or none.'), ...referralChange })
  .strict()
  .superRefine(oneReferringProvider)
  .superRefine(reasonNeedsStatus)
  .refine(({ ids: _ids, ...change }) => Object.keys(change).length > 0, 'change at least one field besides ids');
export type BatchUpdateBody = z.infer<typeof batchUpdateBody>;

/** Ids of DELETE /api/referrals/batch in the query: repeated or comma-separated. */
const idsInQuery = z
  .union([z.string(), z.array(z.string()).max(500)])
  .transform((value) => (Array.isArray(value) ? value : [value]).flatMap((item) => item.split(',')).filter(Boolean))
  .pipe(idList);

/** Query of DELETE /api/referrals/batch (the ids may come in the body instead). */
export const batchDeleteQuery = z.object({ ids: idsInQuery.optional() });

/** Body of DELETE /api/referrals/batch (the ids may come in the query instead). */
export const batchDeleteBody = z
  .object({ ids: idList })
  .strict()
  // A DELETE without a body reaches validation as null.
  .nullish();

/** Body of POST /api/referrals/:id/reject. */
export const rejectBody = z
  .object({
    statusReason: z.enum(referralStatusReasons).describe('Why the referral is rejected.'),
    statusReasonDescription: text(2000).optional().describe('In the staff’s words; kept on the referral, never published.'),
  })
  .strict();
export type RejectBody = z.infer<typeof rejectBody>;

/** Body of POST /api/referrals/:id/approve: nothing. */
export const approveBody = z.object({}).strict().nullish();

const statusFilter = z
  .union([z.string(), z.array(z.string()).max(referralStatuses.length)])
  .transform((value) => (Array.isArray(value) ? value : [value]).flatMap((item) => item.split(',')).filter(Boolean))
  .pipe(z.array(z.enum(referralStatuses)).min(1))
  .describe('One status, or several repeated or comma-separated (status=active,called).');

/** Filters of the referral lists (list, count, crudList, search). */
export const referralFilters = {
  status: statusFilter.optional(),
  patient: z.uuid().optional(),
  referringProvider: z.uuid().optional().describe('Id of the referring provider.'),
  facility: z.uuid().optional(),
  provider: z.uuid().optional(),
  appointmentType: z.uuid().optional(),
  source: z.enum(referralSources).optional(),
  externalId: text(200).optional(),
  processedReferralFollowup: z
    .enum(REFERRAL_FOLLOWUP_OUTCOMES)
    .optional()
    .describe('The staff follow-up: `pending` lists the referrals whose patient asked to be called and no one has yet.'),
  createdAt: dateFilter.optional(),
  startOn: dateFilter.optional(),
};

/** Orders of the referral lists. */
export const REFERRAL_SORTS = ['-createdAt', 'createdAt', 'startOn', '-startOn', 'expireAt', '-updatedAt'] as const;

/** Query of GET /api/referrals and /api/referrals/crudList. */
export const referralListQuery = listQuery.extend({ ...referralFilters, sort: z.enum(REFERRAL_SORTS).default('-createdAt') });
export type ReferralListQuery = z.infer<typeof referralListQuery>;

/** Query of GET /api/referrals/count. */
export const referralCountQuery = z.object(referralFilters);
export type ReferralFilters = z.infer<typeof referralCountQuery>;

/** Query of GET /api/referrals/search. */
export const referralSearchQuery = referralListQuery
  .extend({
    q: text(200)
      .optional()
      .describe(
        "Words of the patient's name or the referring provider's name (every word, case and accents ignored), the patient's phone in any format, or the referring provider's NPI.",
      ),
    value: text(200).optional().describe('Alias of q.'),
  })
  .transform(({ q, value, ...rest }) => ({ ...rest, q: q ?? value }));
export type ReferralSearchQuery = z.infer<typeof referralSearchQuery>;

/** A referral as the API answers it (the product's Referral). */
export const referralResponse = z
  .object({
    _id: z.uuid(),
    user: rootAccount,
    organization: z.uuid(),
    name: z.string().nullable(),
    patient: z.uuid(),
    facility: z.uuid().nullable(),
    provider: z.uuid().nullable(),
    appointmentType: z.uuid().nullable(),
    referringProviderId: z.uuid().nullable(),
    referringProvider: z.string().nullable().describe('The referring provider’s name.'),
    duration: z.number().int().nullable(),
    status: z.enum(referralStatuses),
    statusReason: z.enum(referralStatusReasons).nullable(),
    statusReasonDescription: z.string().nullable(),
    source: z.enum(referralSources),
    startOn: timestamp,
    expireAt: timestamp.nullable(),
    attempt: z.number().int(),
    lastAttemptSentAt: timestamp.nullable(),
    calledAt: timestamp.nullable(),
    acceptedAt: timestamp.nullable(),
    scheduledAt: timestamp.nullable(),
    scheduledByAppointment: z.uuid().nullable(),
    scheduledByOffer: z.uuid().nullable(),
    processedReferralFollowup: z.string().nullable(),
    notes: z.string().nullable(),
    customerNotes: z.string().nullable(),
    reason: z.string().nullable(),
    departmentOrFacility: z.string().nullable(),
    externalId: z.string().nullable(),
    faxSentAt: timestamp.nullable(),
    referringProviderFaxNumberOverride: z.string().nullable(),
    deleted: deletedFlag,
    createdBy: z.string().nullable(),
    updatedBy: z.string().nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Referral' });

/** A referral in the compact form of crudList: what a row of a table of referrals shows. */
export const referralSummary = z.object({
  _id: z.uuid(),
  patient: z.uuid(),
  patientName: z.string().nullable().describe('The referred patient’s name; null once the patient is deleted.'),
  referringProviderId: z.uuid().nullable(),
  referringProvider: z.string().nullable(),
  name: z.string().nullable(),
  status: z.enum(referralStatuses),
  source: z.enum(referralSources),
  startOn: timestamp,
  expireAt: timestamp.nullable(),
  attempt: z.number().int(),
  scheduledAt: timestamp.nullable(),
  updatedAt: timestamp,
});
export type ReferralSummary = z.infer<typeof referralSummary>;

/** Answer of the batch routes: every referral changed, in the order of `ids`. */
export const batchResponse = z.object({ response: z.array(referralResponse), total: z.number().int() });

/** Answer of GET /api/referrals/count. */
export const countResponse = z.object({ count: z.number().int() });
