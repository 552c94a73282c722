import { z } from 'zod';
import { listQuery, recordFields, rootAccount } from './schemas.js';

/** A template key: lower-case letters, digits and dashes; `list` names the list route. */
export const templateKey = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes')
  .refine((key) => key !== 'list', 'list is reserved');

/** ISO 639-1 language. */
const language = z.string().regex(/^[a-z]{2}$/, 'ISO 639-1, e.g. en');

/** An organization's message template, or (with `_id` null) the built-in wording it falls back to. */
export const messageTemplateResponse = z
  .object({
    _id: z.uuid().nullable(),
    organization: z.uuid(),
    user: rootAccount,
    key: z.string(),
    language: z.string(),
    description: z.string().nullable(),
    subject: z.string().nullable(),
    text: z.string(),
    builtIn: z.boolean(),
    deleted: recordFields.deleted,
    createdAt: z.string().nullable(),
    updatedAt: z.string().nullable(),
  })
  .meta({ id: 'MessageTemplate' });
export type MessageTemplateResponse = z.infer<typeof messageTemplateResponse>;

const wording = {
  language: language.optional().describe('Default en.'),
  description: z.string().trim().min(1).max(500).optional(),
  subject: z.string().trim().min(1).max(200).optional().describe('E-mail subject line.'),
  text: z
    .string()
    .trim()
    .min(1)
    .max(1600)
    .describe(
      'Variables: {{patient.firstname}}, {{provider.name}}, {{facility.name}}, {{appointment.date}}, {{appointment.time}}, {{help}}.',
    ),
};

/** Body of POST /api/messageTemplates. */
export const createTemplateBody = z.object({ key: templateKey, ...wording }).strict();
export type CreateTemplateBody = z.infer<typeof createTemplateBody>;

/** Body of POST /api/messageTemplates/:key (create or replace). */
export const upsertTemplateBody = z.object(wording).strict();
export type UpsertTemplateBody = z.infer<typeof upsertTemplateBody>;

/** Path of the routes naming a key. */
export const keyParams = z.object({ key: templateKey }).strict();

/** Query of GET /api/messageTemplates/:key. */
export const templateQuery = z.object({ language: language.optional() });

/** Query of GET /api/messageTemplates/:key/resolve. */
export const resolveQuery = z.object({
  patient: z.uuid().optional().describe("Fills patient variables; the patient's language picks the wording unless `language` is given."),
  appointment: z.uuid().optional().describe('Fills provider, facility and appointment variables (in the facility’s time zone).'),
  language: language.optional(),
});

/** A template rendered for a patient. */
export const resolvedResponse = z.object({
  key: z.string(),
  language: z.string(),
  subject: z.string().nullable(),
  text: z.string(),
  builtIn: z.boolean(),
});

/** Query of the template list. */
export const templateListQuery = listQuery.extend({ key: templateKey.optional(), language: language.optional() });

/** A patient message template (a canned reply) as the API shows it. */
export const patientTemplateResponse = z
  .object({ ...recordFields, name: z.string(), text: z.string(), language: z.string() })
  .meta({ id: 'PatientMessageTemplate' });
export type PatientTemplateResponse = z.infer<typeof patientTemplateResponse>;

/** Body of POST /api/patientMessageTemplates. */
export const createPatientTemplateBody = z
  .object({ name: z.string().trim().min(1).max(200), text: z.string().trim().min(1).max(1600), language: language.optional() })
  .strict();

/** Body of PUT /api/patientMessageTemplates/:id. */
export const updatePatientTemplateBody = createPatientTemplateBody
  .partial()
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'change at least one field');

/** Query of the patient message template list. */
export const patientTemplateListQuery = listQuery.extend({ language: language.optional() });
