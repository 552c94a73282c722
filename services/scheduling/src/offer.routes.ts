import { callerOf, HttpProblem, patientsInAnswer, type Identity, type PatientsIn, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import {
  createOfferBody,
  offerListQuery,
  offerResponse,
  offerSummaryQuery,
  offerSummaryResponse,
  offerWaitlistResponse,
  updateOfferBody,
  type OfferResponse,
} from './offer.schemas.js';
import type { OfferLifecycle, Refusal } from './offer-lifecycle.js';
import type { OfferQueries } from './offer-queries.js';
import type { PatientDirectory } from './patient-directory.js';
import { READERS, WRITERS } from './roles.js';
import { idParams, listOf, listQuery } from './schemas.js';
import { toWaitlistResponse } from './views.js';
import { waitlistResponse, type WaitlistResponse } from './waitlist.schemas.js';

const tags = ['offers'];
const page = listOf(offerResponse);
const noBody = z.object({}).strict().nullish();
// Answers naming patients are audited (ADR 0040): an offer names the patient who took its slot, a waitlist entry its
// patient. The answers to an offer show the entry the caller named only by its id, so they are audited too.
const entryPatients = patientsInAnswer('patient');
/** The patients an offer, or a page of them, names: whoever took each slot. */
const offerPatients = patientsInAnswer('patientFound');
/** A patient's offers name that patient (and whoever took each slot); an empty page names nobody. */
const patientOfferPatients: PatientsIn = (answer, request) =>
  (answer as { response: OfferResponse[] }).response.length === 0
    ? []
    : [(request.params as { id: string }).id, ...offerPatients(answer, request)];
const FILTERS = 'Filter by status, source, provider, facility, and the slot date with comparisons: `date=>2026-01-01T00:00:00Z`.';

/** The answers to an offer on a waitlist entry's behalf: confirmOffer, declineOffer and cancelOffer (GET in v1). */
export function registerOfferAnswerRoutes(app: ServiceApp, offers: OfferLifecycle): void {
  /** 200 with the entry for the winner (or the approval); 409 for everyone else, once the offer's closing committed. */
  const confirm = async (identity: Identity, waitlistId: string, correlationId: string): Promise<WaitlistResponse> => {
    const outcome = await offers.accept(actorOf(identity), waitlistId, { mayApprove: true }, correlationId);
    if (outcome.kind === 'slot-booked')
      throw new HttpProblem(409, 'slot-taken', 'The provider was booked for that time another way; the offer is closed.');
    return toWaitlistResponse(outcome.entry);
  };
  const refuse = async (identity: Identity, waitlistId: string, how: Refusal, correlationId: string): Promise<WaitlistResponse> =>
    toWaitlistResponse(await offers.refuse(actorOf(identity), waitlistId, how, { mayRejectHeld: true }, correlationId));

  app.get(
    '/api/waitlists/confirmOffer/:id',
    {
      config: { roles: WRITERS, readsPatients: entryPatients },
      schema: {
        operationId: 'confirmOffer',
        tags: ['waitlists'],
        summary: 'Accept the offer made to a waitlist entry',
        description:
          'On behalf of the entry’s patient. The first acceptance of an offer wins the slot: it books an unconfirmed appointment (source waitlist) and answers 200 with the entry, ' +
          'accepted; every other acceptance answers 409 slot-taken and those patients wait again. When the organization has the front office approve acceptances ' +
          '(frontOfficeAcceptance), the entry is confirming and the booking holds the slot; calling this again on a confirming entry is the approval (entry accepted, ' +
          'offer approvedBy), declineOffer on it the refusal (booking cancelled, slot offered afresh).',
        params: idParams,
        response: { 200: waitlistResponse },
      },
    },
    async (request) => confirm(callerOf(request), request.params.id, request.id),
  );
  app.get(
    '/api/waitlists/declineOffer/:id',
    {
      config: { roles: WRITERS, readsPatients: entryPatients },
      schema: {
        operationId: 'declineOffer',
        tags: ['waitlists'],
        summary: 'Decline the offer made to a waitlist entry',
        description:
          'On behalf of the entry’s patient, who waits again; a serial offer moves on to the next patient. On a confirming entry: the front office refuses the acceptance.',
        params: idParams,
        response: { 200: waitlistResponse },
      },
    },
    async (request) => refuse(callerOf(request), request.params.id, 'declined', request.id),
  );
  app.get(
    '/api/waitlists/cancelOffer/:id',
    {
      config: { roles: WRITERS, readsPatients: entryPatients },
      schema: {
        operationId: 'withdrawOffer',
        tags: ['waitlists'],
        summary: 'Withdraw the offer from a waitlist entry',
        description: 'Staff take the entry out of its offer (it waits again); a serial offer moves on to the next patient.',
        params: idParams,
        response: { 200: waitlistResponse },
      },
    },
    async (request) => refuse(callerOf(request), request.params.id, 'withdrawn', request.id),
  );
}

/** Routes of the `offers` group. */
export function registerOfferRoutes(app: ServiceApp, offers: OfferQueries, lifecycle: OfferLifecycle, patients: PatientDirectory): void {
  app.get(
    '/api/offers',
    {
      config: { roles: READERS, readsPatients: offerPatients },
      schema: {
        tags,
        summary: 'Offers',
        description: `Paged, newest first. ${FILTERS}`,
        querystring: offerListQuery,
        response: { 200: page },
      },
    },
    async (request) => {
      const { page: p, limit, ...filters } = request.query;
      return offers.list(callerOf(request), { page: p, limit }, filters);
    },
  );
  app.post(
    '/api/offers',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Offer a free slot by hand',
        description:
          'Offers the slot to the best-ranked waiting patients (as /api/waitlists/candidates ranks them), or to the entries named in `waitlists`; protocol, how many and ' +
          "expiry default to the organization's settings. Answers 200 with the offer; 409 when the provider is busy then or nobody fits.",
        body: createOfferBody,
        response: { 200: offerResponse },
      },
    },
    async (request) => lifecycle.create(callerOf(request), request.body, request.id),
  );
  app.get(
    '/api/offers/crudList',
    {
      config: { roles: READERS, readsPatients: offerPatients },
      schema: {
        tags,
        summary: 'Offers, for administration screens',
        description: 'As the list.',
        querystring: offerListQuery,
        response: { 200: page },
      },
    },
    async (request) => {
      const { page: p, limit, ...filters } = request.query;
      return offers.list(callerOf(request), { page: p, limit }, filters);
    },
  );
  app.get(
    '/api/offers/reports/find',
    {
      config: { roles: READERS, readsPatients: offerPatients },
      schema: { tags, summary: 'Offers for reports', description: `${FILTERS}`, querystring: offerListQuery, response: { 200: page } },
    },
    async (request) => {
      const { page: p, limit, ...filters } = request.query;
      return offers.list(callerOf(request), { page: p, limit }, filters);
    },
  );
  app.get(
    '/api/offers/reports/summary',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'Counts of offers',
        description: `By status and source, and the fill rate. ${FILTERS}`,
        querystring: offerSummaryQuery,
        response: { 200: offerSummaryResponse },
      },
    },
    async (request) => offers.summary(callerOf(request), request.query),
  );
  app.get(
    '/api/offers/findByPatientId/:id',
    {
      config: { roles: READERS, readsPatients: patientOfferPatients },
      schema: {
        operationId: 'listPatientOffers',
        tags,
        summary: 'Offers made to a patient',
        description: "Paged, newest first; a patient that is not the organization's answers 404.",
        params: idParams,
        querystring: offerListQuery,
        response: { 200: page },
      },
    },
    async (request) => {
      const identity = callerOf(request);
      await patients.requirePath(identity, request.params.id);
      const { page: p, limit, ...filters } = request.query;
      return offers.list(identity, { page: p, limit }, { ...filters, patient: request.params.id });
    },
  );
  app.get(
    '/api/offers/:id',
    {
      config: { roles: READERS, readsPatients: offerPatients },
      schema: { tags, summary: 'Get an offer', params: idParams, response: { 200: offerResponse } },
    },
    async (request) => offers.get(callerOf(request), request.params.id),
  );
  app.put(
    '/api/offers/:id',
    {
      config: { roles: WRITERS, readsPatients: offerPatients },
      schema: {
        tags,
        summary: 'Change when an offer lapses',
        description: 'Only while in progress (409 otherwise).',
        params: idParams,
        body: updateOfferBody,
        response: { 200: offerResponse },
      },
    },
    async (request) => lifecycle.update(callerOf(request), request.params.id, new Date(request.body.expireAt)),
  );
  app.get(
    '/api/offers/:id/waitlists',
    {
      config: { roles: READERS, readsPatients: entryPatients },
      schema: {
        tags,
        summary: 'The waitlist entries an offer was made to',
        description: 'In rank order, each with its place and state in the offer.',
        params: idParams,
        querystring: listQuery,
        response: { 200: listOf(offerWaitlistResponse) },
      },
    },
    async (request) => offers.waitlists(callerOf(request), request.params.id, request.query),
  );
  app.post(
    '/api/offers/:id/cancel',
    {
      config: { roles: WRITERS, readsPatients: offerPatients },
      schema: {
        tags,
        summary: 'Cancel an offer',
        description:
          'Ends an offer in progress; the patients offered wait again and are told (offer.closed). Cancelling a cancelled offer changes nothing; a finished one answers 409.',
        params: idParams,
        body: noBody,
        response: { 200: offerResponse },
      },
    },
    async (request) => lifecycle.cancel(callerOf(request), request.params.id, request.id),
  );
}

/** The caller of a route as the actor of an offer's change. */
function actorOf(identity: Identity) {
  return { organization: identity.organization, user: identity.user };
}
