import { z } from 'zod';

/** Body of POST /api/patients/login: without `code` it mails a code; with it, it logs in. */
export const patientLoginBody = z
  .object({
    organization: z.uuid().describe('The clinic’s organization id (the patient portal or link knows it).'),
    email: z.email().max(254).describe('The e-mail on the patient’s record.'),
    code: z
      .string()
      .regex(/^\d{6}$/, 'six digits')
      .optional()
      .describe('The code mailed by a first call; omit it to have one mailed.'),
    patient: z.uuid().optional().describe('Which patient to log in as, when several records of the organization share the e-mail.'),
  })
  .strict();
export type PatientLoginBody = z.infer<typeof patientLoginBody>;

/** The answer to a code request, the same whether or not the e-mail belongs to a patient. */
export const patientCodeSentResponse = z.object({
  message: z.string(),
  expiresIn: z.number().int().describe('Seconds a mailed code stays valid.'),
});

/** What a patient login answers: an access token for that one patient, no refresh token. */
export const patientSessionResponse = z.object({
  token: z.string().describe('ES256 access token of kind patient, role patient, whose subject is the patient id.'),
  expiresAt: z.string(),
  expiresIn: z.number().int().describe('Seconds until the token expires; request a new code then.'),
  patient: z.uuid(),
  organization: z.uuid(),
});
export type PatientSessionResponse = z.infer<typeof patientSessionResponse>;
