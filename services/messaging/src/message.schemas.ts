import { messageChannels, replyClassifications } from '@pep/contracts';
import { timestamp } from '@pep/service-kit';
import { z } from 'zod';
import { dateFilter, listQuery, recordFields } from './schemas.js';

/** The states of a message (the product's). */
export const messageStatuses = ['sent', 'pending', 'delivered', 'undelivered', 'opened', 'skipped'] as const;

/** A message as the API shows it. */
export const messageResponse = z
  .object({
    ...recordFields,
    patient: z.uuid(),
    type: z.enum(['inbound', 'outbound']),
    direction: z.enum(['inbound', 'outbound']).describe('Same as type, under the name v1 clients read.'),
    channel: z.enum(messageChannels),
    status: z.enum(messageStatuses),
    skippedStatusReason: z.string().nullable(),
    key: z.string().nullable(),
    from: z.string().nullable().describe("Outbound: the clinic's sending number (or mail sender); inbound: the patient's."),
    to: z.string().nullable().describe("Outbound: the patient's number or address; inbound: the clinic's number."),
    subject: z.string().nullable(),
    text: z.string(),
    language: z.string(),
    externalId: z
      .object({
        value: z
          .string()
          .describe('The id the vendor gave the message (Twilio SID, mail Message-ID); a generated SM…/CA… id in the development sink.'),
      })
      .nullable(),
    externalStatus: z.record(z.string(), z.unknown()).nullable(),
    classification: z.enum(replyClassifications).nullable(),
    automated: z.boolean(),
    appointment: z.uuid().nullable(),
    reminder: z.uuid().nullable(),
    offer: z.uuid().nullable(),
    terminatingStateAt: timestamp.nullable(),
  })
  .meta({ id: 'Message' });
export type MessageResponse = z.infer<typeof messageResponse>;

/** Body of POST /api/messages: staff write to a patient. */
export const sendMessageBody = z
  .object({
    patient: z.uuid().describe('Patient id (patients service).'),
    channel: z.enum(messageChannels).optional().describe('Default sms.'),
    text: z.string().trim().min(1).max(1600),
    subject: z.string().trim().min(1).max(200).optional().describe('E-mail subject; default "Message from your clinic".'),
    appointment: z.uuid().optional().describe('Appointment the message is about.'),
  })
  .strict();
export type SendMessageBody = z.infer<typeof sendMessageBody>;

/** Query of the message lists. */
export const messageListQuery = listQuery.extend({
  patient: z.uuid().optional(),
  channel: z.enum(messageChannels).optional(),
  type: z.enum(['inbound', 'outbound']).optional(),
  status: z.enum(messageStatuses).optional(),
  createdAt: dateFilter.optional(),
});
export type MessageListQuery = z.infer<typeof messageListQuery>;
