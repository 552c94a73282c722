import { idParams, listOf, listQuery, rootAccount, type ListQuery, e164Phone, emailAddress, timestamp } from '@pep/service-kit';
import { z } from 'zod';
import { CONTACT_TYPES, toE164 } from './contact.js';

/** Where a patient record came from, as the product names it. */
export const PATIENT_SOURCES = ['widget', 'integrator', 'ui', 'referring-provider', 'hub'] as const;
/** The product's genders. */
export const GENDERS = ['male', 'female', 'unknown', 'nonbinary'] as const;

const personName = z.string().trim().min(1).max(100);
const optionalText = (max: number) => z.string().trim().min(1).max(max).nullable();
const phoneNumber = z
  .string()
  .min(3)
  .max(32)
  .refine((value) => toE164(value) !== null, 'not a valid phone number')
  .describe('Any common format (US numbers may omit +1); stored in E.164.');
const email = z.email().max(254).describe('Stored in lower case.');
const language = z
  .string()
  .regex(/^[a-z]{2}$/, 'an ISO 639-1 code such as en, es or pt')
  .describe('ISO 639-1 language messages are sent in.');

/** One contact detail as a client sends it; phones are validated and stored in E.164. */
export const contactInput = z.discriminatedUnion('type', [
  z.object({ type: z.literal('email'), value: email }).strict(),
  z.object({ type: z.enum(['mobile', 'home', 'work']), value: phoneNumber }).strict(),
]);

const contactList = z
  .array(contactInput)
  .max(20)
  .describe('Every way to reach the patient. `phone` and `email` are the first phone (mobiles first) and first e-mail of this list.');

/** Fields a client may set on a patient; shared by create and update. */
const patientFields = {
  firstname: personName,
  lastname: personName,
  middlename: optionalText(100),
  email: email.nullable(),
  phone: phoneNumber.nullable(),
  contact: contactList,
  dateOfBirth: z.iso.date().nullable().describe('YYYY-MM-DD'),
  gender: z.enum(GENDERS).nullable(),
  language,
  address: optionalText(200),
  city: optionalText(100),
  state: optionalText(100),
  country: optionalText(100),
  postcode: optionalText(20),
  externalId: optionalText(200).describe("The patient's id in the clinic's EHR."),
  doNotContact: z
    .boolean()
    .describe('Nothing is sent to the patient while true; changing it publishes patient.contact-preferences-changed.'),
  doNotContactMessage: optionalText(500).describe('Why the patient must not be contacted.'),
  tags: z
    .array(z.string().trim().min(1).max(40))
    .max(20)
    .transform((tags) => [...new Set(tags)])
    .describe('Short labels staff give the patient (at most 20, each 1–40 characters; repeats kept once); broadcasts can target them.'),
};

/** Body of POST /api/patients. Unknown fields are refused so a typo never silently loses data. */
export const createPatientBody = z
  .object({
    firstname: patientFields.firstname,
    lastname: patientFields.lastname,
    middlename: patientFields.middlename.optional(),
    email: patientFields.email.optional(),
    phone: patientFields.phone.optional(),
    contact: patientFields.contact.optional(),
    dateOfBirth: patientFields.dateOfBirth.optional(),
    gender: patientFields.gender.optional(),
    language: patientFields.language.optional().describe('Defaults to en.'),
    address: patientFields.address.optional(),
    city: patientFields.city.optional(),
    state: patientFields.state.optional(),
    country: patientFields.country.optional(),
    postcode: patientFields.postcode.optional(),
    externalId: patientFields.externalId.optional(),
    doNotContact: patientFields.doNotContact.optional(),
    doNotContactMessage: patientFields.doNotContactMessage.optional(),
    tags: patientFields.tags.optional(),
    source: z.enum(PATIENT_SOURCES).optional().describe('Defaults to ui.'),
  })
  .strict();
export type CreatePatientBody = z.infer<typeof createPatientBody>;

