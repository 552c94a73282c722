import { baseConfigSchema, envList } from '@pep/service-kit';
import { z } from 'zod';
import { SERVICES, type ServiceName } from './route-table.js';

const upstreams = z
  .string()
  .default('')
  .transform((value, context) => {
    const map: Partial<Record<ServiceName, string>> = {};
    for (const entry of value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean)) {
      const [name, url] = entry.split('=', 2).map((part) => part.trim());
      if (!name || !url || !(SERVICES as readonly string[]).includes(name) || !URL.canParse(url)) {
        context.addIssue({ code: 'custom', message: `"${entry}" is not <service>=<url> with a known service` });
        continue;
      }
      map[name as ServiceName] = url.replace(/\/$/, '');
    }
    return map;
  });

/** The gateway's environment. */
export const configSchema = baseConfigSchema.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Where each deployed service listens: `patients=http://patients:8080,auth=http://auth:8080`. */
  UPSTREAMS: upstreams,
  INTERNAL_AUTH_SECRET: z.string().min(32, 'must be at least 32 characters'),
  /** Shown by GET /api/downtimeMessage while a maintenance window is announced. */
  DOWNTIME_MESSAGE: z.string().optional(),
  /** How long to wait for an upstream before answering 504. */
  UPSTREAM_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  /** The auth service's key set; defaults to the auth upstream's `/.well-known/jwks.json`. */
  JWKS_URL: z.string().url().optional(),
  /** Requests per minute per caller (user when authenticated, else address). */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(600),
  /** Origins allowed by CORS: `*` or a comma list of origins. */
  CORS_ORIGINS: z.string().default('*'),
  /** Proxy hops in front of the gateway whose X-Forwarded-For is trusted (0 = none). */
  TRUST_PROXY_HOPS: z.coerce.number().int().min(0).default(0),
  /** Kafka brokers to follow auth's revocation events on (`host:port,...`); every replica reads every event. */
  KAFKA_BROKERS: envList.refine((brokers) => brokers.length > 0, 'list at least one broker: host:port,...'),
  KAFKA_CLIENT_ID: z.string().default('gateway'),
  /** Prefix of every topic and consumer group, as the services use it. */
  TOPIC_PREFIX: z.string().default(''),
  /** How often the revocation snapshot is reloaded from auth. */
  REVOCATION_REFRESH_SECONDS: z.coerce.number().int().positive().default(15),
  /** How long the revocation feed may go unconfirmed before token-bearing requests answer 503 (fail closed). */
  REVOCATION_MAX_STALENESS_SECONDS: z.coerce.number().int().positive().default(60),
  /** Names this replica's consumer group (default: host name, process id and a random part). */
  GATEWAY_REPLICA_ID: z.string().min(1).optional(),
});
export type GatewayConfig = z.output<typeof configSchema>;
