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
import { DEFAULT_PLANS, type Plan } from './plans.js';
import { providerBindings } from './providers.handlers.js';
import { registerSubscriptionRoutes } from './subscription.routes.js';
import { SubscriptionService } from './subscription.service.js';
import { chargeOutcomeBindings } from './charge-outcome.handler.js';
import { createMailer, runPeriodically, type Mailer, type MailerConfig } from '@pep/service-kit';
import { StandingService, type GraceSettings } from './standing.service.js';
import { messageSentBindings } from './message-sent.handler.js';
import { UsageReporter, type UsageReporterOptions } from './usage-reporter.js';
import { UsageService } from './usage.service.js';
import { topics } from './topics.js';

/** What the billing app is built from; main.ts and tests supply it. */
export interface BillingAppDeps extends EventedServiceDeps {
  /** How to reach Stripe; null runs the sandbox: accounts kept locally, Stripe never called. */
  stripe: StripeSettings | null;
  /** The webhook endpoint's signing secret; null refuses every webhook. */
  stripeWebhookSecret: string | null;
  /** Unix seconds now, which the webhook's 300-second tolerance is measured from (default the real clock). */
  now?: () => number;
  /** The plans organizations may subscribe to (default {@link DEFAULT_PLANS}). */
  plans?: ReadonlyArray<Plan>;
  /** The time grace periods and the sandbox's subscription periods are measured with; tests move it (default the real clock). */
  clock?: () => Date;
  /** How long a grace period lasts and when its reminder goes out (default 14 days, reminder 3 days before the end). */
  grace?: Partial<GraceSettings>;
  /** How often the grace poller looks for notices to mail and grace periods that ended (default 60 s). */
  gracePollIntervalMs?: number;
  /** Where grace notices to the billing contact go; null sends none (logged). */
  mailer?: MailerConfig | Mailer | null;
  /**
   * The Stripe meter usage is reported to when the organization's plan names none (default `pep_texting_units`), and how
   * often the reporter runs (default 10 s).
   */
  usageReports?: Partial<UsageReporterOptions>;
}

/** Builds the billing service: accounts, charges from Stripe's webhook, and its consumer of organizations signing up. */
export async function buildApp(deps: BillingAppDeps): Promise<ServiceApp> {
  const { app, prisma, unitOfWork, consume, background, beforeClose } = await createEventedService<Tx, PrismaClient>({
    name: 'billing',
    topics,
    description:
      'Each organization’s billing account and Stripe customer, its subscriptions to plans billed per active provider, and its charges from Stripe’s signed webhooks.',
    deps,
    prisma: (adapter) => new PrismaClient({ adapter, transactionOptions: TRANSACTION_OPTIONS }),
  });
  const stripe = createStripeClient(deps.stripe);
  if (!stripe) app.log.warn('no STRIPE_SECRET_KEY: billing runs as a sandbox and never calls Stripe');
  const accounts = new AccountService(prisma, unitOfWork, stripe);
  const subscriptions = new SubscriptionService(prisma, unitOfWork, stripe, deps.plans ?? DEFAULT_PLANS, deps.clock ?? (() => new Date()));
  const charges = new ChargeService(prisma, unitOfWork, (tx, emit, event) => subscriptions.applyStripeEvent(tx, emit, event));
  const usage = new UsageService(prisma, unitOfWork, stripe !== null, deps.clock ?? (() => new Date()));
  registerAccountRoutes(app, accounts, usage);
  registerChargeRoutes(app, charges);
  registerSubscriptionRoutes(app, subscriptions);
  registerStripeWebhookRoutes(app, {
    webhookSecret: deps.stripeWebhookSecret,
    charges,
    ...(deps.now ? { now: deps.now } : {}),
  });
  registerNotBuiltRoutes(app);
  consume('organizations', organizationCreatedBindings(accounts));
  consume('providers', providerBindings(subscriptions));
  consume('usage', messageSentBindings(usage));
  if (stripe) {
    const reporter = new UsageReporter(
      unitOfWork,
      stripe,
      deps.logger.child({ component: 'usage-reports' }),
      { meterEventName: 'pep_texting_units', ...deps.usageReports },
      deps.plans ?? DEFAULT_PLANS,
    );
    background(() => {
      reporter.start();
      return () => reporter.stop();
    });
  }
  const mailer = deps.mailer ? ('send' in deps.mailer ? deps.mailer : createMailer(deps.mailer)) : null;
  const standing = new StandingService(
    prisma,
    unitOfWork,
    { days: deps.grace?.days ?? 14, reminderDaysBefore: deps.grace?.reminderDaysBefore ?? 3 },
    deps.clock ?? (() => new Date()),
    mailer,
    deps.logger.child({ component: 'grace' }),
  );
  consume('standing', chargeOutcomeBindings(standing));
  // One tick at a time (PeriodicTask): a slow SMTP server must not stack ticks up.
  background(() =>
    runPeriodically(
      () => standing.tick(),
      deps.gracePollIntervalMs ?? 60_000,
      (error) => deps.logger.warn({ err: { message: error.message } }, 'grace poll failed'),
    ),
  );
  beforeClose(() => mailer?.close());
  return app;
}
