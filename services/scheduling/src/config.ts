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

/** The scheduling service's environment. Either DATABASE_URL (Postgres) or PGLITE_DIR (embedded) is required. */
export const configSchema = baseConfigSchema
  .extend({
    DATABASE_URL: z.string().url().optional(),
    DATABASE_POOL_MAX: databasePoolMax,
    PGLITE_DIR: z.string().min(1).optional(),
    KAFKA_BROKERS: envList.optional(),
    KAFKA_CLIENT_ID: z.string().default('scheduling'),
    TOPIC_PREFIX: z.string().default(''),
    INTERNAL_AUTH_SECRET: internalAuthSecretSchema,
    /** The patients service, asked about a patient its events have not told of yet (bookings, waitlists). */
    PATIENTS_URL: z.string().url(),
    /** The auth service, asked whether a v1 booking's `user` is a user of the caller's organization (ADR 0022). */
    AUTH_URL: z.string().url(),
    MIGRATE_ON_START: envBoolean.default(true),
    /** Lets `PUT /internal/clock` move the service's clock (end-to-end tests, ADR 0009); refused in production. */
    CLOCK_CONTROL: envBoolean.default(false),
  })
  .refine((config) => config.DATABASE_URL || config.PGLITE_DIR, {
    message: 'set DATABASE_URL (Postgres) or PGLITE_DIR (embedded)',
    path: ['DATABASE_URL'],
  })
  .refine(...clockControlRefinement)
  .superRefine(kafkaConfigCheck);

export type SchedulingConfig = z.output<typeof configSchema>;
