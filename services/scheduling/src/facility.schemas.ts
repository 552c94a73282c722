import { z } from 'zod';
import { clearableText, nonEmpty, optionalText, recordFields, text, timeZone } from './schemas.js';

const optional = {
  alternativeName: optionalText(200).describe('Name used in messages instead of name.'),
  phonetic: optionalText(200).describe('How to pronounce the name in voice calls.'),
  address: optionalText(200),
  city: optionalText(100),
  state: optionalText(100),
  country: optionalText(100),
  postcode: optionalText(20),
  phone: optionalText(32),
  fax: optionalText(32),
  alternativePhone: optionalText(32),
  specialInstructions: optionalText(2000),
  visible: z.boolean().optional().describe('Whether lists and pickers offer the facility. Default true.'),
};

/** Body of POST /api/facilities. The time zone is required: reminders are told and timed in it. */
export const createFacilityBody = z.object({ name: text(200), timeZone, ...optional }).strict();
export type CreateFacilityBody = z.infer<typeof createFacilityBody>;

/** Body of PUT /api/facilities/:id: the fields to change; null clears an optional text. */
export const updateFacilityBody = z
  .object({
    name: text(200).optional(),
    timeZone: timeZone.optional(),
    alternativeName: clearableText(200),
    phonetic: clearableText(200),
    address: clearableText(200),
    city: clearableText(100),
    state: clearableText(100),
    country: clearableText(100),
    postcode: clearableText(20),
    phone: clearableText(32),
    fax: clearableText(32),
    alternativePhone: clearableText(32),
    specialInstructions: clearableText(2000),
    visible: z.boolean().optional(),
  })
  .strict()
  .refine(nonEmpty, 'change at least one field');
export type UpdateFacilityBody = z.infer<typeof updateFacilityBody>;

/** A facility as the API returns it (the product's FacilityResponse fields scheduling owns, and its time zone). */
export const facilityResponse = z
  .object({
    ...recordFields,
    name: z.string(),
    timeZone: z.string(),
    alternativeName: z.string().nullable(),
    phonetic: z.string().nullable(),
    address: z.string().nullable(),
    city: z.string().nullable(),
    state: z.string().nullable(),
    country: z.string().nullable(),
    postcode: z.string().nullable(),
    phone: z.string().nullable(),
    fax: z.string().nullable(),
    alternativePhone: z.string().nullable(),
    specialInstructions: z.string().nullable(),
    visible: z.boolean(),
  })
  .meta({ id: 'Facility' });
export type FacilityResponse = z.infer<typeof facilityResponse>;
