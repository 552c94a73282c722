import { arrayPageOf, callerOf, pageInHeaders, patientsInAnswer, type ServiceApp } from '@pep/service-kit';
import { messageListQuery, messageResponse, sendMessageBody } from './message.schemas.js';
import type { MessageService } from './message.service.js';
import { READERS, WRITERS } from './roles.js';
import { idParams, listOf } from './schemas.js';

const tags = ['messages'];
const page = listOf(messageResponse);
const FILTERS =
  'Filter by patient (404 when not of the organization), channel, type (inbound/outbound), status, and createdAt with comparisons (createdAt=>=2026-01-01T00:00:00Z).';

/** Routes of the `messages` group. Every record belongs to the caller's organization; others answer 404. */
export function registerMessageRoutes(app: ServiceApp, messages: MessageService): void {
  app.get(
    '/api/messages',
    {
      config: { roles: READERS, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags,
        summary: 'Messages',
        description:
          'Newest first, as a bare array, as v1 clients read a patient’s messages (`$[0].text`); paged with page/limit, the total in X-Total-Count ' +
          `and the next page in Link (rel="next"). ${FILTERS}`,
        querystring: messageListQuery,
        response: { 200: arrayPageOf(messageResponse) },
      },
    },
    async (request, reply) => pageInHeaders({ request, reply }, await messages.list(callerOf(request), request.query)),
  );
  app.post(
    '/api/messages',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Send a message to a patient',
        description:
          'Sends now by SMS (default), e-mail or voice and answers 200 with the stored message. The patient and the appointment (of that patient) must be ' +
          "the organization's, else 404 naming the field. A patient whose contact details have not reached messaging yet, or whose owner cannot be asked, " +
          'answers 503 with Retry-After. A patient who must not be contacted answers 409 and nothing is sent; ' +
          `one without the needed address answers 400. A vendor's refusal answers the message with status undelivered. ` +
          'Over the send quota (messages per patient an hour and a day, per organization a minute and a day) answers 429 naming the limit, with ' +
          'Retry-After in seconds until it frees, and nothing is stored or sent.',
        body: sendMessageBody,
        response: { 200: messageResponse },
      },
    },
    async (request) => messages.send(callerOf(request), request.body, request.id),
  );

  app.get(
    '/api/messages/crudList',
    {
      config: { roles: READERS, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags,
        summary: 'Messages, for administration screens',
        description: 'The filters and order of the list, in the v1 list envelope ({response, page, limit, total}).',
        querystring: messageListQuery,
        response: { 200: page },
      },
    },
    async (request) => messages.list(callerOf(request), request.query),
  );

  app.get(
    '/api/messages/:id',
    {
      config: { roles: READERS, readsPatients: patientsInAnswer('patient') },
      schema: { tags, summary: 'Get a message', params: idParams, response: { 200: messageResponse } },
    },
    async (request) => messages.get(callerOf(request), request.params.id),
  );
}
