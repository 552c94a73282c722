import { z } from 'zod';
import { clearableText, nonEmpty, optionalText, recordFields, text } from './schemas.js';

/** Where a provider record came from (the product's values). */
export const providerSources = ['upload', 'patient-referral-form', 'ui', 'integrator'] as const;

// Accepted as a number (the product's type) or a string, since ten digits lose nothing either way.
const npi = z
  .union([z.number().int(), z.string()])
  .transform(String)
  .pipe(z.string().regex(/^[1-9]\d{9}$/, 'a National Provider Identifier: ten digits'))
  .describe('National Provider Identifier, ten digits.');

const optional = {
  middlename: optionalText(100),
  alternativeName: optionalText(200).describe('Name used in messages instead of firstname lastname.'),
  phonetic: optionalText(200).describe('How to pronounce the name in voice calls.'),
  displayPhone: optionalText(32),
  npi: npi.optional(),
  deptCode: optionalText(50),
  specialInstructions: optionalText(2000),
  schedulable: z.boolean().optional().describe('Whether patients may be booked with the provider. Default true.'),
  isReferringProvider: z.boolean().optional().describe('Default false.'),
  isRenderingProvider: z.boolean().optional().describe('Default true.'),
  visible: z.boolean().optional().describe('Whether lists and pickers offer the provider. Default true.'),
};

/** Body of POST /api/providers. Unknown fields are refused so a typo never silently loses data. */
export const createProviderBody = z
  .object({ firstname: text(100), lastname: text(100), ...optional, source: z.enum(providerSources).optional().describe('Default ui.') })
  .strict();
export type CreateProviderBody = z.infer<typeof createProviderBody>;

/** Body of PUT /api/providers/:id: the fields to change; null clears an optional text. */
export const updateProviderBody = z
  .object({
    firstname: text(100).optional(),
    lastname: text(100).optional(),
    middlename: clearableText(100),
    alternativeName: clearableText(200),
    phonetic: clearableText(200),
    displayPhone: clearableText(32),
    npi: npi.nullable().optional(),
    deptCode: clearableText(50),
    specialInstructions: clearableText(2000),
    schedulable: z.boolean().optional(),
    isReferringProvider: z.boolean().optional(),
    isRenderingProvider: z.boolean().optional(),
    visible: z.boolean().optional(),
  })
  .strict()
  .refine(nonEmpty, 'change at least one field');
export type UpdateProviderBody = z.infer<typeof updateProviderBody>;

/** A provider as the API returns it (the product's ProviderResponse fields scheduling owns). */
export const providerResponse = z
  .object({
    ...recordFields,
    firstname: z.string(),
    lastname: z.string(),
    middlename: z.string().nullable(),
    name: z.string(),
    normalizedName: z.string().describe('Lower-case name without accents, for matching.'),
    alternativeName: z.string().nullable(),
    phonetic: z.string().nullable(),
    displayPhone: z.string().nullable(),
    npi: z.number().int().nullable(),
    deptCode: z.string().nullable(),
    specialInstructions: z.string().nullable(),
    schedulable: z.boolean(),
    isReferringProvider: z.boolean(),
    isRenderingProvider: z.boolean(),
    visible: z.boolean(),
    source: z.enum(providerSources),
  })
  .meta({ id: 'Provider' });
export type ProviderResponse = z.infer<typeof providerResponse>;
