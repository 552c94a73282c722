import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import type { Counter } from 'prom-client';
import { addCounter } from './metrics.js';
import { HttpProblem } from './problem.js';
import type { AnyApp } from './service-app.js';

/** The request header a client names a write with, so that sending it again has one effect (Stripe's model). */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** The response header that marks a stored answer given again to a retry. */
export const IDEMPOTENT_REPLAYED_HEADER = 'idempotent-replayed';

/** Whose key it is: keys are unique per organization. */
export interface IdempotencyKeyScope {
  organization: string;
  key: string;
}

/** What a key was first used for. */
export interface IdempotencyFingerprint {
  method: string;
  path: string;
  /** Hash of the canonical JSON of the body, the query and the caller. */
  requestHash: string;
}

/** A stored first answer. */
export interface IdempotencyAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** A key's record as a retry finds it. */
export interface IdempotencyRecordState {
  fingerprint: IdempotencyFingerprint;
  /** `in-progress` until the first request's answer is stored. */
  state: 'in-progress' | 'completed';
  /** Whether the first request's lease ran out (its process is presumed gone). */
  leaseExpired: boolean;
  /** Whether a transaction of the first request committed. */
  effectCommitted: boolean;
  /** The answer to replay; null for a completed record whose answer could not be kept. */
  answer: IdempotencyAnswer | null;
}

/** The outcome of {@link IdempotencyStore.reserve}: this request runs (owned), or finds the key's record. */
export type IdempotencyReservation = { owned: true; lockId: string } | { owned: false; record: IdempotencyRecordState | null };

/**
 * Where a service keeps its keys' records: its own database (`@pep/db`'s `createIdempotencyStore` over the service's
 * Prisma client). The kit never touches a database itself.
 */
export interface IdempotencyStore {
  /** Claims the key for this request for `leaseMs`, or answers the record that holds it. */
  reserve(scope: IdempotencyKeyScope, fingerprint: IdempotencyFingerprint, leaseMs: number): Promise<IdempotencyReservation>;
  /** Runs `work` so that every transaction of this store's client it runs marks the reservation's effect committed. */
  runWithin<T>(scope: IdempotencyKeyScope, lockId: string, work: () => T): T;
  /** Stores the answer (null: none can be kept) and ends the reservation. */
  complete(scope: IdempotencyKeyScope, lockId: string, answer: IdempotencyAnswer | null): Promise<void>;
  /** Deletes the reservation so a retry runs afresh; false (record kept) when a transaction of it committed. */
  release(scope: IdempotencyKeyScope, lockId: string): Promise<boolean>;
  /** Deletes records older than the retention; answers how many. */
  purgeExpired(): Promise<number>;
}

/** Options of {@link registerIdempotency}. */
export interface IdempotencyOptions {
  store: IdempotencyStore;
  /**
   * How long a first request holds its key before a retry may run it again, provided nothing of it committed
   * (default 60 s). A transaction that commits after losing the key rolls back instead, so a short lease is safe.
   */
  leaseMs?: number;
  /** How often records past the retention are deleted (default hourly); expired ones are ignored meanwhile. */
  purgeIntervalMs?: number;
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const KEY = /^[\x20-\x7e]{1,255}$/;
// Headers that belong to the answer itself; anything else (request ids, rate limits, dates) belongs to the exchange.
const KEPT_HEADERS = ['content-type', 'content-language', 'content-disposition', 'location', 'link', 'x-total-count'];
const MAX_ATTEMPTS = 3;

interface Held {
  scope: IdempotencyKeyScope;
  lockId: string;
  settled: boolean;
}

const held = new WeakMap<FastifyRequest, Held>();

/** A value as canonical JSON: object keys sorted, undefined members left out, bytes and dates spelled out. */
export function canonicalJson(value: unknown): string {
  const normal = (item: unknown): unknown => {
    if (item === null || item === undefined) return null;
    if (Buffer.isBuffer(item) || item instanceof Uint8Array) return { $bytes: Buffer.from(item).toString('base64') };
    if (item instanceof Date) return item.toISOString();
    if (Array.isArray(item)) return item.map(normal);
    if (typeof item === 'bigint') return item.toString();
    if (typeof item === 'object') {
      const entries = Object.entries(item as Record<string, unknown>).filter(([, member]) => member !== undefined);
      return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, member]) => [name, normal(member)]));
    }
    return item;
  };
  return JSON.stringify(normal(value));
}

