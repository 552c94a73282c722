import { z } from 'zod';
import { IDENTITY_HEADER, requireIdentity, signIdentity, type Identity } from './identity.js';
import { HttpProblem, notFound, sendProblem } from './problem.js';
import type { Logger } from 'pino';
import type { AnyApp } from './service-app.js';

/** Path prefix of the owner-lookup routes; the gateway never routes it, so only services reach it. */
export const OWNER_LOOKUP_PREFIX = '/internal/records';

/** Seconds a caller is told to wait when the owning service cannot be asked. */
const RETRY_AFTER_SECONDS = 5;

/**
 * Header the owner-lookup routes answer with, naming the kind they looked up. A 404 without it comes from a service
 * that has no such route (an older version mid-deploy, a misspelled kind): that is no answer about the record.
 */
export const OWNER_LOOKUP_HEADER = 'x-owner-lookup';

/** How a service asks another whether a record belongs to the caller's organization. */
export interface OwnerLookup {
  /**
   * True when the owning service has the record `kind`/`id` in the caller's organization, false when it says it
   * does not; a 503 problem (with Retry-After) when the owner cannot be asked, so an id is never accepted blindly.
   */
  exists(identity: Identity, kind: string, id: string): Promise<boolean>;
}

/** Options for {@link createOwnerLookup}. */
export interface OwnerLookupOptions {
  /** The owning service's name, for the problem detail. */
  owner: string;
  /** Its base URL; a function so the embedded runtime can hand it over once the owner listens. */
  baseUrl: string | (() => string | undefined);
  internalAuthSecret: string;
  /** A lookup that takes longer answers 503: the request must not hang on another service. */
  timeoutMs?: number;
  /** Where a lookup that could not be made is reported (owner, kind and why; never the caller's data). */
  logger?: Pick<Logger, 'warn'>;
}

/**
 * The client side of the owner lookup: a GET to the owner's `/internal/records/<kind>/<id>` carrying the
 * caller's identity, so the owner applies its own tenancy rule; 204 means found, 404 not found.
 */
export function createOwnerLookup(options: OwnerLookupOptions): OwnerLookup {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const unavailable = (kind: string, reason: string) => {
    options.logger?.warn({ owner: options.owner, kind, reason }, 'owner lookup failed; answering 503');
    return new HttpProblem(503, 'owner-unavailable', `The ${kind} could not be checked with the ${options.owner} service; retry shortly.`, {
      retryAfter: RETRY_AFTER_SECONDS,
    });
  };
  return {
    async exists(identity, kind, id) {
      const base = typeof options.baseUrl === 'function' ? options.baseUrl() : options.baseUrl;
      if (!base) throw unavailable(kind, 'no base URL yet');
      const url = `${base.replace(/\/$/, '')}${OWNER_LOOKUP_PREFIX}/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`;
      let status: number;
      let answered: boolean;
      try {
        const response = await fetch(url, {
          headers: { [IDENTITY_HEADER]: await signIdentity(options.internalAuthSecret, identity) },
          signal: AbortSignal.timeout(timeoutMs),
        });
        await response.body?.cancel();
        status = response.status;
        answered = response.headers.get(OWNER_LOOKUP_HEADER) === kind;
      } catch (error) {
        throw unavailable(
          kind,
          error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'unreachable',
        );
      }
      if (!answered) throw unavailable(kind, `answered ${status} without looking the record up`);
      if (status === 204 || status === 200) return true;
      if (status === 404) return false;
      throw unavailable(kind, `answered ${status}`);
    },
  };
}

/** Answers whether a record of the caller's organization exists. */
export type OwnedRecordCheck = (identity: Identity, id: string) => Promise<boolean>;

/**
 * The owner side: serves `GET /internal/records/<kind>/:id` for each kind, 204 when the record is the caller's,
 * 404 otherwise (another organization's record looks like none). Only a gateway- or service-signed identity gets in.
 */
export function registerOwnerLookupRoutes(app: AnyApp, checks: Record<string, OwnedRecordCheck>): void {
  for (const [kind, check] of Object.entries(checks)) {
    app.get(
      `${OWNER_LOOKUP_PREFIX}/${kind}/:id`,
      { schema: { hide: true, params: z.object({ id: z.string().min(1).max(200) }) } },
      async (request, reply) => {
        const identity = requireIdentity(request);
        const { id } = request.params as { id: string };
        reply.header(OWNER_LOOKUP_HEADER, kind);
        if (!(await check(identity, id))) return sendProblem(reply, request, notFound(kind).toDocument());
        return reply.code(204).send();
      },
    );
  }
}
