import { baseConfigSchema } from '@pep/service-kit';
import { z } from 'zod';

/** The embedded platform's environment; every setting has a laptop-friendly default. */
export const configSchema = baseConfigSchema.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Where every service's PGlite database and the bus log live; survives restarts. */
  DATA_DIR: z.string().min(1).default('.data'),
  /** Optional; when absent a random secret is made once and kept in DATA_DIR. */
  INTERNAL_AUTH_SECRET: z.string().min(32).optional(),
  /** Where people (and SMS webhooks) reach the platform, when not http://localhost:PORT (a tunnel, a proxy). */
  PUBLIC_URL: z.string().url().optional(),
  /** Requests a minute the gateway allows each caller without a limit of its own (user when signed in, else address). */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(600),
  /** Highest rate limit an organization's admin may give an integrator client; platform operators may go above. */
  INTEGRATOR_RATE_LIMIT_MAX_PER_MINUTE: z.coerce.number().int().min(1).max(60_000).default(6_000),
  /** `pretty` (one readable line per entry) or `json`; unset, pretty when stdout is a terminal and JSON otherwise. */
  LOG_FORMAT: z.enum(['pretty', 'json']).optional(),
});
export type EmbeddedConfig = z.output<typeof configSchema>;
