import { baseConfigSchema, internalAuthSecretSchema, envList, kafkaConfigCheck } from '@pep/service-kit';
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

/** The gateway's environment; a production gateway must be told which origins may call it. */
export const configSchema = baseConfigSchema
  .extend({
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    /** Where each deployed service listens: `patients=http://patients:8080,auth=http://auth:8080`. */
    UPSTREAMS: upstreams,
    INTERNAL_AUTH_SECRET: internalAuthSecretSchema,
    /** Shown by GET /api/downtimeMessage while a maintenance window is announced. */
    DOWNTIME_MESSAGE: z.string().optional(),
    /** How long to wait for an upstream before answering 504. */
    UPSTREAM_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
    /** The auth service's key set; defaults to the auth upstream's `/.well-known/jwks.json`. */
    JWKS_URL: z.string().url().optional(),
    /** Requests per minute per caller (user when authenticated, else address). */
    RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(600),
    /**
     * Origins browsers may call the API from: a comma list (`https://app.example.com,https://admin.example.com`), or `*`
     * for any origin (logged as a warning). Required in production; development and tests default to `*`.
     */
    CORS_ORIGINS: z
      .string()
      .trim()
      .refine((value) => value === '*' || value.split(',').every((origin) => isOrigin(origin.trim())), {
        message: 'must be * or a comma list of origins, each scheme://host[:port] with no path, e.g. https://app.example.com',
      })
      .optional(),
    /**
     * Proxies in front of the gateway (ingress controller, load balancer) whose X-Forwarded-For and X-Forwarded-Proto it
     * trusts: the client's address is the entry that many hops from the right. It decides rate-limit buckets of callers
     * without a token and the address logs show. Too low (0 behind an ingress): every client appears as the proxy's address
     * and all share one rate limit. Too high: the client's own X-Forwarded-For entries are believed, so a client picks
     * its address (a fresh rate-limit bucket per request). Set it to exactly the number of proxies that append to the header.
     */
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
  })
  .refine((config) => config.NODE_ENV !== 'production' || config.CORS_ORIGINS !== undefined, {
    message:
      'set CORS_ORIGINS in production: the origins of the web apps that call the API (https://app.example.com,...), or * to allow any origin',
    path: ['CORS_ORIGINS'],
  })
  .superRefine(kafkaConfigCheck);

export type GatewayConfig = z.output<typeof configSchema>;

/** The CORS origins the gateway answers: the configured list, or `*` (any) when set so or outside production. */
export function corsOriginsOf(config: Pick<GatewayConfig, 'CORS_ORIGINS'>): '*' | string[] {
  const value = config.CORS_ORIGINS ?? '*';
  return value === '*' ? '*' : value.split(',').map((origin) => origin.trim().replace(/\/$/, ''));
}

function isOrigin(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value.replace(/\/$/, '');
}
