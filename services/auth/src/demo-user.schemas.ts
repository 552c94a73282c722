import { demoMessageChannels } from '@pep/contracts';
import { z } from 'zod';
import { userResponse } from './user.schemas.js';

const personName = z.string().trim().min(1).max(100);
// Salesforce record ids are 15 (case-sensitive) or 18 (case-insensitive) letters and digits; other CRMs fit too.
const salesforceId = z.string().regex(/^[A-Za-z0-9]{6,40}$/, '6 to 40 letters and digits');

/** Body of POST /api/demoUsers. */
export const createDemoUserBody = z
  .object({
    email: z.email().max(254),
    firstname: personName,
    lastname: personName,
    salesforceId: salesforceId.describe('The prospect’s CRM id; the demo user is found by it later.'),
    organizationName: z.string().trim().min(1).max(200).optional().describe('Default: "<firstname> <lastname> (demo)".'),
    demoConfiguration: z.record(z.string(), z.unknown()).optional().describe('What sales configured for the trial, kept as given.'),
  })
  .strict();
export type CreateDemoUserBody = z.infer<typeof createDemoUserBody>;

/** Path of POST /api/demoUsers/:salesforceId/messages/:messageTemplate. */
export const demoMessageParams = z
  .object({
    salesforceId,
    messageTemplate: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/i, 'a message template key such as reminder'),
  })
  .strict();

/** Body of POST /api/demoUsers/:salesforceId/messages/:messageTemplate; may be omitted (an e-mail to the demo user). */
export const demoMessageBody = z
  .object({
    channel: z.enum(demoMessageChannels).default('email'),
    phone: z
      .string()
      .regex(/^\+[1-9]\d{6,14}$/, 'an E.164 number such as +15551234567')
      .optional()
      .describe('Required for sms: the prospect’s mobile number.'),
  })
  .strict()
  .refine((body) => body.channel !== 'sms' || body.phone !== undefined, { message: 'required for sms', path: ['phone'] })
  .nullable();
export type DemoMessageBody = NonNullable<z.infer<typeof demoMessageBody>>;

/** A demo user: the user in the demo organization, with what sales gave. */
export const demoUserResponse = userResponse.extend({
  salesforceId: z.string(),
  demoConfiguration: z.record(z.string(), z.unknown()).nullable(),
});
export type DemoUserResponse = z.infer<typeof demoUserResponse>;

/** The request to send a sample message, as recorded. */
export const demoMessageResponse = z.object({
  _id: z.uuid().describe('Id of the demo-user.message-requested event that carries the request to messaging.'),
  user: z.uuid(),
  organization: z.uuid(),
  salesforceId: z.string(),
  messageTemplate: z.string(),
  channel: z.enum(demoMessageChannels),
  status: z.literal('requested').describe('Messaging sends it; its message.sent or message.failed events tell the outcome.'),
  requestedAt: z.string(),
});
