import { baseConfigSchema, envBoolean, envList } from '@pep/service-kit';
import { z } from 'zod';

/**
 * The billing service's environment. Either DATABASE_URL (Postgres) or PGLITE_DIR (embedded) is required. Without
 * STRIPE_SECRET_KEY billing runs as a sandbox: accounts are kept locally and Stripe is never called.
 */
export const configSchema = baseConfigSchema
  .extend({
    DATABASE_URL: z.string().url().optional(),
    PGLITE_DIR: z.string().min(1).optional(),
    KAFKA_BROKERS: envList.optional(),
    KAFKA_CLIENT_ID: z.string().default('billing'),
    TOPIC_PREFIX: z.string().default(''),
    INTERNAL_AUTH_SECRET: z.string().min(32, 'must be at least 32 characters'),
    MIGRATE_ON_START: envBoolean.default(true),
    /** Stripe's secret (or restricted) key, `sk_live_…`/`sk_test_…`/`rk_…`; absent, billing is a sandbox. */
    STRIPE_SECRET_KEY: z.string().min(1).optional(),
    /** Where Stripe's API is (`https://api.stripe.com` unless a local fake or proxy stands in). */
    STRIPE_API_BASE: z.string().url().optional(),
    /** The webhook endpoint's signing secret (`whsec_…`); absent, every webhook is refused. */
    STRIPE_WEBHOOK_SECRET: z.string().min(1).optional(),
    /** How long one Stripe call may take before it fails (and the event or request is retried). */
    STRIPE_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
    /** Retries of a Stripe call the SDK makes on network errors and 5xx (with the same idempotency key). */
    STRIPE_MAX_NETWORK_RETRIES: z.coerce.number().int().min(0).default(2),
  })
  .refine((config) => config.DATABASE_URL || config.PGLITE_DIR, {
    message: 'set DATABASE_URL (Postgres) or PGLITE_DIR (embedded)',
    path: ['DATABASE_URL'],
  });

export type BillingConfig = z.output<typeof configSchema>;
