import { isDeepStrictEqual } from 'node:util';
import swaggerUi from '@fastify/swagger-ui';
import { PROBLEM_SCHEMAS, type ServiceApp } from '@pep/service-kit';
import { request as undiciRequest } from 'undici';
import type { ServiceName } from './route-table.js';

interface OpenApiDocument {
  openapi: string;
  info: Record<string, unknown>;
  paths?: Record<string, Record<string, Record<string, unknown>>>;
  components?: {
    schemas?: Record<string, unknown>;
    securitySchemes?: Record<string, unknown>;
    headers?: Record<string, unknown>;
    responses?: Record<string, unknown>;
  };
  tags?: Array<{ name: string; description?: string }>;
  [key: string]: unknown;
}

const DESCRIPTION = [
  'The platform API (v1). Paths, field names and status values follow the product API;',
  'records expose `_id`, creates answer 200 with the created record, lists answer',
  '`{ response, page, limit, total }`. Where the product is silent, REST conventions are followed.',
  'Send the access token as `Authorization: Bearer <token>` or `x-access-token`. Errors are',
  '`application/problem+json`. Endpoints of services not deployed yet answer 501.',
  'Every answer carries `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy`',
  '(IETF draft httpapi-ratelimit-headers): the caller (user or integrator client; address when anonymous) has a',
  'number of requests a minute, the gateway default unless the integrator client was given its own; over it the',
  'answer is 429 with `Retry-After`.',
].join(' ');

/** The rate limit headers of every answer, as OpenAPI header objects. */
const RATE_LIMIT_HEADER_OBJECTS: Record<string, { description: string; schema: Record<string, unknown> }> = {
  'RateLimit-Limit': { description: 'Requests the caller may make in the current window.', schema: { type: 'integer', minimum: 0 } },
  'RateLimit-Remaining': { description: 'Requests left in the current window.', schema: { type: 'integer', minimum: 0 } },
  'RateLimit-Reset': { description: 'Seconds until the window ends and the count starts again.', schema: { type: 'integer', minimum: 0 } },
  'RateLimit-Policy': {
    description: "The caller's quota and window in seconds, e.g. `600;w=60`.",
    schema: { type: 'string', examples: ['600;w=60'] },
  },
};
const RETRY_AFTER = { description: 'Seconds to wait before sending again.', schema: { type: 'integer', minimum: 0 } };
const rateLimitHeaderRefs = Object.fromEntries(
  Object.keys(RATE_LIMIT_HEADER_OBJECTS).map((name) => [name, { $ref: `#/components/headers/${name}` }]),
);

/** An operation with the rate limit headers on each of its answers and the 429 the gateway may answer instead. */
function withRateLimits(operation: Record<string, unknown>): Record<string, unknown> {
  const responses: Record<string, Record<string, unknown>> = {};
  for (const [status, response] of Object.entries((operation['responses'] ?? {}) as Record<string, Record<string, unknown>>)) {
    responses[status] =
      '$ref' in response
        ? response
        : { ...response, headers: { ...((response['headers'] as object | undefined) ?? {}), ...rateLimitHeaderRefs } };
  }
  responses['429'] ??= { $ref: '#/components/responses/RateLimited' };
  return { ...operation, responses };
}

/**
 * Serves one OpenAPI document for the whole API at `/api/docs/json` (UI at `/api/docs`), merged
 * from the gateway's own routes and each deployed service's `/openapi.json`, refreshed every minute.
 */
