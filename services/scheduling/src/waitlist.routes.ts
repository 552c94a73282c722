import { callerOf, patientsInAnswer, type PatientsIn, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import { READERS, WRITERS } from './roles.js';
import { idParams, listOf } from './schemas.js';
import type { WaitlistService } from './waitlist.service.js';
import {
  bulkActionBody,
  candidatesBody,
  candidatesResponse,
  countResponse,
  createWaitlistBody,
  findCountBody,
  moveParams,
  updateWaitlistBody,
  waitlistCountQuery,
  waitlistFilterQuery,
  waitlistListQuery,
  waitlistResponse,
  waitlistSearchQuery,
  type CandidateResponse,
} from './waitlist.schemas.js';

const tags = ['waitlists'];
// Answers naming the patient of each entry are audited (ADR 0040). Putting a patient on the waitlist is not: its answer
// holds only what the caller sent; a change by id is, as its answer shows entries the caller named only by their ids.
const readsPatients = patientsInAnswer('patient');
/** The patients of a ranking: each candidate's entry. */
const candidatePatients: PatientsIn = (answer) => (answer as { response: CandidateResponse[] }).response.map((c) => c.waitlist.patient);
const page = listOf(waitlistResponse);
const FILTERS =
  "Filter by status, patient (one of the organization's, 404 otherwise), provider, facility (asked for or listed) and appointmentType.";

/** Routes of the `waitlists` group (but the offer answers) and `GET /api/providers/:id/waitlists`. */
export function registerWaitlistRoutes(app: ServiceApp, waitlists: WaitlistService): void {
  app.get(
    '/api/waitlists',
    {
      config: { roles: READERS, readsPatients },
      schema: {
        tags,
        summary: 'Waitlist entries',
        description: `Paged, in waitlist order. ${FILTERS}`,
        querystring: waitlistListQuery,
        response: { 200: page },
      },
    },
    async (request) => {
      const { page: p, limit, ...filters } = request.query;
      return waitlists.list(callerOf(request), { page: p, limit }, filters);
    },
  );
  app.post(
    '/api/waitlists',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Put a patient on the waitlist',
        description:
          'Answers 200 with the entry, last in the waitlist and waiting. Patient (live), provider, facility(ies) and type must be records of the organization (404 naming the field for the patient, 400 for the others; 503 with Retry-After when the patients service cannot be asked).',
        body: createWaitlistBody,
        response: { 200: waitlistResponse },
      },
    },
    async (request) => waitlists.create(callerOf(request), request.body, request.id),
  );

  app.get(
    '/api/waitlists/crudList',
    {
      config: { roles: READERS, readsPatients },
      schema: {
        tags,
        summary: 'Waitlist entries, for administration screens',
        description: 'As the list, with the same filters.',
        querystring: waitlistListQuery,
        response: { 200: page },
      },
    },
    async (request) => {
      const { page: p, limit, ...filters } = request.query;
      return waitlists.list(callerOf(request), { page: p, limit }, filters);
    },
  );

  app.get(
    '/api/waitlists/filter',
    {
      config: { roles: READERS, readsPatients },
      schema: {
        tags,
        summary: 'Waitlist entries by filters',
        description: `${FILTERS} Also createdAt with comparisons: \`createdAt=>2026-01-01T00:00:00Z\`.`,
        querystring: waitlistFilterQuery,
        response: { 200: page },
      },
    },
    async (request) => {
      const { page: p, limit, ...filters } = request.query;
      return waitlists.list(callerOf(request), { page: p, limit }, filters);
    },
  );

  app.get(
    '/api/waitlists/search',
    {
      config: { roles: READERS, readsPatients },
      schema: {
        tags,
        summary: 'Find waitlist entries',
        description: 'Every word of `value` must appear in the notes or the name of the provider asked for.',
        querystring: waitlistSearchQuery,
        response: { 200: page },
      },
    },
    async (request) => waitlists.list(callerOf(request), request.query, {}, request.query.value),
  );

  app.get(
    '/api/waitlists/count',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'Count waitlist entries',
        description: 'The filters of /filter.',
        querystring: waitlistCountQuery,
        response: { 200: countResponse },
      },
    },
    async (request) => waitlists.count(callerOf(request), request.query),
  );

  app.post(
    '/api/waitlists/find/count',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'Count waitlist entries (filters in the body)',
        description: 'As /count, with several states at once in `statuses`.',
        body: findCountBody,
        response: { 200: countResponse },
      },
    },
    async (request) => waitlists.count(callerOf(request), request.body, 'body'),
  );

  app.post(
    '/api/waitlists/candidates',
    {
      config: { roles: READERS, readsPatients: candidatePatients },
      schema: {
        operationId: 'rankWaitlistCandidates',
        tags,
        summary: 'Rank waitlisted patients for a slot',
        description:
          'The waiting entries that fit the slot (what they asked for is the slot’s or left open; patients busy then or holding an offer are left out), ' +
          'ranked by match quality (same provider 4, listed facility 2, same type 1), then waitlist position, then time waiting; each candidate says why. ' +
          'An offer of the slot would go to the first of them.',
        body: candidatesBody,
        response: { 200: candidatesResponse },
      },
    },
    async (request) => waitlists.candidates(callerOf(request), request.body),
  );

  app.post(
    '/api/waitlists/move/update-position/:providerId/:id/:replacedId',
    {
      config: { roles: WRITERS, readsPatients },
      schema: {
        tags,
        summary: "Move an entry in a provider's waitlist",
        description:
          "Puts entry :id where :replacedId is, shifting the entries in between by one; answers the provider's entries in their new order. Both must be entries of the provider (404 otherwise).",
        params: moveParams,
        body: z.object({}).strict().nullish(),
        response: { 200: z.array(waitlistResponse) },
      },
    },
    async (request) =>
      waitlists.move(callerOf(request), request.params.providerId, request.params.id, request.params.replacedId, request.id),
  );

  app.post(
    '/api/waitlists/bulk/action',
    {
      config: { roles: WRITERS, readsPatients },
      schema: {
        tags,
        summary: 'Remove, activate or deactivate many entries',
        description:
          'All or nothing: an id that is not an entry of the organization answers 404, an entry in an offer in progress 409, and nothing changes. Answers the entries as they are now.',
        body: bulkActionBody,
        response: { 200: z.object({ response: z.array(waitlistResponse), total: z.number().int() }) },
      },
    },
    async (request) => {
      const response = await waitlists.bulk(callerOf(request), request.body, request.id);
      return { response, total: response.length };
    },
  );

  app.get(
    '/api/waitlists/:id',
    {
      config: { roles: READERS, readsPatients },
      schema: { tags, summary: 'Get a waitlist entry', params: idParams, response: { 200: waitlistResponse } },
    },
    async (request) => waitlists.get(callerOf(request), request.params.id),
  );

  app.put(
    '/api/waitlists/:id',
    {
      config: { roles: WRITERS, readsPatients },
      schema: {
        tags,
        summary: 'Change a waitlist entry',
        description: 'Changes what the patient asked for or the notes; null clears (any).',
        params: idParams,
        body: updateWaitlistBody,
        response: { 200: waitlistResponse },
      },
    },
    async (request) => waitlists.update(callerOf(request), request.params.id, request.body, request.id),
  );

  app.delete(
    '/api/waitlists/:id',
    {
      config: { roles: WRITERS, readsPatients },
      schema: {
        tags,
        summary: 'Delete a waitlist entry',
        description: 'Soft delete: answers the entry with deleted 1; an entry in an offer in progress answers 409.',
        params: idParams,
        response: { 200: waitlistResponse },
      },
    },
    async (request) => waitlists.remove(callerOf(request), request.params.id, request.id),
  );

  app.get(
    '/api/providers/:id/waitlists',
    {
      config: { roles: READERS, readsPatients },
      schema: {
        tags: ['providers'],
        summary: "A provider's waitlist",
        description: "Entries asking for the provider, in waitlist order; the list's filters.",
        params: idParams,
        querystring: waitlistListQuery,
        response: { 200: page },
      },
    },
    async (request) => {
      const { page: p, limit, ...filters } = request.query;
      return waitlists.ofProvider(callerOf(request), request.params.id, { page: p, limit }, filters);
    },
  );
}
