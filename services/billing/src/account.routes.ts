import { callerOf, HttpProblem, type ServiceApp } from '@pep/service-kit';
import type { FastifyRequest } from 'fastify';
import { accountBody, accountResponse } from './account.schemas.js';
import type { AccountService } from './account.service.js';
import { cardNumberFields } from './card-numbers.js';
import { BILLING_READERS, BILLING_WRITERS } from './roles.js';
import type { UsageService } from './usage.service.js';

const TAGS = ['billing'];

/**
 * Refuses, before validation, a body carrying anything shaped like a card number in any field: billing takes Stripe
 * payment method ids only. The answer names the fields and never the value, and nothing of the body is logged.
 */
async function refuseCardNumbers(request: FastifyRequest): Promise<void> {
  const fields = cardNumberFields(request.body);
  if (fields.length === 0) return;
  throw new HttpProblem(400, 'validation', 'Card numbers are never accepted; send a Stripe payment method id (pm_…) made with Stripe.js.', {
    errors: fields.map((field) => ({ field, message: 'looks like a card number' })),
  });
}

/** `GET/POST/PUT /api/billing`: the caller's organization's billing account, with its current month's usage. */
export function registerAccountRoutes(app: ServiceApp, accounts: AccountService, usage: UsageService): void {
  const withUsage = async <T extends object>(organization: string, account: T) => ({
    ...account,
    usage: await usage.current(organization),
  });

  app.get(
    '/api/billing',
    {
      config: { roles: BILLING_READERS },
      schema: {
        tags: TAGS,
        summary: "The organization's billing account",
        description:
          "Its Stripe customer, billing e-mail, address, tax id and default payment method, and the current month's usage (SMS segments, voice minutes). 404 until it has one.",
        response: { 200: accountResponse },
      },
    },
    async (request) => withUsage(callerOf(request).organization, await accounts.get(callerOf(request))),
  );

  app.post(
    '/api/billing',
    {
      config: { roles: BILLING_WRITERS },
      preValidation: refuseCardNumbers,
      schema: {
        tags: TAGS,
        summary: "Open the organization's billing account",
        description:
          'For an organization that has none yet (accounts are opened when an organization signs up): creates its Stripe customer ' +
          '(once, however often it is asked) and applies the body. 409 when it has one. A body carrying a card number is refused.',
        body: accountBody,
        response: { 200: accountResponse },
      },
    },
    async (request) => withUsage(callerOf(request).organization, await accounts.create(callerOf(request), request.body, request.id)),
  );

  app.put(
    '/api/billing',
    {
      config: { roles: BILLING_WRITERS },
      preValidation: refuseCardNumbers,
      schema: {
        tags: TAGS,
        summary: "Change the organization's billing account",
        description:
          'Changes the Stripe customer first, then the account; fields left out stay, `null` clears. `defaultPaymentMethod` is a ' +
          'Stripe payment method id (pm_…), attached to the customer; a body carrying a card number is refused. 502 when Stripe ' +
          'cannot be reached (nothing changed).',
        body: accountBody,
        response: { 200: accountResponse },
      },
    },
    async (request) => withUsage(callerOf(request).organization, await accounts.update(callerOf(request), request.body, request.id)),
  );
}
