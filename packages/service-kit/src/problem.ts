import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { MethodIndex } from './route-access.js';
import type { AnyApp } from './service-app.js';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';

/** One invalid field of a request, as listed in a problem document. */
export interface InvalidField {
  /** Where the field is: `body.phone`, `querystring.page`, `params.id`. */
  field: string;
  message: string;
}

/** RFC 9457 problem details, the one error shape every service answers with. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  /** Request id, so a caller can quote it to support. */
  requestId?: string;
  /** The fields at fault, for validation errors. */
  errors?: InvalidField[];
  [extension: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The problem `type` URI for a short slug. */
export const problemType = (slug: string) => `/problems/${slug}`;

/** An error that answers as a problem document with the given status. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    detail?: string,
    readonly extensions: Partial<ProblemDocument> = {},
  ) {
    super(detail ?? TITLES[status] ?? 'Error');
    this.name = 'HttpProblem';
  }

  /** The problem document this error answers with. */
  toDocument(): ProblemDocument {
    return {
      type: problemType(this.slug),
      title: TITLES[this.status] ?? 'Error',
      status: this.status,
      detail: this.message,
      ...this.extensions,
    };
  }
}

/** 404 for a record that does not exist or belongs to another organization (the two must look alike). */
export const notFound = (what: string) => new HttpProblem(404, 'not-found', `${what} not found`);

/** Sends a problem document. */
export function sendProblem(reply: FastifyReply, request: FastifyRequest, problem: ProblemDocument): FastifyReply {
  return reply
    .code(problem.status)
    .type('application/problem+json')
    .send({ ...problem, instance: request.url.split('?')[0], requestId: request.id });
}

function locationOf(context: string | undefined, instancePath: string): string {
  return [context ?? 'body', ...instancePath.split('/').filter(Boolean)].join('.');
}

/** The part of a zod issue the problem mapping reads. */
interface ZodIssueLike {
  code: string;
  path: ReadonlyArray<PropertyKey>;
  message: string;
  keys?: unknown;
  errors?: unknown;
}

// How far a union branch is from what was sent: a branch of the wrong type, then one that finds unknown fields, then the
// one with more faults is the worse match.
function branchDistance(issues: ZodIssueLike[]): [number, number, number] {
  const atRoot = issues.filter((issue) => issue.path.length === 0);
  const wrongType = atRoot.some((issue) => issue.code === 'invalid_type') ? 1 : 0;
  const unknown = atRoot.reduce(
    (sum, issue) => sum + (issue.code === 'unrecognized_keys' && Array.isArray(issue.keys) ? issue.keys.length : 0),
    0,
  );
  return [wrongType, unknown, issues.length];
}

function closestBranch(branches: ZodIssueLike[][]): ZodIssueLike[] | undefined {
  let best: { issues: ZodIssueLike[]; distance: [number, number, number] } | undefined;
  for (const issues of branches) {
    const distance = branchDistance(issues);
    // Ties keep the earlier branch, the one the schema lists first.
    if (!best || (distance[0] - best.distance[0] || distance[1] - best.distance[1] || distance[2] - best.distance[2]) < 0)
      best = { issues, distance };
  }
  return best?.issues;
}

// zod reports a union none of whose branches matched as one `Invalid input` on the union itself; the caller learns more
// from the faults of the branch the input was closest to, so those are named instead.
function fieldsOf(base: string, issue: ZodIssueLike): InvalidField[] {
  if (issue.code === 'invalid_union' && Array.isArray(issue.errors)) {
    const branch = closestBranch(issue.errors as ZodIssueLike[][]);
    if (branch && branch.length > 0) return branch.flatMap((inner) => fieldsOf([base, ...inner.path.map(String)].join('.'), inner));
  }
  // zod reports unknown keys on the parent object; name each unknown field instead.
  if (issue.code === 'unrecognized_keys' && Array.isArray(issue.keys)) {
    return issue.keys.map((key) => ({ field: `${base}.${String(key)}`, message: 'unknown field' }));
  }
  return [{ field: base, message: issue.message || 'invalid' }];
}

