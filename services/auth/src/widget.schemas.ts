import { rootAccount, timestamp } from '@pep/service-kit';
import { z } from 'zod';

const name = z.string().trim().min(1).max(200);
// Origins as browsers send them: scheme, host and port only.
const origin = z
  .string()
  .max(255)
  .regex(/^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/i, 'an origin such as https://clinic.example');
const origins = z.array(origin).max(20);

/** Body of POST /api/widgets. */
export const createWidgetBody = z
  .object({
    name,
    allowedOrigins: origins.default([]).describe('Web origins the widget may log in from (the Origin header); empty allows any.'),
    active: z.boolean().default(true),
  })
  .strict();
export type CreateWidgetBody = z.infer<typeof createWidgetBody>;

/** Body of PUT /api/widgets/:id. */
export const updateWidgetBody = z
  .object({
    name: name.optional(),
    allowedOrigins: origins.optional(),
    active: z.boolean().optional().describe('An inactive widget cannot log in.'),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'change at least one field');
export type UpdateWidgetBody = z.infer<typeof updateWidgetBody>;

/** Body of POST /api/widgets/login. */
export const widgetLoginBody = z.object({ key: z.string().min(1).max(100).describe('The widget key from the embed snippet.') }).strict();

/** A widget as its organization's admins see it. */
export const widgetResponse = z
  .object({
    _id: z.uuid(),
    organization: z.uuid(),
    user: rootAccount,
    name: z.string(),
    key: z.string().describe('Public: it goes into the embed snippet on the clinic’s web page.'),
    allowedOrigins: z.array(z.string()),
    active: z.boolean(),
    lastLogin: timestamp.nullable(),
    createdBy: z.string(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Widget' });
export type WidgetResponse = z.infer<typeof widgetResponse>;

/** What a widget login answers. */
export const widgetTokenResponse = z.object({
  token: z.string().describe('ES256 access token of kind widget, role widget; send as `Authorization: Bearer <token>`.'),
  expiresIn: z.number().int().describe('Seconds until the token expires; log in again then.'),
});

/** The profile a widget's token speaks for (GET /api/widgets/user). */
export const widgetUserResponse = z.object({
  _id: z.uuid().describe('Widget id, the subject of its tokens.'),
  name: z.string(),
  type: z.literal('widget'),
  roles: z.array(z.string()),
  organization: z.object({ _id: z.uuid(), name: z.string(), active: z.boolean() }),
});
export type WidgetUserResponse = z.infer<typeof widgetUserResponse>;
