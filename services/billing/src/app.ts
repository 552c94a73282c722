import '@pep/contracts';
import { createEventedService, TRANSACTION_OPTIONS, type EventedServiceDeps } from '@pep/db';
import type { ServiceApp } from '@pep/service-kit';
import { registerAccountRoutes } from './account.routes.js';
import { AccountService } from './account.service.js';
import { registerChargeRoutes } from './charge.routes.js';
import { ChargeService } from './charge.service.js';
import type { Tx } from './events.js';
import { PrismaClient } from './generated/prisma/client.js';
import { registerNotBuiltRoutes } from './not-built.routes.js';
import { organizationCreatedBindings } from './organization-created.handler.js';
import { createStripeClient, type StripeSettings } from './stripe-client.js';
import { registerStripeWebhookRoutes } from './stripe-webhook.routes.js';

/** What the billing app is built from; main.ts and tests supply it. */
export interface BillingAppDeps extends EventedServiceDeps {
  /** How to reach Stripe; null runs the sandbox: accounts kept locally, Stripe never called. */
  stripe: StripeSettings | null;
  /** The webhook endpoint's signing secret; null refuses every webhook. */
  stripeWebhookSecret: string | null;
  /** Unix seconds now, which the webhook's 300-second tolerance is measured from (default the real clock). */
  now?: () => number;
}

/** Builds the billing service: accounts, charges from Stripe's webhook, and its consumer of organizations signing up. */
export async function buildApp(deps: BillingAppDeps): Promise<ServiceApp> {
  const { app, prisma, unitOfWork, consume } = await createEventedService<Tx, PrismaClient>({
    name: 'billing',
    description:
      'Each organization’s billing account and Stripe customer, and its charges from Stripe’s signed webhooks; subscriptions to come.',
    deps,
    prisma: (adapter) => new PrismaClient({ adapter, transactionOptions: TRANSACTION_OPTIONS }),
  });
  const stripe = createStripeClient(deps.stripe);
  if (!stripe) app.log.warn('no STRIPE_SECRET_KEY: billing runs as a sandbox and never calls Stripe');
  const accounts = new AccountService(prisma, unitOfWork, stripe);
  const charges = new ChargeService(prisma, unitOfWork);
  registerAccountRoutes(app, accounts);
  registerChargeRoutes(app, charges);
  registerStripeWebhookRoutes(app, {
    webhookSecret: deps.stripeWebhookSecret,
    charges,
    ...(deps.now ? { now: deps.now } : {}),
  });
  registerNotBuiltRoutes(app);
  consume('organizations', organizationCreatedBindings(accounts));
  return app;
}
