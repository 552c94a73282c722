import { arrayPageOf, callerOf, pageInHeaders, patientsInAnswer, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import type { FollowingService } from './following.service.js';
import type { MergeService } from './merge.service.js';
import {
  createPatientBody,
  doNotContactResponse,
  idParams,
  journeyEntryResponse,
  listOf,
  listQuery,
  mergeBody,
  patientListQuery,
  patientResponse,
  patientSummary,
  recentBody,
  recentQuery,
  searchQuery,
  updatePatientBody,
  verifyBody,
} from './patient.schemas.js';
import type { PatientService } from './patient.service.js';
import { CURATORS, PEOPLE, STAFF } from './roles.js';

const TAGS = ['patients'];

/** Routes of the `patients` and `patientSubscribers` groups. Every query is scoped to the caller's organization. */
export function registerPatientRoutes(app: ServiceApp, patients: PatientService, following: FollowingService, merges: MergeService): void {
  app.get(
    '/api/patients',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer() },
      schema: {
        tags: TAGS,
        summary: "The organization's patients",
        description: 'Live patients (not deleted, not merged away), filtered and paged with page/limit.',
        querystring: patientListQuery,
        response: { 200: listOf(patientResponse) },
      },
    },
    async (request) => patients.list(callerOf(request), request.query),
  );

  app.post(
    '/api/patients',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'Create a patient',
        description:
          'Answers 200 with the created patient, as the v1 API does. A patient with the same phone and name (case and accents ' +
          'ignored) as another is still created, flagged with `possibleDuplicateOf`.',
        body: createPatientBody,
        response: { 200: patientResponse },
      },
    },
    async (request) => patients.create(callerOf(request), request.body, request.id),
  );

  app.get(
    '/api/patients/crudList',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer() },
      schema: {
        tags: TAGS,
        summary: 'Patients in compact form, for tables of records',
        description: 'The filters and paging of GET /api/patients; each item carries only what a row of a table shows.',
        querystring: patientListQuery,
        response: { 200: listOf(patientSummary) },
      },
    },
    async (request) => patients.crudList(callerOf(request), request.query),
  );

  app.get(
    '/api/patients/search',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer() },
      schema: {
        tags: TAGS,
        summary: 'Search patients',
        description:
          'type=name: every word of the value must appear in the first or last name, case and accents ignored (prefix and ' +
          'contains both match). type=phone: the value in any common format, matched exactly (E.164) against every phone of ' +
          'the patient. type=email: exact, case-insensitive. type=dateOfBirth: exact YYYY-MM-DD. Live patients only. ' +
          'Answers a bare array, as v1 clients read it (`$[0]._id`); paged with page/limit, the total in X-Total-Count and the next ' +
          'page in Link (rel="next").',
        querystring: searchQuery,
        response: { 200: arrayPageOf(patientResponse) },
      },
    },
    async (request, reply) => pageInHeaders({ request, reply }, await patients.search(callerOf(request), request.query)),
  );

  app.get(
    '/api/patients/recent',
    {
      config: { roles: PEOPLE, readsPatients: patientsInAnswer() },
      schema: {
        tags: TAGS,
        summary: 'Patients the caller viewed lately',
        description: 'Most recent first, at most 20 per user.',
        querystring: recentQuery,
        response: { 200: listOf(patientResponse) },
      },
    },
    async (request) => following.recent(callerOf(request), request.query),
  );

  app.post(
    '/api/patients/recent',
    {
      config: { roles: PEOPLE },
      schema: {
        tags: TAGS,
        summary: 'Record that the caller viewed a patient',
        description: "Moves the patient to the front of the caller's recent list (at most 20 kept) and answers the list.",
        body: recentBody,
        response: { 200: listOf(patientResponse) },
      },
    },
    async (request) => following.addRecent(callerOf(request), request.body.patient, { page: 1, limit: 20 }),
  );

  app.post(
    '/api/patients/merge',
    {
      config: { roles: CURATORS },
      schema: {
        tags: TAGS,
        summary: 'Merge two records of one person',
        description:
          '`merged` is merged into `survivor`: the survivor fills its empty fields from it, gains its contact details, ' +
          'followers and journey, and keeps do-not-contact if either had it; the merged record gets `mergedInto` and leaves ' +
          'lists and search (GET by id still answers it). Publishes patient.merged so other services re-point their records. ' +
          'Answers the survivor. 404 when either is not the organization’s; 409 when merging a patient into itself or when ' +
          'either was already merged.',
        body: mergeBody,
        response: { 200: patientResponse },
      },
    },
    async (request) => merges.merge(callerOf(request), request.body, request.id),
  );

  app.get(
    '/api/patients/:id',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer() },
      schema: {
        tags: TAGS,
        summary: 'Get a patient',
        description: 'A merged record still answers, with `mergedInto` naming the survivor; a deleted one answers 404.',
        params: idParams,
        response: { 200: patientResponse },
      },
    },
    async (request) => patients.get(callerOf(request), request.params.id),
  );

  app.put(
    '/api/patients/:id',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'Change a patient',
        description:
          'Any subset of the fields; `null` clears an optional one. A new `contact` replaces the list; a new `phone` or `email` ' +
          'replaces the current primary one. Publishes patient.updated naming the changed fields, and ' +
          'patient.contact-preferences-changed when do-not-contact, language or the reachable channels change. Setting ' +
          '`doNotContact: false` clears `doNotContactMessage` unless one is given. 409 for a merged record.',
        params: idParams,
        body: updatePatientBody,
        response: { 200: patientResponse },
      },
    },
    async (request) => patients.update(callerOf(request), request.params.id, request.body, request.id),
  );

  app.delete(
    '/api/patients/:id',
    {
      config: { roles: CURATORS },
      schema: {
        tags: TAGS,
        summary: 'Delete a patient',
        description: 'Soft delete: the record leaves lists and search and answers 404 from then on; patient.deleted.',
        params: idParams,
        response: { 200: patientResponse },
      },
    },
    async (request) => patients.remove(callerOf(request), request.params.id, request.id),
  );

  app.get(
    '/api/patients/:id/doNotContact',
    {
      config: { roles: STAFF, readsPatients: (_answer, request) => [(request.params as { id: string }).id] },
      schema: {
        tags: TAGS,
        summary: 'Whether the patient may be contacted',
        description: 'Set it with PUT /api/patients/:id `{ doNotContact, doNotContactMessage }`.',
        params: idParams,
        response: { 200: doNotContactResponse },
      },
    },
    async (request) => patients.doNotContact(callerOf(request), request.params.id),
  );

  app.post(
    '/api/patients/:id/verify',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'Record that staff confirmed the patient’s details',
        description:
          'Sets `verifiedAt` (now) and `verifiedBy` (the caller) on the patient, and on one contact detail when the body names ' +
          'it (400 when the patient has no such detail). Publishes patient.updated. 409 for a merged record.',
        params: idParams,
        body: verifyBody,
        response: { 200: patientResponse },
      },
    },
    async (request) => patients.verify(callerOf(request), request.params.id, request.body, request.id),
  );

  app.get(
    '/api/patients/:id/journey',
    {
      config: { roles: STAFF, readsPatients: (_answer, request) => [(request.params as { id: string }).id] },
      schema: {
        tags: TAGS,
        summary: "The patient's timeline, assembled from events",
        params: idParams,
        response: { 200: z.object({ response: z.array(journeyEntryResponse) }) },
      },
    },
    async (request) => ({ response: await patients.journey(callerOf(request), request.params.id) }),
  );

  for (const group of ['patients', 'patientSubscribers'] as const) {
    app.post(
      `/api/${group}/:id/follow`,
      {
        config: { roles: PEOPLE },
        schema: {
          tags: [group],
          summary: 'Follow a patient',
          description: "Adds the caller to the patient's `subscribers`; following twice changes nothing.",
          params: idParams,
          response: { 200: patientResponse },
        },
      },
      async (request) => following.follow(callerOf(request), request.params.id, request.id),
    );
    app.post(
      `/api/${group}/:id/unfollow`,
      {
        config: { roles: PEOPLE },
        schema: {
          tags: [group],
          summary: 'Stop following a patient',
          description: "Removes the caller from the patient's `subscribers`.",
          params: idParams,
          response: { 200: patientResponse },
        },
      },
      async (request) => following.unfollow(callerOf(request), request.params.id, request.id),
    );
  }

  app.get(
    '/api/patientSubscribers',
    {
      config: { roles: PEOPLE },
      schema: {
        tags: ['patientSubscribers'],
        summary: 'Patients the caller follows',
        description: 'Live patients only, paged with page/limit.',
        querystring: listQuery,
        response: { 200: listOf(patientResponse) },
      },
    },
    async (request) => following.followed(callerOf(request), request.query),
  );
}
