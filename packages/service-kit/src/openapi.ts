import type { RouteOptions } from 'fastify';
import type { RouteAccess } from './route-access.js';
import type { AnyApp } from './service-app.js';

/** An OpenAPI 3.1 document as the kit shapes it; only the parts read here are typed. */
export interface OpenApiObject {
  paths?: Record<string, Record<string, unknown>>;
  components?: { schemas?: Record<string, unknown>; responses?: Record<string, unknown>; [kind: string]: unknown };
  [key: string]: unknown;
}

type Operation = {
  operationId?: string;
  parameters?: Array<{ in?: string; name?: string }>;
  requestBody?: unknown;
  security?: unknown[];
  responses?: Record<string, unknown>;
};

const WRITES = new Set(['post', 'put', 'patch', 'delete']);

function words(segment: string): string[] {
  return segment
    .replace(/\(.*\)$/, '')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean);
}

function pascal(segment: string): string {
  return words(segment)
    .map((word) => word[0]!.toUpperCase() + word.slice(1))
    .join('');
}

// English plurals as the product's resources spell them: availabilities, offers, status (not a plural).
function singular(word: string): string {
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('s') && !word.endsWith('ss') && !word.endsWith('us')) return word.slice(0, -1);
  return word;
}

/**
 * The operationId a route gets unless it declares one: a verb from the method and the path's resource, e.g.
 * `GET /api/patients` → `listPatients`, `POST /api/patients` → `createPatient`, `GET /api/patients/:id` → `getPatient`,
 * `PUT /api/appointments/:id/confirm` → `confirmAppointment`, `POST /api/patients/merge` → `mergePatients`; other paths
 * join their static segments, `GET /api/patients/:id/journey` → `getPatientJourney`.
 */
export function operationIdFor(method: string, url: string): string {
  const verb = method.toLowerCase();
  const segments = url
    .replace(/^\/api\//, '/')
    .split('/')
    .filter(Boolean)
    .map((segment) => (segment === '*' ? 'any' : segment));
  const isParam = (segment: string | undefined) => segment?.startsWith(':') ?? false;
  const [resource = 'root', ...rest] = segments;
  const byId = isParam(rest[0]);
  const tail = byId ? rest.slice(1) : rest;
  const subject = byId ? pascal(singular(resource)) : pascal(resource);
  if (tail.length === 0) {
    if (verb === 'get') return byId ? `get${subject}` : `list${subject}`;
    if (verb === 'post') return byId ? `post${subject}` : `create${pascal(singular(resource))}`;
    return `${verb === 'put' ? 'update' : verb}${subject}`;
  }
  // A write naming an action on a record or on the collection: `confirmAppointment`, `mergePatients`.
  if (verb !== 'delete' && WRITES.has(verb) && tail.length === 1 && !isParam(tail[0])) {
    const action = pascal(tail[0]!);
    return `${action[0]!.toLowerCase()}${action.slice(1)}${subject}`;
  }
  const rendered = tail.map((segment) => (isParam(segment) ? `By${pascal(segment.replace(/\?$/, ''))}` : pascal(segment))).join('');
  return `${verb === 'put' ? 'update' : verb}${subject}${rendered}`;
}

/** The method and every segment of the path, e.g. `PUT /api/fileUploads/:id/binary` → `putFileUploadsByIdBinary`. */
export function literalOperationId(method: string, url: string): string {
  const rendered = url
    .replace(/^\/api\//, '/')
    .split('/')
    .filter(Boolean)
    .map((segment) => (segment.startsWith(':') ? `By${pascal(segment.replace(/\?$/, ''))}` : segment === '*' ? 'Any' : pascal(segment)))
    .join('');
  return `${method.toLowerCase()}${rendered}`;
}

/** What the document needs to know about a route beyond its schema: who may call it. */
interface RouteFacts {
  roles: RouteAccess | undefined;
}

/** The operationIds of an app's routes and what each route declares, read as the routes are registered. */
export interface OperationIndex {
  facts(operationId: string): RouteFacts | undefined;
}

/**
 * Gives every documented route an operationId (its own `schema.operationId`, else {@link operationIdFor}) and fails the
 * registration of a second route with the same id, so a generated client has one stable, unique name per operation.
 */
export function registerOperationIds(app: AnyApp): OperationIndex {
  const byId = new Map<string, RouteFacts & { route: string }>();
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = (route.schema ?? {}) as { hide?: boolean; operationId?: string };
    const methods = [route.method].flat().filter((method) => method !== 'HEAD' && method !== 'OPTIONS');
    if (schema.hide || methods.length !== 1) return;
    const operationId = schema.operationId ?? operationIdFor(methods[0]!, route.url);
    const where = `${methods[0]} ${route.url}`;
    const earlier = byId.get(operationId);
    if (earlier && earlier.route !== where) throw new Error(`operationId ${operationId} of ${where} is already ${earlier.route}'s`);
    byId.set(operationId, { route: where, roles: route.config?.roles });
    route.schema = { ...schema, operationId };
  });
  return { facts: (operationId) => byId.get(operationId) };
}