export async function registerOpenApi(app: ServiceApp, upstreams: Partial<Record<ServiceName, string>>): Promise<void> {
  let merged: OpenApiDocument | null = null;
  let fetchedAt = 0;

  const refresh = async () => {
    const own = app.swagger() as unknown as OpenApiDocument;
    const parts = await Promise.all(
      Object.entries(upstreams).map(async ([service, url]) => {
        try {
          const response = await undiciRequest(`${url}/openapi.json`, { headersTimeout: 3_000, bodyTimeout: 3_000 });
          if (response.statusCode !== 200) return null;
          return { service, document: (await response.body.json()) as OpenApiDocument };
        } catch {
          return null;
        }
      }),
    );
    merged = mergeDocuments(
      own,
      parts.filter((part): part is { service: string; document: OpenApiDocument } => part !== null),
    );
    fetchedAt = Date.now();
  };

  app.addHook('onRequest', async (request) => {
    if (request.url.startsWith('/api/docs') && (merged === null || Date.now() - fetchedAt > 60_000)) await refresh();
  });

  await app.register(swaggerUi, {
    routePrefix: '/api/docs',
    transformSpecificationClone: false,
    transformSpecification: () => merged ?? app.swagger(),
    staticCSP: true,
  });
}

/** Adds `name`'s definition to `into`, failing when another document already gave that name a different definition. */
function addComponent(into: Record<string, unknown>, kind: string, name: string, definition: unknown, service: string): void {
  if (name in into && !isDeepStrictEqual(into[name], definition)) {
    throw new Error(`OpenAPI merge: ${service} defines components.${kind}.${name} differently from another service; rename one`);
  }
  into[name] = definition;
}

/**
 * Merges the services' documents: only `/api/*` paths and the vendors' `/webhooks/*`, tagged by service. Component
 * schemas and responses are shared by name, so a generated client has one `Patient`; two different definitions under
 * one name, or one operationId used twice, fail the merge.
 */
export function mergeDocuments(own: OpenApiDocument, services: Array<{ service: string; document: OpenApiDocument }>): OpenApiDocument {
  const paths: NonNullable<OpenApiDocument['paths']> = {};
  const schemas: Record<string, unknown> = { ...PROBLEM_SCHEMAS };
  const responses: Record<string, unknown> = {};
  const operationIds = new Map<string, string>();
  const addPaths = (document: OpenApiDocument, service: string) => {
    for (const [path, operations] of Object.entries(document.paths ?? {})) {
      if (!path.startsWith('/api/') && !path.startsWith('/webhooks/')) continue;
      paths[path] = { ...(paths[path] ?? {}) };
      for (const [method, operation] of Object.entries(operations)) {
        const id = operation['operationId'];
        const where = `${method.toUpperCase()} ${path}`;
        if (typeof id === 'string') {
          const earlier = operationIds.get(id);
          if (earlier && earlier !== where) throw new Error(`OpenAPI merge: operationId ${id} names both ${earlier} and ${where}`);
          operationIds.set(id, where);
        }
        const tags = Array.isArray(operation['tags']) && operation['tags'].length > 0 ? operation['tags'] : [service];
        paths[path]![method] = withRateLimits({ ...operation, tags, 'x-service': service });
      }
    }
  };
  const addComponents = (document: OpenApiDocument, service: string) => {
    for (const [name, schema] of Object.entries(document.components?.schemas ?? {}))
      addComponent(schemas, 'schemas', name, schema, service);
    for (const [name, response] of Object.entries(document.components?.responses ?? {}))
      addComponent(responses, 'responses', name, response, service);
  };
  addPaths(own, 'gateway');
  addComponents(own, 'gateway');
  for (const { service, document } of services) {
    addPaths(document, service);
    addComponents(document, service);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Patient-engagement platform API', version: '1.0.0', description: DESCRIPTION },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas,
      headers: { ...RATE_LIMIT_HEADER_OBJECTS, 'Retry-After': RETRY_AFTER },
      responses: {
        ...responses,
        RateLimited: {
          description: "Over the caller's rate limit; retry after `Retry-After` seconds.",
          headers: { ...rateLimitHeaderRefs, 'Retry-After': { $ref: '#/components/headers/Retry-After' } },
          content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
        },
      },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        accessToken: { type: 'apiKey', in: 'header', name: 'x-access-token' },
        // Vendors' webhooks name it in their own `security`; the credentials are the ones configured at the vendor.
        vendorBasic: { type: 'http', scheme: 'basic', description: 'HTTP Basic credentials configured for a vendor webhook (Bandwidth).' },
      },
    },
    security: [{ bearer: [] }, { accessToken: [] }],
  };
}
