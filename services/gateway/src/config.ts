import { baseConfigSchema } from '@pep/service-kit';
import { z } from 'zod';
import { SERVICES, type ServiceName } from './route-table.js';

const upstreams = z
  .string()
  .default('')
  .transform((value, context) => {
    const map: Partial<Record<ServiceName, string>> = {};
    for (const entry of value.split(',').map((item) => item.trim()).filter(Boolean)) {
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
});
export type GatewayConfig = z.output<typeof configSchema>;