const REF = (kind: 'schemas' | 'responses', name: string) => ({ $ref: `#/components/${kind}/${name}` });

const problemContent = { 'application/problem+json': { schema: REF('schemas', 'Problem') } };

/** The problem+json schemas every service's document carries (see `problem.ts`). */
export const PROBLEM_SCHEMAS: Record<string, unknown> = {
  InvalidField: {
    type: 'object',
    description: 'One invalid field of a request.',
    properties: {
      field: {
        type: 'string',
        description: 'Where the field is: `body.phone`, `querystring.page`, `params.id`.',
        examples: ['body.phone'],
      },
      message: { type: 'string', examples: ['not a valid phone number'] },
    },
    required: ['field', 'message'],
  },
  Problem: {
    type: 'object',
    description: 'RFC 9457 problem details, the one error shape every endpoint answers with.',
    properties: {
      type: { type: 'string', format: 'uri-reference', examples: ['/problems/not-found'] },
      title: { type: 'string', examples: ['Not Found'] },
      status: { type: 'integer', minimum: 400, maximum: 599, examples: [404] },
      detail: { type: 'string', examples: ['patient not found'] },
      instance: { type: 'string', description: 'The path asked for.', examples: ['/api/patients/0b6f1f5e-3c1d-4a8e-9b7a-2f4e5d6c7b8a'] },
      requestId: { type: 'string', description: 'Quote it to support.', examples: ['5c1e2f0a-7d3b-4c9e-8a6f-1b2c3d4e5f60'] },
      errors: { type: 'array', items: REF('schemas', 'InvalidField'), description: 'The fields at fault, for validation errors.' },
    },
    required: ['type', 'title', 'status'],
  },
};

/** The 4xx answers operations refer to, each a problem+json document. */
export const PROBLEM_RESPONSES: Record<string, { description: string; content: typeof problemContent }> = {
  BadRequest: {
    description: 'The request is invalid: malformed JSON, or fields that fail validation (listed in `errors`).',
    content: problemContent,
  },
  Unauthorized: { description: 'No valid access token was sent.', content: problemContent },
  Forbidden: { description: "The caller's role may not do this.", content: problemContent },
  NotFound: {
    description: 'No such record in the caller’s organization (another organization’s records answer the same).',
    content: problemContent,
  },
  Conflict: {
    description:
      'Conflict: the record changed under the request (a lost race), or a request with the same Idempotency-Key is still running (Retry-After), or it took effect but its answer was not kept.',
    content: problemContent,
  },
  IdempotencyKeyReused: { description: 'The Idempotency-Key was already used for a different request.', content: problemContent },
  PayloadTooLarge: { description: 'The request body is over the size limit.', content: problemContent },
  UnsupportedMediaType: { description: 'The body is not `application/json`.', content: problemContent },
};

