import { callerOf, idParams, listOf, patientsInAnswer, type ServiceApp } from '@pep/service-kit';
import type { ReferralShare } from './referral-share.js';
import { referralResponse } from './referral.schemas.js';
import {
  createReferringProviderBody,
  npiSearchQuery,
  npiSearchResponse,
  providerReferralsQuery,
  referringProviderListQuery,
  referringProviderResponse,
  shareBody,
  shareResponse,
  updateReferringProviderBody,
} from './referring-provider.schemas.js';
import type { ReferringProviderService } from './referring-provider.service.js';
import { CURATORS, STAFF } from './roles.js';

const TAGS = ['providers'];

/**
 * Routes of referring providers (`/api/providers/referring`) and the NPI registry search (`/api/providers/npi`). The
 * rest of `/api/providers` is scheduling's; the gateway sends these two longer prefixes here.
 */
export function registerReferringProviderRoutes(app: ServiceApp, providers: ReferringProviderService, shares: ReferralShare): void {
  app.get(
    '/api/providers/referring',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: "The organization's referring providers",
        description:
          'Outside providers who refer patients, by name. `name`: every word somewhere in the name, case and accents ignored; ' +
          '`npi`: exact; `active`: 1 or 0. Paged with page/limit.',
        querystring: referringProviderListQuery,
        response: { 200: listOf(referringProviderResponse) },
      },
    },
    async (request) => providers.list(callerOf(request), request.query),
  );

  app.post(
    '/api/providers/referring',
    {
      config: { roles: CURATORS },
      schema: {
        tags: TAGS,
        summary: 'Add a referring provider',
        description:
          'By hand, or from a GET /api/providers/npi/search result. The NPI, when given, must carry a valid check digit; 409 ' +
          'naming the existing provider when the organization already has one with it.',
        body: createReferringProviderBody,
        response: { 200: referringProviderResponse },
      },
    },
    async (request) => providers.create(callerOf(request), request.body, request.id),
  );

  app.get(
    '/api/providers/referring/:id',
    {
      config: { roles: STAFF },
      schema: { tags: TAGS, summary: 'Get a referring provider', params: idParams, response: { 200: referringProviderResponse } },
    },
    async (request) => providers.get(callerOf(request), request.params.id),
  );

  app.put(
    '/api/providers/referring/:id',
    {
      config: { roles: CURATORS },
      schema: {
        tags: TAGS,
        summary: 'Change a referring provider',
        description: 'Any subset of the fields; `null` clears an optional one. 409 when another provider of the organization has the NPI.',
        params: idParams,
        body: updateReferringProviderBody,
        response: { 200: referringProviderResponse },
      },
    },
    async (request) => providers.update(callerOf(request), request.params.id, request.body, request.id),
  );

  for (const [action, active] of [
    ['activate', true],
    ['deactivate', false],
  ] as const) {
    app.put(
      `/api/providers/referring/:id/${action}`,
      {
        config: { roles: CURATORS },
        schema: {
          tags: TAGS,
          summary: active ? 'Activate a referring provider' : 'Deactivate a referring provider',
          description: `Sets \`active\` to ${active ? 1 : 0}; doing it again changes nothing. Answers the provider.`,
          params: idParams,
          response: { 200: referringProviderResponse },
        },
      },
      async (request) => providers.setActive(callerOf(request), request.params.id, active, request.id),
    );
  }

  app.get(
    '/api/providers/referring/:id/referrals',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags: TAGS,
        summary: "A referring provider's referrals",
        description: 'Live referrals the provider sent, newest first, optionally of one `status`; paged with page/limit.',
        params: idParams,
        querystring: providerReferralsQuery,
        response: { 200: listOf(referralResponse) },
      },
    },
    async (request) => providers.referrals(callerOf(request), request.params.id, request.query),
  );

  app.post(
    '/api/providers/referring/:id/share',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'Tell a referring provider where their referrals stand',
        description:
          "channel=email mails each referral's patient, status and booking date to the provider's e-mail (or `email`); the " +
          'referrals are those named, else the open ones and those changed in the last 30 days. 400 without an address, ' +
          '409 when nothing is left to share, 503 when no mail transport is configured or the mail server fails. Each share ' +
          'sent is recorded (who sent which referrals to which address, when). ' +
          'channel=fax answers 409 fax-not-configured: no fax vendor is integrated yet.',
        params: idParams,
        body: shareBody,
        response: { 200: shareResponse },
      },
    },
    async (request) => shares.share(callerOf(request), request.params.id, request.body, request.id),
  );

  app.get(
    '/api/providers/npi/search',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'Search the national NPI registry',
        description:
          'Asks the NPPES NPI Registry (API v2.1) with its own parameters and answers each record in the provider shape, with ' +
          "`referringProvider` naming the organization's provider of that NPI when it has one. Names match exactly, or by " +
          'their start with a trailing `*`. 400 when the registry refuses the search (no criterion, a state alone); 503 with ' +
          'Retry-After when it does not answer in time.',
        querystring: npiSearchQuery,
        response: { 200: npiSearchResponse },
      },
    },
    async (request) => providers.searchRegistry(callerOf(request), request.query),
  );
}
