import { referralStatuses } from '@pep/contracts';
import { listQuery, rootAccount, timestamp } from '@pep/service-kit';
import { z } from 'zod';
import { toE164 } from './contact.js';
import { isValidNpi } from './npi-registry.js';

/** Where a referring provider's record came from, as the product names it. */
export const REFERRING_PROVIDER_SOURCES = ['upload', 'patient-referral-form', 'ui', 'integrator'] as const;

const words = (max: number) => z.string().trim().min(1).max(max);
const clearable = (max: number) => words(max).nullable().optional();

/** An NPI as clients send it (string or number): 10 digits whose last is the Luhn check digit; kept as a string. */
export const npiInput = z
  .union([z.string().trim(), z.number().int()])
  .transform(String)
  .refine(isValidNpi, 'an NPI: 10 digits, the last being the check digit (Luhn over 80840 and the first nine)')
  .describe('National Provider Identifier, 10 digits.');

const phoneInput = z
  .string()
  .min(3)
  .max(32)
  .refine((value) => toE164(value) !== null, 'not a valid phone number')
  .transform((value) => toE164(value)!)
  .describe('Any common format (US numbers may omit +1); stored in E.164.');

const providerFields = {
  npi: npiInput.nullable().optional(),
  firstname: clearable(100),
  lastname: clearable(100),
  name: clearable(200).describe('Display name; built from first and last name when absent.'),
  taxonomy: clearable(200).describe('Specialty, as the NPI registry names it.'),
  email: z.email().max(254).toLowerCase().nullable().optional().describe('Where shared referral statuses are mailed.'),
  phone: phoneInput.nullable().optional(),
  fax: phoneInput.nullable().optional(),
  address: clearable(200),
  city: clearable(100),
  state: clearable(100),
  postcode: clearable(20),
};

/** Body of POST /api/providers/referring: a provider named by hand or taken from an NPI search result. */
export const createReferringProviderBody = z
  .object({ ...providerFields, source: z.enum(REFERRING_PROVIDER_SOURCES).optional().describe('Defaults to ui.') })
  .strict()
  .refine((body) => body.name || body.firstname || body.lastname, {
    path: ['name'],
    message: 'name the provider: name, or firstname and lastname',
  });
export type CreateReferringProviderBody = z.infer<typeof createReferringProviderBody>;

/** Body of PUT /api/providers/referring/:id: any subset of the fields; `null` clears an optional one. */
export const updateReferringProviderBody = z
  .object(providerFields)
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'change at least one field');
export type UpdateReferringProviderBody = z.infer<typeof updateReferringProviderBody>;

const flag = z.enum(['0', '1', 'true', 'false']).transform((value) => value === '1' || value === 'true');

/** Query of GET /api/providers/referring. */
export const referringProviderListQuery = listQuery.extend({
  name: words(100).optional().describe('Words of the name, every one somewhere in it, case and accents ignored.'),
  npi: z
    .string()
    .regex(/^\d{10}$/, '10 digits')
    .optional(),
  active: flag.optional().describe('1: active providers only; 0: deactivated ones only.'),
});
export type ReferringProviderListQuery = z.infer<typeof referringProviderListQuery>;

/** Query of GET /api/providers/referring/:id/referrals. */
export const providerReferralsQuery = listQuery.extend({ status: z.enum(referralStatuses).optional() });
export type ProviderReferralsQuery = z.infer<typeof providerReferralsQuery>;

