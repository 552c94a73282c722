import { callerOf, patientsInAnswer, type ServiceApp } from '@pep/service-kit';
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
import { READERS, WRITERS } from './roles.js';
import { idParams, listOf } from './schemas.js';

const tags = ['reminders'];
const page = listOf(reminderResponse);
const FILTERS =
  'Filter by patient, appointment (404 when not of the organization), status, type, and sendAt with comparisons: `sendAt=>=2026-01-01T00:00:00Z&sendAt=<2026-02-01T00:00:00Z`.';

/** Routes of the `reminders` group. Every record belongs to the caller's organization; others answer 404. */
export function registerReminderRoutes(app: ServiceApp, reminders: ReminderService): void {
  app.get(
    '/api/reminders',
    {
      config: { roles: READERS, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags,
        summary: 'Reminders',
        description: `Paged with page/limit, soonest first. ${FILTERS}`,
        querystring: reminderListQuery,
        response: { 200: page },
      },
    },
    async (request) => reminders.list(callerOf(request), request.query),
  );
  app.post(
    '/api/reminders',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Plan a reminder by hand',
        description:
          'Answers 200 with the reminder. Reminders of appointments are planned on their own when they are booked. The patient, the appointment (of that ' +
          "patient) and the template must be the organization's, else 404 naming the field; 503 with Retry-After when their owner cannot be asked.",
        body: createReminderBody,
        response: { 200: reminderResponse },
      },
    },
    async (request) => reminders.create(callerOf(request), request.body),
  );

  app.get(
    '/api/reminders/crudList',
    {
      config: { roles: READERS, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags,
        summary: 'Reminders, for administration screens',
        description: 'As the list.',
        querystring: reminderListQuery,
        response: { 200: page },
      },
    },
    async (request) => reminders.list(callerOf(request), request.query),
  );

  app.get(
    '/api/reminders/reports/find',
    {
      config: { roles: READERS, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags,
        summary: 'Reminders for reports',
        description: `As the list. ${FILTERS}`,
        querystring: reminderListQuery,
        response: { 200: page },
      },
    },
    async (request) => reminders.list(callerOf(request), request.query),
  );

  app.get(
    '/api/reminders/reports/summary',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'Counts of reminders by status',
        description: 'Over a sendAt range (sendAt=>=…&sendAt=<…) and optionally one type.',
        querystring: reminderSummaryQuery,
        response: { 200: reminderSummaryResponse },
      },
    },
    async (request) => reminders.summary(callerOf(request), request.query),
  );

  app.get(
    '/api/reminders/findByApptId/:id',
    {
      config: { roles: READERS, readsPatients: patientsInAnswer('patient') },
      schema: {
        operationId: 'listAppointmentReminders',
        tags,
        summary: "An appointment's reminders",
        description: 'Paged, soonest first; 404 for an appointment not of the organization.',
        params: idParams,
        querystring: reminderSubListQuery,
        response: { 200: page },
      },
    },
    async (request) => reminders.list(callerOf(request), { ...request.query, appointment: request.params.id }, 'params.id'),
  );

  app.get(
    '/api/reminders/findByPatientId/:id',
    {
      config: { roles: READERS, readsPatients: patientsInAnswer('patient') },
      schema: {
        operationId: 'listPatientReminders',
        tags,
        summary: "A patient's reminders",
        description: 'Paged, soonest first; 404 for a patient not of the organization.',
        params: idParams,
        querystring: reminderSubListQuery,
        response: { 200: page },
      },
    },
    async (request) => reminders.list(callerOf(request), { ...request.query, patient: request.params.id }, 'params.id'),
  );

  app.get(
    '/api/reminders/:id',
    {
      config: { roles: READERS, readsPatients: patientsInAnswer('patient') },
      schema: { tags, summary: 'Get a reminder', params: idParams, response: { 200: reminderResponse } },
    },
    async (request) => reminders.get(callerOf(request), request.params.id),
  );

  app.put(
    '/api/reminders/:id',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Change a reminder not sent yet',
        description:
          'Time, channel, template or text; `status: skipped` cancels it and `status: scheduled` puts it back. A reminder being sent or sent answers 409.',
        params: idParams,
        body: updateReminderBody,
        response: { 200: reminderResponse },
      },
    },
    async (request) => reminders.update(callerOf(request), request.params.id, request.body),
  );

  app.delete(
    '/api/reminders/:id',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Delete a reminder',
        description: 'Soft delete; one not sent yet never goes out.',
        params: idParams,
        response: { 200: reminderResponse },
      },
    },
    async (request) => reminders.remove(callerOf(request), request.params.id),
  );
}
