import { literalOperationId } from './openapi.js';
import { HttpProblem } from './problem.js';
import type { ServiceApp } from './service-app.js';

/** An HTTP method of a v1 endpoint. */
export type EndpointMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** A v1 endpoint: method and path as the product lists it. */
export type Endpoint = readonly [EndpointMethod, string];

/**
 * Registers v1 endpoints a service owns but does not serve yet, each answering 501 problem+json so clients and the
 * gateway see an honest "not built" rather than a stand-in answer or a 404.
 */
export function registerNotBuilt(app: ServiceApp, service: string, endpoints: ReadonlyArray<Endpoint>): void {
  for (const [method, url] of endpoints) {
    app.route({
      method,
      url,
      schema: {
        tags: [url.split('/')[2] ?? service],
        summary: 'Not built yet',
        // Spelled out from the whole path, so placeholders never take a name a built route would want.
        operationId: literalOperationId(method, url),
        description: `Part of the v1 API owned by the ${service} service; answers 501 until it is built.`,
      },
      handler: async () => {
        throw new HttpProblem(501, 'not-implemented', `${method} ${url} is not built yet.`);
      },
    });
  }
}
