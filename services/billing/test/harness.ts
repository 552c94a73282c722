import { startServiceUnderTest, TEST_INTERNAL_SECRET, headersOf, type ServiceUnderTest } from '@pep/db/testing';
import { createLogger, type Identity } from '@pep/service-kit';
import { signStripeWebhook, type StripeFake } from '@pep/testing';
import { buildApp, type BillingAppDeps } from '../src/app.js';
import { migrationsDir } from '../src/migrations.js';

export const SECRET = TEST_INTERNAL_SECRET;
/** The webhook endpoint secret the services under test verify Stripe's signatures with. */
export const WEBHOOK_SECRET = 'whsec_test_billing_0123456789abcdef';

/** A billing service on its own fresh Postgres database and topic prefix, on the given brokers. */
export type BillingUnderTest = ServiceUnderTest;

/** How a test's billing service is set up. */
export interface BillingTestOptions {
  /** The Stripe fake to call; null runs the sandbox (no Stripe). */
  stripe: StripeFake | null;
  maxEventAttempts?: number;
  /** Unix seconds the webhook's tolerance is measured from. */
  now?: () => number;
  /** Where the service's log lines go (at debug level), for tests that read them. */
  logTo?: NodeJS.WritableStream;
  /** More of the app's dependencies (clock, grace settings, mailer, …), as given. */
  deps?: Partial<Omit<BillingAppDeps, 'stripe' | 'stripeWebhookSecret'>>;
  /** The database and topic prefix of an instance started before (a restart), kept when this one closes. */
  databaseUrl?: string;
  topicPrefix?: string;
}

export function startBilling(label: string, brokers: string[], options: BillingTestOptions): Promise<BillingUnderTest> {
  return startServiceUnderTest({
    service: 'billing',
    label,
    brokers,
    migrationsDir,
    ...(options.maxEventAttempts !== undefined ? { maxEventAttempts: options.maxEventAttempts } : {}),
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(options.topicPrefix ? { topicPrefix: options.topicPrefix } : {}),
    build: (deps) =>
      buildApp({
        ...deps,
        ...(options.logTo ? { logger: createLogger({ service: 'billing', level: 'debug', destination: options.logTo }) } : {}),
        stripe: options.stripe
          ? { secretKey: options.stripe.secretKey, apiBase: options.stripe.url, maxNetworkRetries: 0, timeoutMs: 5_000 }
          : null,
        stripeWebhookSecret: WEBHOOK_SECRET,
        ...(options.now ? { now: options.now } : {}),
        ...options.deps,
      }),
  });
}

/** Headers of a request made by a member of the organization, as the gateway would send them. */
export const as: (identity: Identity) => Promise<Record<string, string>> = headersOf;

/** A webhook request as Stripe sends it: the JSON payload and its signature (at `timestamp`, default now). */
export function signedWebhook(event: unknown, options: { secret?: string; timestamp?: number } = {}) {
  const payload = JSON.stringify(event);
  return {
    method: 'POST' as const,
    url: '/api/callback/stripe/charges',
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'stripe-signature': signStripeWebhook(payload, options.secret ?? WEBHOOK_SECRET, options.timestamp),
    },
    payload,
  };
}

export const orgA: Identity = { organization: '7d0a4ad4-1f7b-4c55-9a0e-5a9f3f1b0a01', user: 'user-a', roles: ['admin'] };
export const orgB: Identity = { organization: '7d0a4ad4-1f7b-4c55-9a0e-5a9f3f1b0b02', user: 'user-b', roles: ['admin'] };
export const platformAdmin: Identity = {
  organization: '7d0a4ad4-1f7b-4c55-9a0e-5a9f3f1b0c03',
  user: 'operator',
  roles: ['platform-admin'],
};
