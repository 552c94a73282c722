import { z } from 'zod';
import { clearableText, nonEmpty, optionalText, recordFields, text } from './schemas.js';

/** Minutes; one day at most. The product sent it as a string, so digits in a string are read too. */
export const durationMinutes = z
  .union([
    z.number(),
    z
      .string()
      .regex(/^\d{1,4}$/, 'whole minutes')
      .transform(Number),
  ])
  .pipe(z.number().int('whole minutes').min(1).max(1440))
  .describe('Minutes, 1 to 1440.');

// The product shows an appointment type's visibility as 1/0; booleans are read too.
const visibleFlag = z
  .union([z.boolean(), z.literal(0), z.literal(1)])
  .transform((value) => value === true || value === 1)
  .describe('1 (or true) when lists and pickers offer the type. Default 1.');

/** Body of POST /api/appointmentTypes. */
export const createAppointmentTypeBody = z
  .object({
    name: text(200),
    duration: durationMinutes,
    alternativeName: optionalText(200).describe('Name used in messages instead of name.'),
    description: optionalText(2000),
    visible: visibleFlag.optional(),
  })
  .strict();
export type CreateAppointmentTypeBody = z.infer<typeof createAppointmentTypeBody>;

/** Body of PUT /api/appointmentTypes/:id: the fields to change; null clears an optional text. */
export const updateAppointmentTypeBody = z
  .object({
    name: text(200).optional(),
    duration: durationMinutes.optional(),
    alternativeName: clearableText(200),
    description: clearableText(2000),
    visible: visibleFlag.optional(),
  })
  .strict()
  .refine(nonEmpty, 'change at least one field');
export type UpdateAppointmentTypeBody = z.infer<typeof updateAppointmentTypeBody>;

/** An appointment type as the API returns it (the product's AppointmentTypeResponse fields). */
export const appointmentTypeResponse = z
  .object({
    ...recordFields,
    name: z.string(),
    alternativeName: z.string().nullable(),
    description: z.string().nullable(),
    duration: z.number().int().describe('Minutes.'),
    visible: z.union([z.literal(0), z.literal(1)]),
  })
  .meta({ id: 'AppointmentType' });
export type AppointmentTypeResponse = z.infer<typeof appointmentTypeResponse>;