/** The key a request names, or undefined; a 400 naming the header when it is not 1–255 printable ASCII characters. */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const value = request.headers[IDEMPOTENCY_KEY_HEADER];
  if (value === undefined) return undefined;
  if (typeof value === 'string' && KEY.test(value) && value.trim() !== '') return value;
  throw new HttpProblem(400, 'validation', 'The Idempotency-Key header is invalid.', {
    errors: [{ field: `headers.${IDEMPOTENCY_KEY_HEADER}`, message: 'send one key of 1 to 255 printable ASCII characters' }],
  });
}

/** What the request is, for telling a retry from another request under the same key. */
export function fingerprintOf(request: FastifyRequest): IdempotencyFingerprint {
  const path = request.url.split('?')[0] ?? request.url;
  const requestHash = createHash('sha256')
    .update(canonicalJson({ body: request.body, query: request.query, caller: request.identity?.user ?? null }))
    .digest('hex');
  return { method: request.method, path, requestHash };
}

const sameRequest = (a: IdempotencyFingerprint, b: IdempotencyFingerprint) =>
  a.method === b.method && a.path === b.path && a.requestHash === b.requestHash;

/**
 * Makes every write (POST, PUT, PATCH, DELETE) sent with an `Idempotency-Key` by an authenticated caller have one
 * effect however often it is sent (ADR 0025). The first request reserves the key in the organization's scope, runs, and
 * its answer is stored for 24 h; a retry with the same request gets that answer again with `Idempotent-Replayed: true`
 * and runs nothing; the key with another request answers 422; a retry while the first still runs answers 409 with
 * Retry-After. An answer of 5xx or 429 is not stored unless something of the request committed, so the retry runs.
 * Requests without an identity (logins, vendors' webhooks) have no organization to scope a key by: the header is ignored.
 */
export function registerIdempotency(app: AnyApp, options: IdempotencyOptions): void {
  const { store } = options;
  const leaseMs = options.leaseMs ?? 60_000;
  // Made on first use: the kit adds its metrics registry after this plugin.
  let counter: Counter<'outcome'> | undefined;
  const outcomes = {
    inc: (labels: { outcome: string }) =>
      (counter ??= addCounter(app, 'http_idempotency_outcomes_total', 'Writes sent with an Idempotency-Key, by outcome.', ['outcome'])).inc(
        labels,
      ),
  };

  const answerExisting = (record: IdempotencyRecordState, fingerprint: IdempotencyFingerprint, reply: FastifyReply) => {
    if (!sameRequest(record.fingerprint, fingerprint)) {
      outcomes.inc({ outcome: 'mismatch' });
      throw new HttpProblem(
        422,
        'idempotency-key-reused',
        'This Idempotency-Key was already used for a different request (method, path, body, query or caller); send a new key for a new request.',
        {
          errors: [{ field: `headers.${IDEMPOTENCY_KEY_HEADER}`, message: 'already used for a different request' }],
        },
      );
    }
    if (record.state === 'completed' && record.answer) {
      outcomes.inc({ outcome: 'replayed' });
      reply.code(record.answer.status);
      for (const [name, value] of Object.entries(record.answer.headers)) reply.header(name, value);
      reply.header(IDEMPOTENT_REPLAYED_HEADER, 'true');
      return reply.send(record.answer.body);
    }
    if (record.state === 'completed' || (record.leaseExpired && record.effectCommitted)) {
      outcomes.inc({ outcome: 'unavailable' });
      throw new HttpProblem(
        409,
        'idempotency-answer-unavailable',
        'The request sent with this Idempotency-Key took effect, but its answer was not kept (the server stopped before answering); it will not run again. Read the records it concerns, or use a new key for a new request.',
      );
    }
    outcomes.inc({ outcome: 'in-progress' });
    throw new HttpProblem(
      409,
      'idempotency-key-in-use',
      'A request with this Idempotency-Key is still being processed; retry when it has finished.',
      { retryAfter: 1 },
    );
  };

  app.addHook('onRoute', (route) => {
    const methods = [route.method].flat().map((method) => method.toUpperCase());
    if (!methods.some((method) => WRITES.has(method))) return;
    const handler = route.handler as RouteHandlerMethod;
    // Around the handler itself, after authentication, guards and validation: a request refused before it runs stores
    // nothing (Stripe: an answer is kept only once the endpoint began executing).
    route.handler = function idempotent(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      const identity = request.identity;
      if (!WRITES.has(request.method) || !identity || request.headers[IDEMPOTENCY_KEY_HEADER] === undefined) {
        return handler.call(this, request, reply);
      }
      return (async () => {
        const scope = { organization: identity.organization, key: idempotencyKeyOf(request)! };
        const fingerprint = fingerprintOf(request);
        for (let attempt = 1; ; attempt += 1) {
          const reservation = await store.reserve(scope, fingerprint, leaseMs);
          if (reservation.owned) {
            outcomes.inc({ outcome: 'executed' });
            held.set(request, { scope, lockId: reservation.lockId, settled: false });
            return store.runWithin(scope, reservation.lockId, () => handler.call(this, request, reply));
          }
          // Released between the claim and the read: claim again.
          if (reservation.record) return answerExisting(reservation.record, fingerprint, reply);
          if (attempt >= MAX_ATTEMPTS)
            throw new HttpProblem(409, 'idempotency-key-in-use', 'Requests with this Idempotency-Key are racing; retry shortly.', {
              retryAfter: 1,
            });
        }
      })();
    } as RouteHandlerMethod;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const holding = held.get(request);
    if (!holding || holding.settled) return payload;
    holding.settled = true;
    const status = reply.statusCode;
    try {
      // A streamed answer cannot be kept.
      const body =
        typeof payload === 'string'
          ? Buffer.from(payload)
          : Buffer.isBuffer(payload)
            ? payload
            : payload === null || payload === undefined
              ? Buffer.alloc(0)
              : null;
      // An error that may have run nothing, a refusal to retry later, or an answer that cannot be replayed: the retry must
      // run, unless something of this request committed (then it is told so, or gets the answer, and nothing runs twice).
      if ((status >= 500 || status === 429 || body === null) && (await store.release(holding.scope, holding.lockId))) return payload;
      await store.complete(holding.scope, holding.lockId, body === null ? null : { status, headers: keptHeaders(reply), body });
    } catch (error) {
      // The answer still goes out; a retry finds the key in progress until the lease ends, then as the effect allows.
      request.log.warn({ err: error }, 'idempotent answer not stored');
    }
    return payload;
  });
  // A reply that never reached onSend (hijacked, or the connection reset first) must not leave its key held for the lease.
  app.addHook('onResponse', async (request) => {
    const holding = held.get(request);
    if (!holding || holding.settled) return;
    holding.settled = true;
    await store
      .release(holding.scope, holding.lockId)
      .catch((error: unknown) => request.log.warn({ err: error }, 'idempotency key not released'));
  });

  let purging: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    purging = setInterval(() => {
      store.purgeExpired().catch((error: unknown) => app.log.warn({ err: error }, 'expired idempotency records not purged'));
    }, options.purgeIntervalMs ?? 3_600_000);
    purging.unref();
  });
  app.addHook('onClose', async () => clearInterval(purging));
}