/** The problem a router error raised before any route ran answers with (Fastify's `frameworkErrors`). */
export function frameworkErrorProblem(error: FastifyError): ProblemDocument {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return {
        type: problemType('bad-url'),
        title: 'Bad Request',
        status: 400,
        detail: 'The path is not valid: a percent-encoded character in it is malformed.',
        errors: [{ field: 'path', message: 'malformed percent-encoding; encode each byte as % and two hex digits' }],
      };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return {
        type: problemType('uri-too-long'),
        title: 'URI Too Long',
        status: 414,
        detail: 'A path segment is too long.',
        errors: [{ field: 'path', message: 'too long' }],
      };
  }
  return { type: problemType('internal'), title: 'Internal Server Error', status: 500, detail: 'An unexpected error occurred.' };
}

function fromFastifyError(error: FastifyError): ProblemDocument {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const errors = error.validation.map((issue) =>
      fieldsOf(locationOf(error.validationContext, issue.instancePath), {
        ...(issue.params as object),
        code: issue.keyword,
        path: [],
        message: issue.message ?? '',
      }),
    );
    return { type: problemType('validation'), title: 'Bad Request', status: 400, detail: 'The request is invalid.', errors: errors.flat() };
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { type: problemType('malformed-body'), title: 'Bad Request', status: 400, detail: 'The request body is not valid JSON.' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { type: problemType('body-too-large'), title: 'Payload Too Large', status: 413, detail: 'The request body is too large.' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        type: problemType('unsupported-media-type'),
        title: 'Unsupported Media Type',
        status: 415,
        detail: 'Send application/json.',
      };
    case 'FST_ERR_VALIDATION':
      return { type: problemType('validation'), title: 'Bad Request', status: 400, detail: error.message };
  }
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
  // An error that declares its message safe to show (`expose`, as http-errors does) may name its own problem type.
  const exposed = (error as { expose?: unknown }).expose === true;
  const slug = (error as { problemType?: unknown }).problemType;
  return {
    type: problemType(exposed && typeof slug === 'string' ? slug : status >= 500 ? 'internal' : 'request'),
    title: TITLES[status] ?? 'Error',
    status,
    // Internal messages can carry data; callers get a generic detail for server errors.
    detail: status >= 500 && !exposed ? 'An unexpected error occurred.' : error.message,
  };
}

/** Response headers an error asks for (`headers`, as http-errors carries them); only Retry-After is honoured. */
function retryAfterOf(error: FastifyError): string | undefined {
  const headers = (error as { headers?: unknown }).headers;
  const value = headers && typeof headers === 'object' ? (headers as Record<string, unknown>)['retry-after'] : undefined;
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

/**
 * Makes every failure of an app, including unknown routes, answer `application/problem+json`. With the app's method
 * index, a known path asked with a method it does not serve answers 405 with `Allow` instead of 404.
 */
export function registerProblemHandlers(app: AnyApp, methods?: MethodIndex): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof HttpProblem) {
      // A problem that says when to come back says it as a header too, as clients and proxies expect.
      const retryAfter = error.extensions['retryAfter'];
      if (typeof retryAfter === 'number' && !reply.hasHeader('retry-after')) reply.header('retry-after', String(Math.ceil(retryAfter)));
      return sendProblem(reply, request, error.toDocument());
    }
    if (isResponseSerializationError(error)) {
      request.log.error({ err: { message: error.message, issues: error.cause.issues } }, 'response does not match its schema');
      return sendProblem(reply, request, {
        type: problemType('internal'),
        title: TITLES[500]!,
        status: 500,
        detail: 'An unexpected error occurred.',
      });
    }
    const problem = fromFastifyError(error);
    const retryAfter = retryAfterOf(error);
    if (retryAfter !== undefined && !reply.hasHeader('retry-after')) reply.header('retry-after', retryAfter);
    // An exposed server error is a known condition (a database too busy, say), not a bug: its code is enough to log.
    if (problem.status >= 500 && (error as { expose?: unknown }).expose === true)
      request.log.warn({ status: problem.status, code: error.code, type: problem.type }, 'request not served');
    else if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
    return sendProblem(reply, request, problem);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const allowed = methods?.allowedFor(request.url) ?? [];
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      reply.header('allow', allowed.join(', '));
      return sendProblem(reply, request, {
        type: problemType('method-not-allowed'),
        title: 'Method Not Allowed',
        status: 405,
        detail: `${path} does not answer ${request.method}; it answers ${allowed.join(', ')}.`,
      });
    }
    return sendProblem(reply, request, {
      type: problemType('not-found'),
      title: 'Not Found',
      status: 404,
      detail: `No route for ${request.method} ${path}`,
    });
  });
}
