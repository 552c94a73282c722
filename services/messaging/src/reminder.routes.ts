import { requireIdentity, type ServiceApp } from '@pep/service-kit';
import {
  createReminderBody,
  reminderListQuery,
  reminderResponse,
  reminderSubListQuery,
  reminderSummaryQuery,
  reminderSummaryResponse,
  updateReminderBody,
} from './reminder.schemas.js';
import type { ReminderService } from './reminder.service.js';
import { READERS, whoMayCall, WRITERS } from './roles.js';
import { idParams, listOf } from './schemas.js';

const tags = ['reminders'];
const page = listOf(reminderResponse);
const FILTERS =
  'Filter by patient, appointment (404 when not of the organization), status, type, and sendAt with comparisons: `sendAt=>=2026-01-01T00:00:00Z&sendAt=<2026-02-01T00:00:00Z`.';

/** Routes of the `reminders` group. Every record belongs to the caller's organization; others answer 404. */
export function registerReminderRoutes(app: ServiceApp, reminders: ReminderService): void {
  for (const [url, hide] of [['/api/reminders', false], ['/api/reminders/', true]] as const) {
    app.get(
      url,
      { schema: { hide, tags, summary: 'Reminders', description: `Paged with page/limit, soonest first. ${FILTERS} ${whoMayCall(READERS)}`, querystring: reminderListQuery, response: { 200: page } } },
      async (request) => reminders.list(requireIdentity(request, READERS), request.query),
    );
    app.post(
      url,
      {
        schema: {
          hide,
          tags,
          summary: 'Plan a reminder by hand',
          description:
            'Answers 200 with the reminder. Reminders of appointments are planned on their own when they are booked. The patient, the appointment (of that ' +
            "patient) and the template must be the organization's, else 404 naming the field; 503 with Retry-After when their owner cannot be asked. " +
            whoMayCall(WRITERS),
          body: createReminderBody,
          response: { 200: reminderResponse },
        },
      },
      async (request) => reminders.create(requireIdentity(request, WRITERS), request.body),
    );
  }

  app.get(
    '/api/reminders/crudList',
    { schema: { tags, summary: 'Reminders, for administration screens', description: `As the list. ${whoMayCall(READERS)}`, querystring: reminderListQuery, response: { 200: page } } },
    async (request) => reminders.list(requireIdentity(request, READERS), request.query),
  );

  app.get(
    '/api/reminders/reports/find',
    { schema: { tags, summary: 'Reminders for reports', description: `As the list. ${FILTERS} ${whoMayCall(READERS)}`, querystring: reminderListQuery, response: { 200: page } } },
    async (request) => reminders.list(requireIdentity(request, READERS), request.query),
  );

  app.get(
    '/api/reminders/reports/summary',
    {
      schema: {
        tags,
        summary: 'Counts of reminders by status',
        description: `Over a sendAt range (sendAt=>=…&sendAt=<…) and optionally one type. ${whoMayCall(READERS)}`,
        querystring: reminderSummaryQuery,
        response: { 200: reminderSummaryResponse },
      },
    },
    async (request) => reminders.summary(requireIdentity(request, READERS), request.query),
  );

  app.get(
    '/api/reminders/findByApptId/:id',
    {
      schema: { tags, summary: "An appointment's reminders", description: `Paged, soonest first; 404 for an appointment not of the organization. ${whoMayCall(READERS)}`, params: idParams, querystring: reminderSubListQuery, response: { 200: page } },
    },
    async (request) => reminders.list(requireIdentity(request, READERS), { ...request.query, appointment: request.params.id }, 'params.id'),
  );

  app.get(
    '/api/reminders/findByPatientId/:id',
    {
      schema: { tags, summary: "A patient's reminders", description: `Paged, soonest first; 404 for a patient not of the organization. ${whoMayCall(READERS)}`, params: idParams, querystring: reminderSubListQuery, response: { 200: page } },
    },
    async (request) => reminders.list(requireIdentity(request, READERS), { ...request.query, patient: request.params.id }, 'params.id'),
  );

  app.get(
    '/api/reminders/:id',
    { schema: { tags, summary: 'Get a reminder', description: whoMayCall(READERS), params: idParams, response: { 200: reminderResponse } } },
    async (request) => reminders.get(requireIdentity(request, READERS), request.params.id),
  );

  app.put(
    '/api/reminders/:id',
    {
      schema: {
        tags,
        summary: 'Change a reminder not sent yet',
        description: `Time, channel, template or text; \`status: skipped\` cancels it and \`status: scheduled\` puts it back. A reminder being sent or sent answers 409. ${whoMayCall(WRITERS)}`,
        params: idParams,
        body: updateReminderBody,
        response: { 200: reminderResponse },
      },
    },
    async (request) => reminders.update(requireIdentity(request, WRITERS), request.params.id, request.body),
  );

  app.delete(
    '/api/reminders/:id',
    { schema: { tags, summary: 'Delete a reminder', description: `Soft delete; one not sent yet never goes out. ${whoMayCall(WRITERS)}`, params: idParams, response: { 200: reminderResponse } } },
    async (request) => reminders.remove(requireIdentity(request, WRITERS), request.params.id),
  );
}
