import type { AnyApp } from './service-app.js';

/** A dependency the service cannot serve without; readiness fails while any check fails. */
export type ReadinessCheck = () => Promise<boolean>;

/** Liveness and readiness endpoints. Readiness also fails from the moment shutdown starts. */
export function registerHealth(app: AnyApp, checks: Record<string, ReadinessCheck>): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.get('/health/live', { schema: { hide: true }, logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
    const results: Record<string, 'ok' | 'failing'> = {};
    await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        const ok = await withTimeout(check(), 2_000).catch(() => false);
        results[name] = ok ? 'ok' : 'failing';
      }),
    );
    const ready = !closing && Object.values(results).every((result) => result === 'ok');
    reply.code(ready ? 200 : 503);
    return { status: ready ? 'ok' : closing ? 'shutting-down' : 'unavailable', checks: results };
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