/** A referring provider as the API returns it (the product's provider shape). */
export const referringProviderResponse = z
  .object({
    _id: z.uuid(),
    user: rootAccount,
    organization: z.uuid(),
    type: z.literal('doctor'),
    isReferringProvider: z.boolean(),
    isRenderingProvider: z.boolean(),
    schedulable: z.boolean(),
    name: z.string(),
    normalizedName: z.string(),
    firstname: z.string().nullable(),
    lastname: z.string().nullable(),
    npi: z.number().int().nullable(),
    taxonomy: z.string().nullable(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    fax: z.string().nullable(),
    address: z.string().nullable(),
    city: z.string().nullable(),
    state: z.string().nullable(),
    postcode: z.string().nullable(),
    active: z.number().int().describe('1 active, 0 deactivated.'),
    displayStatus: z.enum(['active', 'suspended']),
    source: z.string(),
    createdBy: z.string().nullable(),
    updatedBy: z.string().nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'ReferringProvider' });

/** Body of POST /api/providers/referring/:id/share. */
export const shareBody = z
  .object({
    referrals: z
      .array(z.uuid())
      .min(1)
      .max(200)
      .optional()
      .describe("The provider's referrals to share; default: its open ones and those changed in the last 30 days."),
    channel: z.enum(['email', 'fax']),
    email: z.email().max(254).optional().describe("Sends to this address instead of the provider's e-mail."),
    fax: phoneInput.optional().describe("Sends to this number instead of the provider's fax."),
  })
  .strict();
export type ShareBody = z.infer<typeof shareBody>;

/** What a share sent. */
export const shareResponse = z.object({
  _id: z.uuid().describe('The record of this share.'),
  channel: z.enum(['email', 'fax']),
  to: z.string().describe('The address (or number) it went to.'),
  referrals: z.array(z.uuid()).describe('The referrals whose status it carried.'),
  sentAt: timestamp,
});
export type ShareResponse = z.infer<typeof shareResponse>;

const registryName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[^*]{2,}\*?$/, 'letters, optionally ending in * (at least two characters before it) to match the start');

/** Query of GET /api/providers/npi/search: the NPPES API's own parameter names. */
export const npiSearchQuery = z.object({
  number: z
    .string()
    .regex(/^\d{10}$/, '10 digits')
    .optional(),
  enumeration_type: z.enum(['NPI-1', 'NPI-2']).optional().describe('NPI-1: people; NPI-2: organizations.'),
  first_name: registryName.optional(),
  last_name: registryName.optional(),
  organization_name: registryName.optional(),
  taxonomy_description: registryName.optional().describe('Specialty, e.g. Cardiology.'),
  city: words(100).optional(),
  state: z
    .string()
    .regex(/^[A-Za-z]{2}$/, 'a two-letter state code such as NY')
    .transform((value) => value.toUpperCase())
    .optional()
    .describe('Needs another criterion with it, as the registry requires.'),
  postal_code: z
    .string()
    .regex(/^\d{5}(\d{4})?$/, 'five or nine digits')
    .optional(),
  limit: z.coerce.number().int().min(1).max(200).default(10),
  skip: z.coerce.number().int().min(0).max(1000).default(0),
});
export type NpiSearchQuery = z.infer<typeof npiSearchQuery>;

/** A registry record in our provider shape. */
export const npiProviderResponse = z.object({
  npi: z.number().int(),
  enumerationType: z.string().describe('NPI-1: a person; NPI-2: an organization.'),
  type: z.literal('doctor'),
  isReferringProvider: z.literal(true),
  firstname: z.string().nullable(),
  lastname: z.string().nullable(),
  name: z.string(),
  taxonomy: z.string().nullable(),
  address: z.string().nullable(),
  city: z.string().nullable(),
  state: z.string().nullable(),
  postcode: z.string().nullable(),
  phone: z.string().nullable(),
  fax: z.string().nullable(),
  referringProvider: z
    .uuid()
    .nullable()
    .describe("The organization's referring provider with this NPI, when it has one; add one with POST /api/providers/referring."),
});

/** Answer of GET /api/providers/npi/search. */
export const npiSearchResponse = z.object({
  response: z.array(npiProviderResponse),
  limit: z.number().int(),
  skip: z.number().int(),
  count: z.number().int().describe('Results in this answer (the registry does not say how many match in all).'),
});
