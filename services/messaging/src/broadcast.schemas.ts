import { timestamp } from '@pep/service-kit';
import { z } from 'zod';
import { instant, listQuery, recordFields } from './schemas.js';

/** Where a broadcast is in its life (the product's processingStatus). */
export const broadcastProcessingStatuses = [
  'pre-processing',
  'processing-upload',
  'rows-processed',
  'sending-messages',
  'success',
  'failure',
] as const;
export type BroadcastProcessingStatusName = (typeof broadcastProcessingStatuses)[number];

/** The channels a broadcast may go out on. */
export const broadcastChannels = ['sms', 'email'] as const;

/** The template variables a broadcast's message may use; any other answers 400 naming `body.message`. */
export const BROADCAST_VARIABLES = [
  'patient.firstname',
  'patient.lastname',
  'facility.name',
  'facility.phone',
  'provider.name',
  'appointment.date',
  'appointment.time',
  'organization.name',
  'booking.link',
] as const;

const tag = z.string().trim().min(1).max(40);
const tags = z.array(tag).min(1).max(20);

/**
 * Who a `scheduled` broadcast reaches: the organization's patients known to messaging, narrowed by their language, their
 * tags (any of those given) and by an appointment (not cancelled) at the facility, with the provider, of the type,
 * within the dates given.
 */
export const broadcastAudience = z
  .object({
    facility: z.uuid().optional().describe('Patients with an appointment at this facility.'),
    provider: z.uuid().optional().describe('Patients with an appointment with this provider.'),
    appointmentType: z.uuid().optional().describe('Patients with an appointment of this type.'),
    appointmentFrom: instant.optional().describe('Patients with an appointment at or after this instant.'),
    appointmentTo: instant.optional().describe('Patients with an appointment before this instant.'),
    language: z
      .string()
      .regex(/^[a-z]{2}$/, 'an ISO 639-1 code, e.g. en')
      .optional()
      .describe('Patients who read this language (ISO 639-1).'),
    tags: tags.optional().describe('Patients with any of these tags (patients’ `tags`; at most 20, each 1–40 characters).'),
  })
  .strict()
  .refine((audience) => !audience.appointmentFrom || !audience.appointmentTo || audience.appointmentFrom < audience.appointmentTo, {
    path: ['appointmentTo'],
    message: 'must be after appointmentFrom',
  });
export type BroadcastAudience = z.infer<typeof broadcastAudience>;

/** Query of GET /api/broadcasts/patients: the audience and a page of it. */
export const audiencePreviewQuery = listQuery.extend({
  facility: z.uuid().optional(),
  provider: z.uuid().optional(),
  appointmentType: z.uuid().optional(),
  appointmentFrom: instant.optional(),
  appointmentTo: instant.optional(),
  language: z
    .string()
    .regex(/^[a-z]{2}$/, 'an ISO 639-1 code, e.g. en')
    .optional(),
  tags: z
    .union([z.string(), z.array(z.string())])
    .transform((value) => (Array.isArray(value) ? value : value.split(',')))
    .pipe(tags)
    .optional()
    .describe('Patients with any of these tags: comma-separated, or the parameter repeated.'),
});
export type AudiencePreviewQuery = z.infer<typeof audiencePreviewQuery>;

/** One patient of an audience preview. */
export const audiencePatient = z.object({
  _id: z.uuid(),
  firstname: z.string(),
  lastname: z.string(),
  language: z.string(),
  reachable: z.boolean().describe('False when the patient must not be contacted or opted out: the broadcast skips them.'),
});

/** The review of a broadcast: whether it needs a second user's approval, and who gave it when. */
export const broadcastReview = z.object({
  required: z.boolean(),
  status: z.enum(['not-required', 'pending', 'approved']),
  approver: z.string().nullable(),
  approvedAt: timestamp.nullable(),
});

/** Counts of a broadcast's recipients, live: `total` = queued + sent + failed + skipped + cancelled. */
export const broadcastStats = z.object({
  total: z.number().int(),
  queued: z.number().int().describe('Not yet sent: waiting for the rate, quiet hours or the sender.'),
  sent: z.number().int().describe('Handed to the vendor (delivered ones included).'),
  delivered: z.number().int().describe('Of those sent, the ones the vendor reported delivered.'),
  failed: z.number().int().describe('Refused by the vendor or reported undelivered.'),
  skipped: z.number().int().describe('Not sent: the patient must not be contacted, opted out, has no address or is gone.'),
  cancelled: z.number().int().describe('Not sent because the broadcast was cancelled.'),
  replied: z.number().int().describe('Patients who texted back after it reached them.'),
  optedOut: z.number().int().describe('Patients who opted out (STOP) after it reached them.'),
});
export type BroadcastStats = z.infer<typeof broadcastStats>;

