import { callerOf, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import {
  availabilityListQuery,
  availabilityResponse,
  bookAvailabilityBody,
  countResponse,
  createAvailabilitiesBody,
  freeBusyQuery,
  freeBusyResponse,
  providerAvailabilitiesQuery,
  schedulerFilters,
  schedulerQuery,
  updateAvailabilitiesBody,
} from './availability.schemas.js';
import type { AvailabilityService } from './availability.service.js';
import { AVAILABILITY_WRITERS, READERS, WRITERS } from './roles.js';
import { idParams, listOf } from './schemas.js';

const page = listOf(availabilityResponse);
const FILTERS =
  'Filter by provider, facility, appointmentType (that type or any), status (the state now) and date with comparisons: `date=>2026-01-01T00:00:00Z&date=<2026-02-01T00:00:00Z`.';
const RANGE =
  '`from` and `to` are instants, or local days of each slot’s facility (`from=2026-03-08&to=2026-03-14` is that week on the facility’s clock, DST changes included); at most 92 days.';
const BOOK =
  'Books the slot for a patient (a live one of the organization: 404 naming the field otherwise, 503 with Retry-After when the patients service cannot be asked): creates the appointment (provider busy then: 409 slot-taken, unless the organization allows double booking) and marks the ' +
  'availability booked. A slot that is not available (offered, booked, expired) or locked answers 409 and nothing changes; of simultaneous bookings exactly one wins. ' +
  'A booked-pending slot (held for this booking) can be booked. Answers the availability with its appointment.';

/** Routes of the `availabilities` and `scheduler` groups and `GET /api/providers/:id/availabilities`. */
export function registerAvailabilityRoutes(app: ServiceApp, availabilities: AvailabilityService): void {
  const tags = ['availabilities'];
  app.get(
    '/api/availabilities',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'Availabilities',
        description: `Paged, soonest first. ${FILTERS}`,
        querystring: availabilityListQuery,
        response: { 200: page },
      },
    },
    async (request) => {
      const { page: p, limit, ...filters } = request.query;
      return availabilities.list(callerOf(request), { page: p, limit }, filters);
    },
  );
  app.post(
    '/api/availabilities',
    {
      config: { roles: AVAILABILITY_WRITERS },
      schema: {
        tags,
        summary: 'Add availabilities',
        description:
          'One availability (answers it), an array of them, or weekly `workingHours` (local days from/until, ISO weekdays, local start/end, slotMinutes) ' +
          'expanded into one availability per slot in the facility’s time zone (both answer the array). All or none; a provider already having an availability ' +
          "at one of the starts answers 409. Provider, facility and type must be the organization's (400 otherwise).",
        body: createAvailabilitiesBody,
        response: { 200: z.union([availabilityResponse, z.array(availabilityResponse)]) },
      },
    },
    async (request) => availabilities.create(callerOf(request), request.body, request.id),
  );
  app.put(
    '/api/availabilities',
    {
      config: { roles: AVAILABILITY_WRITERS },
      schema: {
        tags,
        summary: 'Change availabilities',
        description:
          'An array of changes, each naming `_id`: status (available, booked-pending, booked-by-integrator or expired, as the state machine allows), date, duration, ' +
          'appointmentType, externalId, locked. All or none: a transition not allowed, or moving a slot that is offered, booked or expired, answers 409 naming the change.',
        body: updateAvailabilitiesBody,
        response: { 200: z.array(availabilityResponse) },
      },
    },
    async (request) => availabilities.update(callerOf(request), request.body, request.id),
  );

  app.get(
    '/api/availabilities/freebusy',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: "A provider's free and busy time",
        description: `Busy: the provider's live appointments at any facility. Free: open availabilities (of the facility, when given) minus busy time. Both merged and clipped to the range. ${RANGE}`,
        querystring: freeBusyQuery,
        response: { 200: freeBusyResponse },
      },
    },
    async (request) => availabilities.freeBusy(callerOf(request), request.query),
  );

  app.get(
    '/api/availabilities/:id',
    {
      config: { roles: READERS },
      schema: { tags, summary: 'Get an availability', params: idParams, response: { 200: availabilityResponse } },
    },
    async (request) => availabilities.get(callerOf(request), request.params.id),
  );

  for (const [method, url] of [
    ['PUT', '/api/availabilities/:id/book'],
    ['POST', '/api/availabilities/book/:id'],
  ] as const) {
    app.route({
      method,
      url,
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Book an availability',
        description: BOOK,
        params: idParams,
        body: bookAvailabilityBody,
        response: { 200: availabilityResponse },
      },
      handler: async (request) => availabilities.book(callerOf(request), request.params.id, request.body, request.id),
    });
  }

  app.get(
    '/api/providers/:id/availabilities',
    {
      config: { roles: READERS },
      schema: {
        tags: ['providers'],
        summary: "A provider's availabilities",
        description: "Paged, soonest first; the same filters as the availabilities list. Another organization's provider answers 404.",
        params: idParams,
        querystring: providerAvailabilitiesQuery,
        response: { 200: page },
      },
    },
    async (request) => {
      const { page: p, limit, ...filters } = request.query;
      return availabilities.ofProvider(callerOf(request), request.params.id, { page: p, limit }, filters);
    },
  );

  const OPEN =
    'Open slots: available, unlocked, future availabilities of schedulable providers, lying within the range, that no live (not cancelled) appointment of the provider overlaps, ' +
    'for the provider, facility and appointment type asked for (a type matches slots for it, or for any type and long enough).';
  const PAGES =
    'Paged, soonest first: `page` and `limit` as everywhere, and while more follow, `Link: <…&after=…>; rel="next"` resumes after the last slot of the page ' +
    '(cheap at any depth; its pages keep the total the listing began with). Follow it until it is missing.';
  app.get(
    '/api/scheduler/availabilities',
    {
      config: { roles: READERS },
      schema: {
        tags: ['scheduler'],
        summary: 'Open slots',
        description: `${OPEN} ${PAGES} ${RANGE}`,
        querystring: schedulerQuery,
        response: {
          200: page.meta({
            headers: { Link: { type: 'string', description: 'RFC 8288 link to the next page (with `after`); none on the last page.' } },
          }),
        },
      },
    },
    async (request, reply) => {
      const { page: p, limit, after, ...filters } = request.query;
      const answer = await availabilities.openSlots(callerOf(request), { page: p, limit, after }, filters);
      if (answer.next) reply.header('link', `<${nextPageUrl(request.url, p + 1, answer.next)}>; rel="next"`);
      return answer.page;
    },
  );
  app.get(
    '/api/scheduler/availabilities/count',
    {
      config: { roles: READERS },
      schema: {
        tags: ['scheduler'],
        summary: 'How many open slots',
        description: `${OPEN} ${RANGE}`,
        querystring: schedulerFilters,
        response: { 200: countResponse },
      },
    },
    async (request) => availabilities.countOpenSlots(callerOf(request), request.query),
  );
}

// Path-absolute, as the kit's header paging writes it (ADR 0022): it resolves against whatever host was called.
function nextPageUrl(requestUrl: string, page: number, after: string): string {
  const [path, query = ''] = requestUrl.split('?', 2) as [string, string?];
  const params = new URLSearchParams(query);
  params.set('page', String(page));
  params.set('after', after);
  return `${path}?${params.toString()}`;
}