function keptHeaders(reply: FastifyReply): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = reply.getHeader(name);
    if (typeof value === 'string' || typeof value === 'number') kept[name] = String(value);
  }
  return kept;
}

const PARAMETER = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Makes retrying this write safe: the first answer to a key is kept 24 h per organization, and the same request sent again with the key ' +
    'gets it again (header `Idempotent-Replayed: true`) without a second effect. The key with a different request answers 422; while the ' +
    'first is still running, 409 with Retry-After. 1–255 printable ASCII characters, e.g. a UUID. Ignored on requests without an access token.',
  schema: { type: 'string', minLength: 1, maxLength: 255 },
};
// The texts live with the other problem answers (openapi.ts), so the document names each once.
const CONFLICT = { $ref: '#/components/responses/Conflict' };
const REUSED = { $ref: '#/components/responses/IdempotencyKeyReused' };

/** An OpenAPI document with the optional `Idempotency-Key` header and its 409/422 answers on every write operation. */
export function documentIdempotency<T extends { paths?: Record<string, Record<string, unknown>> }>(document: T): T {
  if (!document.paths) return document;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, operations] of Object.entries(document.paths)) {
    paths[path] = {};
    for (const [method, operation] of Object.entries(operations)) {
      if (!WRITES.has(method.toUpperCase()) || typeof operation !== 'object' || operation === null) {
        paths[path]![method] = operation;
        continue;
      }
      const { parameters = [], responses = {} } = operation as {
        parameters?: Array<{ name?: string; in?: string }>;
        responses?: Record<string, unknown>;
      };
      const named = parameters.some((parameter) => parameter.in === 'header' && parameter.name?.toLowerCase() === IDEMPOTENCY_KEY_HEADER);
      paths[path]![method] = {
        ...operation,
        parameters: named ? parameters : [...parameters, PARAMETER],
        responses: { ...responses, ...(responses['409'] ? {} : { 409: CONFLICT }), ...(responses['422'] ? {} : { 422: REUSED }) },
      };
    }
  }
  return { ...document, paths };
}
