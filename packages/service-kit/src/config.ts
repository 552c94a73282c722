import { z } from 'zod';
import { kafkaConfigShape } from './kafka-config.js';

/** Thrown at startup when the environment does not satisfy a service's config schema; lists every problem at once. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses environment variables with a zod schema, reporting all invalid or missing variables together. */
export function parseConfig<TSchema extends z.ZodType>(
  schema: TSchema,
  env: Record<string, string | undefined> = process.env,
): z.output<TSchema> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`));
}

/** Reads "true"/"false"/"1"/"0" environment values as booleans (z.coerce.boolean treats "false" as true). */
export const envBoolean = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

/** A comma-separated list environment value. */
export const envList = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string()).min(1));

/**
 * `DATABASE_POOL_MAX` of a service with a database: the most Postgres connections one replica holds (default 10). Keep
 * (replicas at the autoscaler's maximum + 1 in a rollout) × this, summed over the services sharing a Postgres server,
 * plus the migration Jobs and operators, within its max_connections less the reserved ones (docs/operations.md).
 */
export const databasePoolMax = z.coerce.number().int().min(1).max(200).optional();

/** Settings every service process shares. */
export const baseConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /**
   * Port `/metrics` is served on instead of PORT (in Kubernetes, the container port named `metrics`), so whatever
   * exposes the main port (the gateway's ingress) never exposes metrics. Unset: `/metrics` stays on PORT.
   */
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest request body accepted, in bytes. */
  BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(1_048_576),
  /** Seconds allowed for a graceful shutdown before the process exits anyway. */
  SHUTDOWN_TIMEOUT_SECONDS: z.coerce.number().positive().default(20),
  /**
   * Kafka consumer session timeout in ms (default 10000): how long a killed member holds its partitions (ADR 0024).
   * Kafka's brokers accept 6000 to 1800000 by default.
   */
  KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6_000).max(1_800_000).optional(),
  /** TLS, SASL and declared topics (kafka-config.ts); check them together with `.superRefine(kafkaConfigCheck)`. */
  ...kafkaConfigShape,
  // OpenTelemetry's standard variables, read by its SDK at start (tracing.ts). Declared here so a malformed value stops
  // the service with a clear message instead of tracing silently going nowhere, and so deployments may set them.
  /** OTLP/HTTP collector base URL (`http://otel-collector:4318`); tracing is off unless this or the next is set. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  /** OTLP/HTTP URL for traces only (`…/v1/traces`), overriding the endpoint above for traces. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  /** Service name on spans (default: the service's own name). */
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  /** Extra resource attributes, `key=value,…` (e.g. `deployment.environment.name=production`). */
  OTEL_RESOURCE_ATTRIBUTES: z.string().optional(),
  /** Sampler: `parentbased_traceidratio` with OTEL_TRACES_SAMPLER_ARG=0.1 keeps one trace in ten. */
  OTEL_TRACES_SAMPLER: z
    .enum(['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'])
    .optional(),
  /** The sampler's argument: the ratio, 0 to 1. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).optional(),
});