/** Body of PUT /api/patients/:id: any subset of the fields; `null` clears an optional one. */
export const updatePatientBody = z
  .object({
    firstname: patientFields.firstname.optional(),
    lastname: patientFields.lastname.optional(),
    middlename: patientFields.middlename.optional(),
    email: patientFields.email.optional(),
    phone: patientFields.phone.optional(),
    contact: patientFields.contact.optional(),
    dateOfBirth: patientFields.dateOfBirth.optional(),
    gender: patientFields.gender.optional(),
    language: patientFields.language.optional(),
    address: patientFields.address.optional(),
    city: patientFields.city.optional(),
    state: patientFields.state.optional(),
    country: patientFields.country.optional(),
    postcode: patientFields.postcode.optional(),
    externalId: patientFields.externalId.optional(),
    doNotContact: patientFields.doNotContact.optional(),
    doNotContactMessage: patientFields.doNotContactMessage.optional(),
    tags: patientFields.tags.optional().describe('Replaces the patient’s tags; [] removes them all.'),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'change at least one field');
export type UpdatePatientBody = z.infer<typeof updatePatientBody>;

const contactResponse = z.object({
  type: z.enum(CONTACT_TYPES),
  value: z.string(),
  verifiedAt: z.string().nullable(),
  verifiedBy: z.string().nullable().describe('User who confirmed the detail belongs to the patient.'),
});

/** A patient as the API returns it (the product's PatientResponse fields this service keeps). */
export const patientResponse = z
  .object({
    _id: z.uuid(),
    organization: z.string(),
    user: rootAccount,
    firstname: z.string(),
    lastname: z.string(),
    middlename: z.string().nullable(),
    name: z.string(),
    normalizedName: z.string(),
    email: emailAddress.nullable(),
    phone: e164Phone.nullable(),
    displayPhone: z.string().nullable().describe('The phone as staff read it (national format for domestic numbers).'),
    contact: z.array(contactResponse),
    doNotContact: z.boolean(),
    doNotContactMessage: z.string().nullable(),
    language: z.string(),
    dateOfBirth: z.string().nullable(),
    gender: z.enum(GENDERS).nullable(),
    address: z.string().nullable(),
    city: z.string().nullable(),
    state: z.string().nullable(),
    country: z.string().nullable(),
    postcode: z.string().nullable(),
    externalId: z.string().nullable(),
    tags: z.array(z.string()).describe('Short labels staff gave the patient.'),
    source: z.string(),
    mergedInto: z.string().nullable().describe('Set once this record was merged into another; follow it.'),
    mergedAt: timestamp.nullable(),
    subscribers: z.array(z.string()).describe('Users following the patient.'),
    possibleDuplicateOf: z
      .array(z.string())
      .describe(
        'Earlier patients of the organization with the same phone and the same name (ignoring case and accents) when this one was last written.',
      ),
    verifiedAt: timestamp.nullable().describe('When staff last confirmed the record (POST /api/patients/:id/verify).'),
    verifiedBy: z.string().nullable(),
    createdBy: z.string().nullable(),
    updatedBy: z.string().nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Patient' });
export type PatientResponse = z.infer<typeof patientResponse>;

/** A patient in the compact form of crudList. */
export const patientSummary = z.object({
  _id: z.uuid(),
  name: z.string(),
  firstname: z.string(),
  lastname: z.string(),
  dateOfBirth: z.string().nullable(),
  displayPhone: z.string().nullable(),
  updatedAt: z.string(),
});
export type PatientSummary = z.infer<typeof patientSummary>;

/** One entry of a patient's journey (timeline assembled from events). */
export const journeyEntryResponse = z
  .object({
    _id: z.uuid(),
    type: z.string(),
    occurredAt: timestamp,
    summary: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'JourneyEntry' });

export { idParams, listOf, listQuery, type ListQuery };

const flag = z.enum(['true', 'false']);

/** Filters of GET /api/patients and /api/patients/crudList. */
export const patientListQuery = listQuery.extend({
  name: z.string().trim().min(1).max(200).optional().describe('Every word must appear in first or last name (case and accents ignored).'),
  phone: phoneNumber.optional().describe('Any of the patient’s phone numbers.'),
  email: z.string().trim().min(1).max(254).optional().describe('Exact, case-insensitive.'),
  dateOfBirth: z.iso.date().optional(),
  externalId: z.string().min(1).max(200).optional(),
  doNotContact: flag.optional(),
  possibleDuplicate: flag.optional().describe('true: only patients flagged as possible duplicates.'),
  source: z.enum(PATIENT_SOURCES).optional(),
  tag: z.string().trim().min(1).max(40).optional().describe('Only patients with this tag (exact).'),
  sort: z.enum(['name', 'createdAt', '-createdAt', '-updatedAt']).default('name'),
});
export type PatientListQuery = z.infer<typeof patientListQuery>;

/** Query of GET /api/patients/search. */
export const searchQuery = listQuery.extend({
  type: z.enum(['name', 'phone', 'email', 'dateOfBirth']),
  value: z.string().trim().min(1).max(200),
  scope: z.literal('patient').default('patient').describe('Only patients are searched here.'),
});
export type SearchQuery = z.infer<typeof searchQuery>;

/** Query of GET /api/patients/recent: at most the 20 kept. */
export const recentQuery = z.object({
  page: z.coerce.number().int().min(1).max(20).default(1),
  limit: z.coerce.number().int().min(1).max(20).default(20),
});

/** Body of POST /api/patients/recent. */
export const recentBody = z.object({ patient: z.uuid() }).strict();

/** Body of POST /api/patients/merge. */
export const mergeBody = z
  .object({
    survivor: z.uuid().describe('The record that remains and receives the other’s details, journey and followers.'),
    merged: z.uuid().describe('The record merged away: it gets `mergedInto` and leaves lists and search.'),
  })
  .strict();
export type MergeBody = z.infer<typeof mergeBody>;

/** Body of POST /api/patients/:id/verify: without one the record as a whole is confirmed. */
export const verifyBody = z
  .object({
    contact: z
      .object({ type: z.enum(CONTACT_TYPES), value: z.string().min(1).max(254) })
      .strict()
      .optional()
      .describe('A contact detail of the patient confirmed as theirs (a phone in any format).'),
  })
  .strict()
  // A POST without a body reaches validation as null.
  .nullish();
export type VerifyBody = z.infer<typeof verifyBody>;

/** Answer of GET /api/patients/:id/doNotContact. */
export const doNotContactResponse = z.object({ doNotContact: z.boolean(), doNotContactMessage: z.string().nullable() });