/**
 * Lists on every operation the problem answers it can give, as references to {@link PROBLEM_RESPONSES}: 400 where
 * anything is validated, 401/403 where the route declares roles, 404 on a path with parameters, 409 on writes, 413/415
 * where a body is taken. An answer the route documents itself is kept.
 */
export function documentProblems<T extends OpenApiObject>(document: T, index: OperationIndex): T {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, operations] of Object.entries(document.paths ?? {})) {
    paths[path] = {};
    for (const [method, value] of Object.entries(operations)) {
      const operation = value as Operation;
      const roles = operation.operationId ? index.facts(operation.operationId)?.roles : undefined;
      const parameters = operation.parameters ?? [];
      const problems: Record<string, unknown> = {};
      if (operation.requestBody || parameters.some((parameter) => parameter.name !== 'Idempotency-Key'))
        problems['400'] = REF('responses', 'BadRequest');
      if (Array.isArray(roles)) {
        problems['401'] = REF('responses', 'Unauthorized');
        problems['403'] = REF('responses', 'Forbidden');
      }
      if (parameters.some((parameter) => parameter.in === 'path')) problems['404'] = REF('responses', 'NotFound');
      if (WRITES.has(method)) problems['409'] = REF('responses', 'Conflict');
      if (operation.requestBody) {
        problems['413'] = REF('responses', 'PayloadTooLarge');
        problems['415'] = REF('responses', 'UnsupportedMediaType');
      }
      paths[path]![method] = { ...operation, responses: { ...problems, ...(operation.responses ?? {}) } };
    }
  }
  return {
    ...document,
    paths,
    components: {
      ...document.components,
      schemas: { ...(document.components?.schemas ?? {}), ...PROBLEM_SCHEMAS },
      responses: { ...(document.components?.responses ?? {}), ...PROBLEM_RESPONSES },
    },
  };
}

const NAMED_FORMATS = new Set(['uuid', 'email', 'date-time', 'date']);

function withoutFormatPatterns(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutFormatPatterns);
  if (value === null || typeof value !== 'object') return value;
  const node = value as Record<string, unknown>;
  const drop = typeof node['format'] === 'string' && NAMED_FORMATS.has(node['format']) && typeof node['pattern'] === 'string';
  return Object.fromEntries(
    Object.entries(node).flatMap(([key, child]) => (drop && key === 'pattern' ? [] : [[key, withoutFormatPatterns(child)]])),
  );
}

/**
 * Drops the regular expression zod writes beside `format: uuid|email|date-time|date`: the format says it to people and
 * generators, and the pattern (zod's own spelling of the format) only hides it. Validation is zod's, not the document's.
 */
export function preferFormats<T extends OpenApiObject>(document: T): T {
  return { ...document, paths: withoutFormatPatterns(document.paths), components: withoutFormatPatterns(document.components) };
}

function collectRefs(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) value.forEach((item) => collectRefs(item, into));
  else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string') into.add(child);
      else collectRefs(child, into);
    }
  }
}

/**
 * Drops the component schemas and responses no operation reaches. The zod registry is one per process, so a service
 * embedded beside others would otherwise carry their schemas too.
 */
export function pruneComponents<T extends OpenApiObject>(document: T): T {
  const components = document.components ?? {};
  const reached = new Set<string>();
  collectRefs(document.paths, reached);
  const pending = [...reached];
  while (pending.length > 0) {
    const ref = pending.pop()!;
    const [, , kind, name] = ref.split('/');
    const target = (components[kind!] as Record<string, unknown> | undefined)?.[name!];
    const found = new Set<string>();
    collectRefs(target, found);
    for (const next of found) {
      if (reached.has(next)) continue;
      reached.add(next);
      pending.push(next);
    }
  }
  const keep = (kind: 'schemas' | 'responses') =>
    Object.fromEntries(Object.entries(components[kind] ?? {}).filter(([name]) => reached.has(`#/components/${kind}/${name}`)));
  return { ...document, components: { ...components, schemas: keep('schemas'), responses: keep('responses') } };
}
