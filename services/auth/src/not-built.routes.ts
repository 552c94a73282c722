import { HttpProblem, type ServiceApp } from '@pep/service-kit';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * v1 endpoints auth owns but does not serve yet. Each answers 501 problem+json, so clients and the gateway
 * see an honest "not built" instead of a stand-in answer.
 */
export const NOT_BUILT: ReadonlyArray<readonly [Method, string]> = [];

const COLLECTIONS = new Set<string>([]);

/** Registers every {@link NOT_BUILT} endpoint (and the trailing-slash form of collection roots) as 501. */
export function registerNotBuiltRoutes(app: ServiceApp): void {
  for (const [method, url] of NOT_BUILT) {
    const urls = COLLECTIONS.has(url) ? [url, `${url}/`] : [url];
    urls.forEach((path, index) =>
      app.route({
        method,
        url: path,
        schema: {
          hide: index > 0,
          tags: [url.split('/')[2] ?? 'auth'],
          summary: 'Not built yet',
          description: 'Part of the v1 API owned by the auth service; answers 501 until it is built.',
        },
        handler: async () => {
          throw new HttpProblem(501, 'not-implemented', `${method} ${url} is not built yet.`);
        },
      }),
    );
  }
}
