import { baseConfigSchema, databasePoolMax, internalAuthSecretSchema, envBoolean, envList, kafkaConfigCheck } from '@pep/service-kit';
import { z } from 'zod';

/**
 * The auth service's environment. Either DATABASE_URL (Postgres) or PGLITE_DIR (embedded) is required,
 * and mail goes either to SMTP_URL or, when that is unset, as .eml files into MAIL_DIR.
 */
export const configSchema = baseConfigSchema
  .extend({
    DATABASE_URL: z.string().url().optional(),
    DATABASE_POOL_MAX: databasePoolMax,
    PGLITE_DIR: z.string().min(1).optional(),
    KAFKA_BROKERS: envList.optional(),
    KAFKA_CLIENT_ID: z.string().default('auth'),
    TOPIC_PREFIX: z.string().default(''),
    INTERNAL_AUTH_SECRET: internalAuthSecretSchema,
    /** Encrypts the private signing keys at rest (AES-256-GCM under a key derived from it). */
    SIGNING_KEY_SECRET: z.string().min(32, 'must be at least 32 characters'),
    SIGNING_KEY_ROTATION_DAYS: z.coerce.number().positive().default(30),
    ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(900),
    /** Base URL of the web app, for links in e-mails (`${PUBLIC_URL}/reset-password/<token>`). */
    PUBLIC_URL: z.string().url().default('http://localhost:3000'),
    SMTP_URL: z.string().url().optional(),
    MAIL_FROM: z.string().min(3).default('no-reply@localhost'),
    MAIL_DIR: z.string().min(1).optional(),
    MIGRATE_ON_START: envBoolean.default(true),
    /** Shared secret of Zendesk's JWT single sign-on; unset, POST /api/tokens/zendesk answers 501. */
    ZENDESK_SHARED_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Base URL of the scheduling service, asked whether a provider, facility or appointment type not heard of yet is the caller's. */
    SCHEDULING_URL: z.string().url(),
    /** How long such a question may take before the request answers 503 with Retry-After. */
    OWNER_LOOKUP_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(2_000),
    /** Base URL of the gateway, which demo practices are seeded through; unset, demo users get no practice (ADR 0023). */
    GATEWAY_URL: z.string().url().optional(),
    /** Largest avatar image accepted, in bytes; keep it under the gateway's BODY_LIMIT_BYTES. */
    AVATAR_MAX_BYTES: z.coerce.number().int().min(1024).max(10_485_760).default(1_000_000),
    /** Highest rate limit (requests a minute) an organization's admin may give an integrator client; operators may go above. */
    INTEGRATOR_RATE_LIMIT_MAX_PER_MINUTE: z.coerce.number().int().min(1).max(60_000).default(6_000),
  })
  .refine((config) => config.DATABASE_URL || config.PGLITE_DIR, {
    message: 'set DATABASE_URL (Postgres) or PGLITE_DIR (embedded)',
    path: ['DATABASE_URL'],
  })
  .refine((config) => config.SMTP_URL || config.MAIL_DIR, {
    message: 'set SMTP_URL, or MAIL_DIR to keep outgoing mail as .eml files',
    path: ['SMTP_URL'],
  })
  .superRefine(kafkaConfigCheck);

export type AuthConfig = z.output<typeof configSchema>;
