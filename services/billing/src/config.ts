import {
  baseConfigSchema,
  databasePoolMax,
  internalAuthSecretSchema,
  clockControlRefinement,
  envBoolean,
  envList,
  kafkaConfigCheck,
} from '@pep/service-kit';
import { z } from 'zod';
import { parsePlans } from './plans.js';

/** A JSON array of plans (see plans.ts), parsed and checked. */
const plansJson = z
  .string()
  .min(1)
  .transform((json, context) => {
    try {
      return parsePlans(json);
    } catch (error) {
      context.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
      return z.NEVER;
    }
  });

/**
 * The billing service's environment. Either DATABASE_URL (Postgres) or PGLITE_DIR (embedded) is required. Without
 * STRIPE_SECRET_KEY billing runs as a sandbox: accounts are kept locally and Stripe is never called.
 */
export const configSchema = baseConfigSchema
  .extend({
    DATABASE_URL: z.string().url().optional(),
    DATABASE_POOL_MAX: databasePoolMax,
    PGLITE_DIR: z.string().min(1).optional(),
    KAFKA_BROKERS: envList.optional(),
    KAFKA_CLIENT_ID: z.string().default('billing'),
    TOPIC_PREFIX: z.string().default(''),
    INTERNAL_AUTH_SECRET: internalAuthSecretSchema,
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
    /** The Stripe meter's `event_name` usage is reported under when the organization's plan names no texting meter. */
    STRIPE_TEXTING_METER: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,100}$/, "a Stripe meter's event name")
      .default('pep_texting_units'),
    /** How often counted usage not yet reported is sent to Stripe. */
    BILLING_USAGE_REPORT_SECONDS: z.coerce.number().int().positive().default(10),
    /** The plans, a JSON array (see plans.ts); absent, the default `standard` plan, whose Stripe prices only the sandbox has. */
    BILLING_PLANS: plansJson.optional(),
    /** Days from a failed payment until the organization is suspended (reads only) unless a payment succeeds. */
    BILLING_GRACE_DAYS: z.coerce.number().int().min(0).default(14),
    /** Days before the grace period's end at which the billing contact is reminded. */
    BILLING_GRACE_REMINDER_DAYS: z.coerce.number().int().min(0).default(3),
    /** How often grace periods are checked for notices to mail and ends to enforce. */
    BILLING_GRACE_POLL_SECONDS: z.coerce.number().int().positive().default(60),
    /** Where grace notices to the billing contact go; without it (and MAIL_DIR) none are sent. */
    SMTP_URL: z.string().url().optional(),
    MAIL_FROM: z.string().min(3).default('no-reply@localhost'),
    /** A folder to keep outgoing mail in as .eml files when there is no SMTP_URL. */
    MAIL_DIR: z.string().min(1).optional(),
    /** Lets `PUT /internal/clock` move the clock grace periods are measured on (end-to-end tests, ADR 0009); refused in production. */
    CLOCK_CONTROL: envBoolean.default(false),
  })
  .refine((config) => config.DATABASE_URL || config.PGLITE_DIR, {
    message: 'set DATABASE_URL (Postgres) or PGLITE_DIR (embedded)',
    path: ['DATABASE_URL'],
  })
  .refine(...clockControlRefinement)
  .superRefine(kafkaConfigCheck);

export type BillingConfig = z.output<typeof configSchema>;
