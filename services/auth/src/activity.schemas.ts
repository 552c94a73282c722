import { rootAccount } from '@pep/service-kit';
import { z } from 'zod';
import { listQuery } from './user.schemas.js';

/** Query of GET /api/activities: paging and filters. */
export const activityListQuery = listQuery.extend({
  type: z.string().min(1).max(100).optional().describe('Only this event type, e.g. patient.created.'),
  subject: z.string().min(1).max(100).optional().describe('Only events about this record id.'),
  read: z.enum(['true', 'false']).optional().describe('Only read (true) or unread (false) activities.'),
});
export type ActivityListQuery = z.infer<typeof activityListQuery>;

/** Body of PUT /api/activities/:id. */
export const updateActivityBody = z.object({ read: z.boolean().describe('Whether the organization has seen it.') }).strict();

/** One entry of the feed: what happened to which record, with ids and status codes only. */
export const activityResponse = z
  .object({
    _id: z.uuid().describe('The event id.'),
    organization: z.string(),
    user: rootAccount,
    type: z.string().describe('Event type, e.g. appointment.cancelled.'),
    subject: z.string().describe('Id of the record the event is about.'),
    actor: z.string().nullable().describe('Who caused it, when the event says.'),
    source: z.string().describe('The service that published it.'),
    time: z.string(),
    summary: z
      .record(z.string(), z.unknown())
      .describe('Ids and status fields of the event; never names, contact details or message text.'),
    read: z.boolean(),
    readAt: z.string().nullable(),
    readBy: z.string().nullable(),
  })
  .meta({ id: 'Activity' });
export type ActivityResponse = z.infer<typeof activityResponse>;
