import { arrayPageOf, pageInHeaders, requireIdentity, type ServiceApp } from '@pep/service-kit';
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
import { CURATORS, PEOPLE, STAFF, whoMayCall } from './roles.js';

const TAGS = ['patients'];

/** Routes of the `patients` and `patientSubscribers` groups. Every query is scoped to the caller's organization. */
export function registerPatientRoutes(app: ServiceApp, patients: PatientService, following: FollowingService, merges: MergeService): void {
  for (const [url, hide] of [['/api/patients', false], ['/api/patients/', true]] as const) {
    app.get(
      url,
      {
        schema: {
          hide,
          tags: TAGS,
          summary: "The organization's patients",
          description: `Live patients (not deleted, not merged away), filtered and paged with page/limit. ${whoMayCall(STAFF)}`,
          querystring: patientListQuery,
          response: { 200: listOf(patientResponse) },
        },
      },
      async (request) => patients.list(requireIdentity(request, STAFF), request.query),
    );

    app.post(
      url,
      {
        schema: {
          hide,
          tags: TAGS,
          summary: 'Create a patient',
          description:
            'Answers 200 with the created patient, as the v1 API does. A patient with the same phone and name (case and accents ' +
            `ignored) as another is still created, flagged with \`possibleDuplicateOf\`. ${whoMayCall(STAFF)}`,
          body: createPatientBody,
          response: { 200: patientResponse },
        },
      },
      async (request) => patients.create(requireIdentity(request, STAFF), request.body, request.id),
    );
  }

  app.get(
    '/api/patients/crudList',
    {
      schema: {
        tags: TAGS,
        summary: 'Patients in compact form, for tables of records',
        description: `The filters and paging of GET /api/patients; each item carries only what a row of a table shows. ${whoMayCall(STAFF)}`,
        querystring: patientListQuery,
        response: { 200: listOf(patientSummary) },
      },
    },
    async (request) => patients.crudList(requireIdentity(request, STAFF), request.query),
  );

  app.get(
    '/api/patients/search',
    {
      schema: {
        tags: TAGS,
        summary: 'Search patients',
        description:
          'type=name: every word of the value must appear in the first or last name, case and accents ignored (prefix and ' +
          'contains both match). type=phone: the value in any common format, matched exactly (E.164) against every phone of ' +
          'the patient. type=email: exact, case-insensitive. type=dateOfBirth: exact YYYY-MM-DD. Live patients only. ' +
          'Answers a bare array, as v1 clients read it (`$[0]._id`); paged with page/limit, the total in X-Total-Count and the next ' +
          `page in Link (rel="next"). ${whoMayCall(STAFF)}`,
        querystring: searchQuery,
        response: { 200: arrayPageOf(patientResponse) },
      },
    },
    async (request, reply) => pageInHeaders({ request, reply }, await patients.search(requireIdentity(request, STAFF), request.query)),
  );

  app.get(
    '/api/patients/recent',
    {
      schema: {
        tags: TAGS,
        summary: 'Patients the caller viewed lately',
        description: `Most recent first, at most 20 per user. ${whoMayCall(PEOPLE)}`,
        querystring: recentQuery,
        response: { 200: listOf(patientResponse) },
      },
    },
    async (request) => following.recent(requireIdentity(request, PEOPLE), request.query),
  );

  app.post(
    '/api/patients/recent',
    {
      schema: {
        tags: TAGS,
        summary: 'Record that the caller viewed a patient',
        description: `Moves the patient to the front of the caller's recent list (at most 20 kept) and answers the list. ${whoMayCall(PEOPLE)}`,
        body: recentBody,
        response: { 200: listOf(patientResponse) },
      },
    },
    async (request) => following.addRecent(requireIdentity(request, PEOPLE), request.body.patient, { page: 1, limit: 20 }),
  );

  app.post(
    '/api/patients/merge',
    {
      schema: {
        tags: TAGS,
        summary: 'Merge two records of one person',
        description:
          '`merged` is merged into `survivor`: the survivor fills its empty fields from it, gains its contact details, ' +
          'followers and journey, and keeps do-not-contact if either had it; the merged record gets `mergedInto` and leaves ' +
          'lists and search (GET by id still answers it). Publishes patient.merged so other services re-point their records. ' +
          'Answers the survivor. 404 when either is not the organization’s; 409 when merging a patient into itself or when ' +
          `either was already merged. ${whoMayCall(CURATORS)}`,
        body: mergeBody,
        response: { 200: patientResponse },
      },
    },
    async (request) => merges.merge(requireIdentity(request, CURATORS), request.body, request.id),
  );

  app.get(
    '/api/patients/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Get a patient',
        description: `A merged record still answers, with \`mergedInto\` naming the survivor; a deleted one answers 404. ${whoMayCall(STAFF)}`,
        params: idParams,
        response: { 200: patientResponse },
      },
    },
    async (request) => patients.get(requireIdentity(request, STAFF), request.params.id),
  );

  app.put(
    '/api/patients/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Change a patient',
        description:
          'Any subset of the fields; `null` clears an optional one. A new `contact` replaces the list; a new `phone` or `email` ' +
          'replaces the current primary one. Publishes patient.updated naming the changed fields, and ' +
          'patient.contact-preferences-changed when do-not-contact, language or the reachable channels change. Setting ' +
          '`doNotContact: false` clears `doNotContactMessage` unless one is given. 409 for a merged record. ' +
          whoMayCall(STAFF),
        params: idParams,
        body: updatePatientBody,
        response: { 200: patientResponse },
      },
    },
    async (request) => patients.update(requireIdentity(request, STAFF), request.params.id, request.body, request.id),
  );

  app.delete(
    '/api/patients/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete a patient',
        description: `Soft delete: the record leaves lists and search and answers 404 from then on; patient.deleted. ${whoMayCall(CURATORS)}`,
        params: idParams,
        response: { 200: patientResponse },
      },
    },
    async (request) => patients.remove(requireIdentity(request, CURATORS), request.params.id, request.id),
  );

  app.get(
    '/api/patients/:id/doNotContact',
    {
      schema: {
        tags: TAGS,
        summary: 'Whether the patient may be contacted',
        description: `Set it with PUT /api/patients/:id \`{ doNotContact, doNotContactMessage }\`. ${whoMayCall(STAFF)}`,
        params: idParams,
        response: { 200: doNotContactResponse },
      },
    },
    async (request) => patients.doNotContact(requireIdentity(request, STAFF), request.params.id),
  );

  app.post(
    '/api/patients/:id/verify',
    {
      schema: {
        tags: TAGS,
        summary: 'Record that staff confirmed the patient’s details',
        description:
          'Sets `verifiedAt` (now) and `verifiedBy` (the caller) on the patient, and on one contact detail when the body names ' +
          `it (400 when the patient has no such detail). Publishes patient.updated. 409 for a merged record. ${whoMayCall(STAFF)}`,
        params: idParams,
        body: verifyBody,
        response: { 200: patientResponse },
      },
    },
    async (request) => patients.verify(requireIdentity(request, STAFF), request.params.id, request.body, request.id),
  );

  app.get(
    '/api/patients/:id/journey',
    {
      schema: {
        tags: TAGS,
        summary: "The patient's timeline, assembled from events",
        description: whoMayCall(STAFF),
        params: idParams,
        response: { 200: z.object({ response: z.array(journeyEntryResponse) }) },
      },
    },
    async (request) => ({ response: await patients.journey(requireIdentity(request, STAFF), request.params.id) }),
  );

  for (const group of ['patients', 'patientSubscribers'] as const) {
    app.post(
      `/api/${group}/:id/follow`,
      {
        schema: {
          tags: [group],
          summary: 'Follow a patient',
          description: `Adds the caller to the patient's \`subscribers\`; following twice changes nothing. ${whoMayCall(PEOPLE)}`,
          params: idParams,
          response: { 200: patientResponse },
        },
      },
      async (request) => following.follow(requireIdentity(request, PEOPLE), request.params.id, request.id),
    );
    app.post(
      `/api/${group}/:id/unfollow`,
      {
        schema: {
          tags: [group],
          summary: 'Stop following a patient',
          description: `Removes the caller from the patient's \`subscribers\`. ${whoMayCall(PEOPLE)}`,
          params: idParams,
          response: { 200: patientResponse },
        },
      },
      async (request) => following.unfollow(requireIdentity(request, PEOPLE), request.params.id, request.id),
    );
  }

  for (const [url, hide] of [['/api/patientSubscribers', false], ['/api/patientSubscribers/', true]] as const) {
    app.get(
      url,
      {
        schema: {
          hide,
          tags: ['patientSubscribers'],
          summary: 'Patients the caller follows',
          description: `Live patients only, paged with page/limit. ${whoMayCall(PEOPLE)}`,
          querystring: listQuery,
          response: { 200: listOf(patientResponse) },
        },
      },
      async (request) => following.followed(requireIdentity(request, PEOPLE), request.query),
    );
  }
}
