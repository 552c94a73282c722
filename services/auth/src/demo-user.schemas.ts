import { demoMessageChannels, demoSamples } from '@pep/contracts';
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
    demoConfiguration: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        'What sales configured for the trial, kept as given. Sizes the demo practice seeded for it: `providers` (default 2, at most 20), ' +
          '`facilities` (1, at most 10), `patients` (10 with the demo patient, at most 100), `waitlists` (3, at most 50), `appointments` ' +
          '(upcoming, default one per patient up to 10), and `phone`, the salesperson’s mobile: the demo patient’s phone, the only ' +
          'number sample messages go to. Other keys are kept but not used.',
      ),
  })
  .strict();
export type CreateDemoUserBody = z.infer<typeof createDemoUserBody>;

/** Path of POST /api/demoUsers/:salesforceId/messages/:messageTemplate. */
export const demoMessageParams = z
  .object({
    salesforceId,
    messageTemplate: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,63}$/i, 'a sample name such as patientReminder')
      .describe(`The sample: ${demoSamples.join(', ')}. Another name answers 404.`),
  })
  .strict();

/** Query of the sample-message path: `type` picks a variant (insurance or intake for patientReminderConfirmationThanks). */
export const demoMessageQuery = z
  .object({
    type: z
      .enum(['insurance', 'intake'])
      .optional()
      .describe('For patientReminderConfirmationThanks: the thanks asks for insurance or intake forms.'),
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
      .describe('Accepted for older clients and ignored: samples go only to the demo patient, whose phone is demoConfiguration.phone.'),
  })
  .strict()
  .nullable();
export type DemoMessageBody = NonNullable<z.infer<typeof demoMessageBody>>;

/** What was seeded for a demo user: the ids of each kind of record, the demo patient first among patients. */
export const demoPracticeResponse = z.object({
  facilities: z.array(z.uuid()),
  providers: z.array(z.uuid()),
  appointmentTypes: z.array(z.uuid()),
  patients: z.array(z.uuid()),
  demoPatient: z.uuid().nullable().describe('The patient sample messages go to; their phone is demoConfiguration.phone.'),
  waitlists: z.array(z.uuid()),
  appointments: z.array(z.uuid()).describe('Upcoming appointments, from tomorrow.'),
  completedAt: z.string().nullable(),
});

/** A demo user: the user in the demo organization, with what sales gave. */
export const demoUserResponse = userResponse.extend({
  salesforceId: z.string(),
  demoConfiguration: z.record(z.string(), z.unknown()).nullable(),
  demoPractice: demoPracticeResponse.nullable().describe('Null when the service seeds no practices (no GATEWAY_URL configured).'),
  sampleLinks: z
    .record(z.string(), z.string())
    .optional()
    .describe('Per sample, a signed link (valid 30 days) a salesperson opens in a browser to send it to the demo patient.'),
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
  patient: z.uuid().describe('The demo patient, the only one samples go to.'),
  type: z.string().nullable().describe('The variant asked for with ?type=, if any.'),
  status: z.literal('requested').describe('Messaging sends it; its message.sent or message.failed events tell the outcome.'),
  requestedAt: z.string(),
});
