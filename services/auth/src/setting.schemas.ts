import { settingProperties, settingRefs } from '@pep/contracts';
import { rootAccount, timestamp } from '@pep/service-kit';
import { z } from 'zod';
import { listQuery } from './user.schemas.js';

// Settings are read on every reminder and offer; the bound keeps one record from bloating every read model.
const MAX_SETTINGS_BYTES = 8192;
const MAX_SETTINGS_KEYS = 100;

/** A message key, e.g. `appointment.reminder`. */
export const messageKey = z.string().regex(/^[A-Za-z0-9][\w.:-]{0,99}$/, 'letters, digits and . _ : - (at most 100)');

/** The `settings` object of a setting record: the documented keys validated, any other key kept, size bounded. */
export const settingsObject = settingProperties.superRefine((value, context) => {
  if (Object.keys(value).length > MAX_SETTINGS_KEYS) context.addIssue({ code: 'custom', message: `at most ${MAX_SETTINGS_KEYS} keys` });
  if (Buffer.byteLength(JSON.stringify(value)) > MAX_SETTINGS_BYTES)
    context.addIssue({ code: 'custom', message: `at most ${MAX_SETTINGS_BYTES} bytes as JSON` });
});

/** Body of POST /api/settings. */
export const createSettingBody = z
  .object({
    ref: z.enum(settingRefs).describe('What the setting configures.'),
    refId: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .optional()
      .describe(
        'Id of what it configures: a user of the organization, a provider, facility, appointment type or integrator client. Defaults to the organization id for ref organization; required otherwise.',
      ),
    settings: settingsObject.default({}),
    unsubscribed: z.array(messageKey).max(200).default([]).describe('Message keys the subject does not want.'),
  })
  .strict();
export type CreateSettingBody = z.infer<typeof createSettingBody>;

/** Body of PUT /api/settings/:id: the new state of what is given; `settings` replaces the stored object whole. */
export const updateSettingBody = z
  .object({
    settings: settingsObject.optional(),
    unsubscribed: z.array(messageKey).max(200).optional(),
    unsubscribedAll: z.boolean().optional(),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'change at least one field');
export type UpdateSettingBody = z.infer<typeof updateSettingBody>;

/** Query of GET /api/settings. */
export const settingListQuery = listQuery.extend({
  ref: z.enum(settingRefs).optional(),
  refId: z.string().min(1).max(100).optional(),
});
export type SettingListQuery = z.infer<typeof settingListQuery>;

/** A setting record as the API returns it (the product's SettingResponse fields). */
export const settingResponse = z
  .object({
    _id: z.uuid(),
    organization: z.uuid(),
    user: rootAccount,
    ref: z.enum(settingRefs),
    refId: z.string(),
    settings: z.record(z.string(), z.unknown()),
    unsubscribed: z.array(z.string()),
    unsubscribedAll: z.boolean(),
    createdBy: z.string(),
    updatedBy: z.string(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Setting' });
export type SettingResponse = z.infer<typeof settingResponse>;

export const messageKeyParams = z.object({ id: z.uuid(), messageKey }).strict();
