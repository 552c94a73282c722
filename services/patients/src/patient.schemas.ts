import { z } from 'zod';

/** Body of POST /api/patients. Unknown fields are refused so a typo never silently loses data. */
export const createPatientBody = z
  .object({
    firstname: z.string().trim().min(1).max(100),
    lastname: z.string().trim().min(1).max(100),
    email: z.email().max(254).optional(),
    phone: z.string().min(3).max(32).optional().describe('Any common format; stored in E.164.'),
    dateOfBirth: z.iso.date().optional().describe('YYYY-MM-DD'),
  })
  .strict();
export type CreatePatientBody = z.infer<typeof createPatientBody>;

/** A patient as the API returns it. */
export const patientResponse = z.object({
  _id: z.uuid(),
  organization: z.string(),
  firstname: z.string(),
  lastname: z.string(),
  name: z.string(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  dateOfBirth: z.string().nullable(),
  doNotContact: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type PatientResponse = z.infer<typeof patientResponse>;

/** One entry of a patient's journey (timeline assembled from events). */
export const journeyEntryResponse = z.object({
  _id: z.uuid(),
  type: z.string(),
  occurredAt: z.string(),
  summary: z.record(z.string(), z.unknown()),
});

export const idParams = z.object({ id: z.uuid() }).strict();
