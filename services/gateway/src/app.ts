import { createServiceApp, type Logger, type ServiceApp } from '@pep/service-kit';
import { registerProxyRoutes } from './proxy.routes.js';
import type { ServiceName } from './route-table.js';
import { registerStatusRoutes } from './status.routes.js';

/** What the gateway is built from. */
export interface GatewayDeps {
  logger: Logger;
  upstreams: Partial<Record<ServiceName, string>>;
  internalAuthSecret: string;
  downtimeMessage?: string | undefined;
  bodyLimit?: number;
  upstreamTimeoutMs?: number;
}

/** Builds the gateway: status pages and routing of every `/api/<group>` to its owner. */
export async function buildApp(deps: GatewayDeps): Promise<ServiceApp> {
  const bodyLimit = deps.bodyLimit ?? 1_048_576;
  const app = await createServiceApp({ name: 'gateway', description: 'The public door of the platform.', logger: deps.logger, bodyLimit });
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  registerStatusRoutes(app, { upstreams: deps.upstreams, downtimeMessage: deps.downtimeMessage, isClosing: () => closing });
  await registerProxyRoutes(app, { upstreams: deps.upstreams, timeoutMs: deps.upstreamTimeoutMs ?? 30_000, bodyLimit });
  return app;
}
