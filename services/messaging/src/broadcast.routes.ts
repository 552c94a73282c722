import { auditRows, callerOf, patientsInAnswer, sendWorkbook, type PatientAccessLog, type ServiceApp, XLSX_TYPE } from '@pep/service-kit';
import {
  audiencePatient,
  audiencePreviewQuery,
  broadcastCountQuery,
  broadcastListQuery,
  broadcastResponse,
  bulkActionBody,
  bulkActionResponse,
  countResponse,
  createBroadcastBody,
  updateBroadcastBody,
} from './broadcast.schemas.js';
import type { BroadcastService } from './broadcast.service.js';
import { BROADCAST_WORKBOOK_COLUMNS } from './broadcast-workbook.js';
import { READERS, WRITERS } from './roles.js';
import { idParams, listOf } from './schemas.js';

const tags = ['broadcasts'];

/** Routes of the `broadcasts` group. Every broadcast belongs to the caller's organization; others answer 404. */
export function registerBroadcastRoutes(app: ServiceApp, broadcasts: BroadcastService, patientAccess: PatientAccessLog): void {
  app.get(
    '/api/broadcasts',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'Broadcasts',
        description: 'Paged with page/limit, newest first, each with its live stats; filter by processingStatus and type.',
        querystring: broadcastListQuery,
        response: { 200: listOf(broadcastResponse) },
      },
    },
    async (request) => broadcasts.list(callerOf(request), request.query),
  );
  app.post(
    '/api/broadcasts',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Create a broadcast',
        description:
          'One text to many patients at sendAt: to an audience filter (type scheduled) or an uploaded list (type uploaded). ' +
          "When the organization's broadcastReviewRequired setting is on, it waits for a second user's approval. It goes " +
          "at the organization's broadcastRatePerHour (configuration.throttle false: unthrottled), never in quiet hours of " +
          'the patient, never to a patient who must not be contacted.',
        body: createBroadcastBody,
        response: { 200: broadcastResponse },
      },
    },
    async (request) => broadcasts.create(callerOf(request), request.body),
  );
  app.get(
    '/api/broadcasts/count',
    {
      config: { roles: READERS },
      schema: { tags, summary: 'How many broadcasts match', querystring: broadcastCountQuery, response: { 200: countResponse } },
    },
    async (request) => broadcasts.count(callerOf(request), request.query),
  );
  app.get(
    '/api/broadcasts/patients',
    {
      config: { roles: WRITERS, readsPatients: patientsInAnswer() },
      schema: {
        operationId: 'previewBroadcastAudience',
        tags,
        summary: 'Who an audience reaches',
        description:
          'The patients an audience filter selects (facility, provider, appointment range, language): how many (total) ' +
          'and one page, by name; `reachable` false for those the broadcast would skip.',
        querystring: audiencePreviewQuery,
        response: { 200: listOf(audiencePatient) },
      },
    },
    async (request) => broadcasts.preview(callerOf(request), request.query),
  );
  app.post(
    '/api/broadcasts/bulk/action',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Approve, send, cancel or delete many broadcasts',
        description:
          'All or none. approve: by another user than the creator (403 otherwise); send: now, 409 for one needing an ' +
          'approval it has not got; cancel and delete stop what is not sent yet.',
        body: bulkActionBody,
        response: { 200: bulkActionResponse },
      },
    },
    async (request) => broadcasts.bulk(callerOf(request), request.body),
  );
  app.get(
    '/api/broadcasts/:id',
    { config: { roles: READERS }, schema: { tags, summary: 'Get a broadcast', params: idParams, response: { 200: broadcastResponse } } },
    async (request) => broadcasts.get(callerOf(request), request.params.id),
  );
  app.put(
    '/api/broadcasts/:id',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Change or approve a broadcast not started',
        description: '`review: {status: approved}` approves it (another user than its creator). One that started sending answers 409.',
        params: idParams,
        body: updateBroadcastBody,
        response: { 200: broadcastResponse },
      },
    },
    async (request) => broadcasts.update(callerOf(request), request.params.id, request.body),
  );
  app.delete(
    '/api/broadcasts/:id',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Delete a broadcast',
        description: 'Soft delete; what it has not sent yet never goes.',
        params: idParams,
        response: { 200: broadcastResponse },
      },
    },
    async (request) => broadcasts.remove(callerOf(request), request.params.id),
  );
  app.get(
    '/api/broadcasts/:id/xls',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: "A broadcast's recipients and their outcomes as an Excel workbook (.xlsx)",
        description: `One row per recipient; instants in UTC. Answers ${XLSX_TYPE} as an attachment, streamed while the rows are read.`,
        params: idParams,
      },
    },
    async (request, reply) =>
      sendWorkbook(request, reply, {
        filename: `broadcast-${request.params.id}.xlsx`,
        sheet: 'Recipients',
        columns: BROADCAST_WORKBOOK_COLUMNS,
        beforePage: auditRows(request, patientAccess),
        pages: broadcasts.recipients(callerOf(request), request.params.id),
      }),
  );
}