/** A broadcast as the API shows it. */
export const broadcastResponse = z
  .object({
    ...recordFields,
    title: z.string(),
    type: z.enum(['scheduled', 'uploaded']),
    message: z.string(),
    channels: z.array(z.enum(broadcastChannels)),
    audience: broadcastAudience.nullable(),
    patients: z.array(z.uuid()).describe('The uploaded list; empty for a `scheduled` broadcast.'),
    sendAt: timestamp,
    sentAt: timestamp.nullable(),
    configuration: z.object({ throttle: z.boolean() }),
    review: broadcastReview,
    processingStatus: z.enum(broadcastProcessingStatuses),
    cancelledAt: timestamp.nullable(),
    rowCount: z.number().int(),
    stats: broadcastStats,
  })
  .meta({ id: 'Broadcast' });
export type BroadcastResponse = z.infer<typeof broadcastResponse>;

const title = z.string().trim().min(1).max(200);
const message = z.string().trim().min(1).max(1600);
const channels = z.array(z.enum(broadcastChannels)).min(1).max(2);
const configuration = z
  .object({ throttle: z.boolean().optional().describe("False sends without the organization's hourly rate. Default true.") })
  .strict();

/** An uploaded list: patient ids, or rows naming a patient each. */
const uploaded = {
  patients: z.array(z.uuid()).min(1).max(50_000).optional().describe('The uploaded list of patient ids.'),
  recipients: z
    .array(z.object({ patient: z.uuid() }).strict())
    .min(1)
    .max(50_000)
    .optional()
    .describe('The uploaded list as rows, each naming a patient.'),
};

/** Body of POST /api/broadcasts. */
export const createBroadcastBody = z
  .object({
    title,
    type: z.enum(['scheduled', 'uploaded']).describe('`scheduled`: to the audience filter; `uploaded`: to the list given.'),
    message: message.describe('The text, with template variables such as {{patient.firstname}} or {{facility.phone}}.'),
    channels: channels.optional().describe('In order of preference; each patient gets the first they have an address for. Default [sms].'),
    audience: broadcastAudience.optional(),
    ...uploaded,
    sendAt: instant.describe('When it starts; a time already past starts it at once.'),
    configuration: configuration.optional(),
  })
  .strict()
  .superRefine((body, context) => {
    const list = body.patients ?? body.recipients;
    if (body.type === 'uploaded' && !list)
      context.addIssue({ code: 'custom', path: ['patients'], message: 'required for an uploaded broadcast (or recipients)' });
    if (body.type === 'scheduled' && list)
      context.addIssue({ code: 'custom', path: [body.patients ? 'patients' : 'recipients'], message: 'only for type uploaded' });
    if (body.patients && body.recipients)
      context.addIssue({ code: 'custom', path: ['recipients'], message: 'give patients or recipients, not both' });
    if (body.type === 'uploaded' && body.audience)
      context.addIssue({ code: 'custom', path: ['audience'], message: 'only for type scheduled' });
  });
export type CreateBroadcastBody = z.infer<typeof createBroadcastBody>;

/** Body of PUT /api/broadcasts/:id: changes to one that has not started, or its approval. */
export const updateBroadcastBody = z
  .object({
    title: title.optional(),
    message: message.optional(),
    channels: channels.optional(),
    audience: broadcastAudience.optional(),
    sendAt: instant.optional(),
    configuration: configuration.optional(),
    review: z
      .object({ status: z.literal('approved') })
      .strict()
      .optional()
      .describe('Approves it; only another user than its creator may.'),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'change at least one field');
export type UpdateBroadcastBody = z.infer<typeof updateBroadcastBody>;

/** Body of POST /api/broadcasts/bulk/action: one action on many broadcasts, all or none. */
export const bulkActionBody = z
  .object({
    action: z
      .enum(['approve', 'cancel', 'delete', 'send'])
      .describe('`send` starts them now; one needing an approval it has not got answers 409 and nothing changes.'),
    ids: z.array(z.uuid()).min(1).max(100),
  })
  .strict();
export type BulkActionBody = z.infer<typeof bulkActionBody>;

/** Answer of the bulk action: the broadcasts as they are now. */
export const bulkActionResponse = z.object({ response: z.array(broadcastResponse) });

/** Query of the broadcast list. */
export const broadcastListQuery = listQuery.extend({
  processingStatus: z.enum(broadcastProcessingStatuses).optional(),
  type: z.enum(['scheduled', 'uploaded']).optional(),
});
export type BroadcastListQuery = z.infer<typeof broadcastListQuery>;

/** Query of GET /api/broadcasts/count. */
export const broadcastCountQuery = broadcastListQuery.omit({ page: true, limit: true });

/** Answer of GET /api/broadcasts/count. */
export const countResponse = z.object({ count: z.number().int() });
