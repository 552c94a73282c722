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

/** The patients service's environment. Either DATABASE_URL (Postgres) or PGLITE_DIR (embedded) is required. */
export const configSchema = baseConfigSchema
  .extend({
    DATABASE_URL: z.string().url().optional(),
    DATABASE_POOL_MAX: databasePoolMax,
    PGLITE_DIR: z.string().min(1).optional(),
    KAFKA_BROKERS: envList.optional(),
    KAFKA_CLIENT_ID: z.string().default('patients'),
    TOPIC_PREFIX: z.string().default(''),
    INTERNAL_AUTH_SECRET: internalAuthSecretSchema,
    MIGRATE_ON_START: envBoolean.default(true),
    /** The NPPES NPI Registry API that GET /api/providers/npi/search asks (version 2.1). */
    NPPES_API_URL: z.string().url().default('https://npiregistry.cms.hhs.gov/api/'),
    /** How long one registry search may take before the request answers 503. */
    NPPES_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
    /** How often referrals past their expireAt are looked for and expired, in seconds. */
    REFERRAL_EXPIRY_SECONDS: z.coerce.number().int().positive().default(60),
    /** Where referral statuses shared with referring providers are mailed; without it (and MAIL_DIR) sharing by e-mail answers 503. */
    SMTP_URL: z.string().url().optional(),
    MAIL_FROM: z.string().min(3).default('no-reply@localhost'),
    /** A folder to keep outgoing mail in as .eml files when there is no SMTP_URL. */
    MAIL_DIR: z.string().min(1).optional(),
    /** Lets `PUT /internal/clock` move the service's clock (end-to-end tests, ADR 0009); refused in production. */
    CLOCK_CONTROL: envBoolean.default(false),
  })
  .refine((config) => config.DATABASE_URL || config.PGLITE_DIR, {
    message: 'set DATABASE_URL (Postgres) or PGLITE_DIR (embedded)',
    path: ['DATABASE_URL'],
  })
  .refine(...clockControlRefinement)
  .superRefine(kafkaConfigCheck);

export type PatientsConfig = z.output<typeof configSchema>;
