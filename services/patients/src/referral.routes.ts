import { callerOf, idParams, invalidFields, listOf, patientsInAnswer, type ServiceApp } from '@pep/service-kit';
import {
  approveBody,
  batchDeleteBody,
  batchDeleteQuery,
  batchResponse,
  batchUpdateBody,
  countResponse,
  createReferralBody,
  referralCountQuery,
  referralListQuery,
  referralResponse,
  referralSearchQuery,
  referralSummary,
  rejectBody,
  updateReferralBody,
} from './referral.schemas.js';
import type { ReferralService } from './referral.service.js';
import { CURATORS, STAFF } from './roles.js';

const TAGS = ['referrals'];

/** Routes of the `referrals` group (reports aside). Every query is scoped to the caller's organization. */
export function registerReferralRoutes(app: ServiceApp, referrals: ReferralService): void {
  app.get(
    '/api/referrals',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags: TAGS,
        summary: "The organization's referrals",
        description: 'Live referrals (not deleted), filtered, sorted and paged with page/limit.',
        querystring: referralListQuery,
        response: { 200: listOf(referralResponse) },
      },
    },
    async (request) => referrals.list(callerOf(request), request.query),
  );

  app.post(
    '/api/referrals',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags: TAGS,
        summary: 'Receive a referral',
        description:
          "The referral starts `pending` (waiting for approval), or `active` when the organization's referralAutoApprove " +
          'setting is on. The patient must be a live patient of the organization (400 naming `patient` otherwise). The ' +
          'referring provider is named by `{ id }` (or `referringProviderId`) or by its details. Publishes referral.created.',
        body: createReferralBody,
        response: { 200: referralResponse },
      },
    },
    async (request) => referrals.create(callerOf(request), request.body, request.id),
  );

  app.get(
    '/api/referrals/count',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'Count referrals',
        description: 'The filters of GET /api/referrals.',
        querystring: referralCountQuery,
        response: { 200: countResponse },
      },
    },
    async (request) => referrals.count(callerOf(request), request.query),
  );

  app.get(
    '/api/referrals/crudList',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags: TAGS,
        summary: 'Referrals in compact form, for tables of records',
        description: "The filters, order and paging of GET /api/referrals; each row carries the patient's and referring provider's names.",
        querystring: referralListQuery,
        response: { 200: listOf(referralSummary) },
      },
    },
    async (request) => referrals.crudList(callerOf(request), request.query),
  );

  app.get(
    '/api/referrals/search',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags: TAGS,
        summary: 'Search referrals',
        description:
          "`q` finds referrals whose patient's name has every word (case and accents ignored), whose patient has the phone " +
          "(any format, matched in E.164 against all the patient's phones), or whose referring provider has the name or the " +
          'NPI. Combines with the filters of GET /api/referrals (status, createdAt and startOn ranges...).',
        querystring: referralSearchQuery,
        response: { 200: listOf(referralResponse) },
      },
    },
    async (request) => referrals.search(callerOf(request), request.query),
  );

  app.put(
    '/api/referrals/batch',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags: TAGS,
        summary: 'Change many referrals at once',
        description:
          'The same change (fields, and `status` through the state machine) applied to every referral of `ids`, all or ' +
          'nothing: 404 naming the ids that are not live referrals of the organization, 409 when the state machine refuses ' +
          'the status for any of them; then nothing changes. One event per referral changed.',
        body: batchUpdateBody,
        response: { 200: batchResponse },
      },
    },
    async (request) => {
      const changed = await referrals.batchUpdate(callerOf(request), request.body, request.id);
      return { response: changed, total: changed.length };
    },
  );

  app.delete(
    '/api/referrals/batch',
    {
      config: { roles: CURATORS, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags: TAGS,
        summary: 'Delete many referrals at once',
        description:
          'Soft-deletes every referral of `ids` (in the body, or in the query repeated or comma-separated), all or nothing: ' +
          '404 naming the ids that are not live referrals of the organization, and then none is deleted. One referral.deleted each.',
        querystring: batchDeleteQuery,
        body: batchDeleteBody,
        response: { 200: batchResponse },
      },
    },
    async (request) => {
      const ids = request.body?.ids ?? request.query.ids;
      if (!ids) throw invalidFields([{ field: 'body.ids', message: 'name the referrals to delete in the body or the query (ids=...)' }]);
      const deleted = await referrals.removeMany(callerOf(request), ids, request.id);
      return { response: deleted, total: deleted.length };
    },
  );

  app.get(
    '/api/referrals/:id',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer('patient') },
      schema: { tags: TAGS, summary: 'Get a referral', params: idParams, response: { 200: referralResponse } },
    },
    async (request) => referrals.get(callerOf(request), request.params.id),
  );

  app.put(
    '/api/referrals/:id',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags: TAGS,
        summary: 'Change a referral',
        description:
          'Any subset of the fields; `null` clears an optional one. Publishes referral.updated naming the changed fields. A new ' +
          '`status` (with `statusReason`, `statusReasonDescription`) goes through the state machine: referral.status-changed, ' +
          'or 409 when the transition is not allowed.',
        params: idParams,
        body: updateReferralBody,
        response: { 200: referralResponse },
      },
    },
    async (request) => referrals.update(callerOf(request), request.params.id, request.body, request.id),
  );

  app.delete(
    '/api/referrals/:id',
    {
      config: { roles: CURATORS, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags: TAGS,
        summary: 'Delete a referral',
        description: 'Soft delete: the referral leaves lists and answers 404 from then on; referral.deleted stops its outreach.',
        params: idParams,
        response: { 200: referralResponse },
      },
    },
    async (request) => referrals.remove(callerOf(request), request.params.id, request.id),
  );

  app.post(
    '/api/referrals/:id/approve',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags: TAGS,
        summary: 'Approve a pending referral',
        description: 'pending → active: outreach to the patient starts. 409 from any other status. Publishes referral.status-changed.',
        params: idParams,
        body: approveBody,
        response: { 200: referralResponse },
      },
    },
    async (request) => referrals.approve(callerOf(request), request.params.id, request.id),
  );

  app.post(
    '/api/referrals/:id/reject',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags: TAGS,
        summary: 'Reject a referral',
        description:
          'Closes the referral with `statusReason` (and the staff’s `statusReasonDescription`, never published); 409 when it is ' +
          'already cancelled or closed. Publishes referral.status-changed.',
        params: idParams,
        body: rejectBody,
        response: { 200: referralResponse },
      },
    },
    async (request) => referrals.reject(callerOf(request), request.params.id, request.body, request.id),
  );
}
