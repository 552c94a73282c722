import { callerOf, idParams, type ServiceApp } from '@pep/service-kit';
import { lastStatusResponse, successCountResponse } from './charge.schemas.js';
import type { ChargeService } from './charge.service.js';
import { BILLING_READERS, CHARGE_READERS } from './roles.js';

const TAGS = ['billing'];

/** `GET /api/billing/charges/*`: organizations' charge outcomes, as Stripe reported them. */
export function registerChargeRoutes(app: ServiceApp, charges: ChargeService): void {
  app.get(
    '/api/billing/charges/last-status',
    {
      config: { roles: BILLING_READERS },
      schema: {
        tags: TAGS,
        summary: "The organization's latest charge outcome",
        description:
          'Its most recent payment (by Stripe’s creation time): a charge, or an invoice none of whose charges was received; `status` null when there is none.',
        response: { 200: lastStatusResponse },
      },
    },
    async (request) => charges.lastStatus(callerOf(request)),
  );

  app.get(
    '/api/billing/charges/last-status/:id',
    {
      config: { roles: CHARGE_READERS },
      schema: {
        tags: TAGS,
        summary: "An organization's latest charge outcome",
        description: 'The organization with that id: the caller’s own, or any for a platform admin; 404 otherwise.',
        params: idParams,
        response: { 200: lastStatusResponse },
      },
    },
    async (request) => charges.lastStatusOfOrganization(callerOf(request), request.params.id),
  );

  app.get(
    '/api/billing/charges/success-count',
    {
      config: { roles: BILLING_READERS },
      schema: {
        tags: TAGS,
        summary: "How many of the organization's payments succeeded",
        description: 'A payment Stripe reported both as its charge and as its invoice counts once.',
        response: { 200: successCountResponse },
      },
    },
    async (request) => charges.successCount(callerOf(request)),
  );
}
