import { callerOf, idParams, type ServiceApp } from '@pep/service-kit';
import { BILLING_WRITERS, CHARGE_READERS } from './roles.js';
import { subscribeBody, subscriptionResponse, subscriptionsResponse } from './subscription.schemas.js';
import type { SubscriptionService } from './subscription.service.js';

const TAGS = ['billing'];

/** `POST|DELETE /api/billing/subscriptions` and `GET /api/billing/:id/subscriptions`: organizations' subscriptions. */
export function registerSubscriptionRoutes(app: ServiceApp, subscriptions: SubscriptionService): void {
  app.post(
    '/api/billing/subscriptions',
    {
      config: { roles: BILLING_WRITERS },
      schema: {
        tags: TAGS,
        summary: 'Subscribe the organization to a plan',
        description:
          'Billed per active provider per month (the quantity follows scheduling’s providers) plus metered texting when the plan ' +
          'has it. 400 naming `body.plan` for an unknown plan, 404 without a billing account, 409 when already subscribed, 502 ' +
          'when Stripe cannot be reached (nothing stored). In the sandbox the subscription is kept in the local ledger only.',
        body: subscribeBody,
        response: { 200: subscriptionResponse },
      },
    },
    async (request) => subscriptions.subscribe(callerOf(request), request.body.plan, request.id),
  );

  app.delete(
    '/api/billing/subscriptions',
    {
      config: { roles: BILLING_WRITERS },
      schema: {
        tags: TAGS,
        summary: "Cancel the organization's subscription at the end of its period",
        description: 'It stays active until `currentPeriodEnd`; asking again changes nothing. 404 when there is no live subscription.',
        response: { 200: subscriptionResponse },
      },
    },
    async (request) => subscriptions.cancel(callerOf(request), request.id),
  );

  app.get(
    '/api/billing/:id/subscriptions',
    {
      config: { roles: CHARGE_READERS },
      schema: {
        tags: TAGS,
        summary: "An organization's subscriptions",
        description: 'Newest first. The organization with that id: the caller’s own, or any for a platform admin; 404 otherwise.',
        params: idParams,
        response: { 200: subscriptionsResponse },
      },
    },
    async (request) => subscriptions.listOf(callerOf(request), request.params.id),
  );
}
