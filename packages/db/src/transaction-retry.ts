import { contentionOf, isTransientTransactionFailure, type Contention } from './errors.js';
import { markEffectCommitted, reservationFor } from './idempotency.js';
import type { RawSqlClient } from './sql-client.js';

/**
 * A database failure caused by concurrent work, carrying the HTTP answer it deserves in the http-errors shape the service
 * kit's error handler reads (`statusCode`, `expose`, `headers`, `problemType`). It keeps the original error's `code` and
 * `meta`, so `sqlState()` and checks for a Prisma code still recognize it, and the original as `cause`.
 */
export class DatabaseContentionError extends Error {
  /** The HTTP status: 409 for a lost race, 503 for a database too busy to serve the request. */
  readonly statusCode: 409 | 503;
  /** The message is safe to show callers (it quotes no data). */
  readonly expose = true;
  /** Response headers: `retry-after` for a 503. */
  readonly headers: Record<string, string>;
  /** Problem type slug. */
  readonly problemType: string;
  /** The original error's Prisma code or SQLSTATE. */
  readonly code: string | undefined;
  /** The original error's Prisma metadata (where the SQLSTATE is); not enumerable, as it can quote a key's values. */
  declare readonly meta: unknown;

  constructor(contention: Contention, cause: unknown) {
    super(contention.detail, { cause });
    this.name = 'DatabaseContentionError';
    this.statusCode = contention.status;
    this.problemType = contention.slug;
    this.headers = contention.retryAfter === undefined ? {} : { 'retry-after': String(contention.retryAfter) };
    this.code = (cause as { code?: string }).code;
    Object.defineProperty(this, 'meta', { value: (cause as { meta?: unknown }).meta, enumerable: false });
  }
}

/** Options of {@link retryingTransactions}. */
export interface TransactionRetryOptions {
  /** Runs of one unit of work at most, the first included (default 4). */
  attempts?: number;
  /** Base of the jittered exponential pause between runs, in milliseconds (default 20). */
  baseDelayMs?: number;
}

/**
 * Wraps a Prisma client so that every interactive transaction (`$transaction(async (tx) => …)`) is a unit of work run
 * again, a bounded number of times, when Postgres aborted it for a serialization failure or a deadlock: the work is
 * all inside the callback, so a second run decides afresh on what the winner committed (a slot now taken answers the
 * service's own 409). A failure caused by concurrent work that retrying cannot fix, or that outlasts the retries,
 * becomes a {@link DatabaseContentionError} (409, or 503 with Retry-After when the database was too busy to start or
 * finish the transaction in time), so no lost race answers 500. The batch form `$transaction([...])` runs once.
 */
export function retryingTransactions<T extends object>(client: T, options: TransactionRetryOptions = {}): T {
  const attempts = Math.max(1, options.attempts ?? 4);
  const baseDelayMs = options.baseDelayMs ?? 20;
  return new Proxy(client, {
    get(target, property, receiver: object) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      // Bound to the client itself: Prisma's methods may use private state a proxy receiver cannot reach.
      const method = (value as (...args: unknown[]) => unknown).bind(target);
      if (property !== '$transaction') return method;
      return async (work: unknown, ...rest: unknown[]) => {
        // A request holding an idempotency key records, in the same transaction, that its effect committed: a retry after
        // a crash between this commit and the stored answer then knows not to run it again (ADR 0025).
        const reservation = typeof work === 'function' ? reservationFor(receiver) : undefined;
        const unit = reservation
          ? async (tx: RawSqlClient) => {
              const result = await (work as (tx: RawSqlClient) => Promise<unknown>)(tx);
              await markEffectCommitted(tx, reservation);
              return result;
            }
          : work;
        for (let attempt = 1; ; attempt += 1) {
          try {
            return await method(unit, ...rest);
          } catch (error) {
            if (typeof work === 'function' && attempt < attempts && isTransientTransactionFailure(error)) {
              const pause = baseDelayMs * 2 ** (attempt - 1);
              await new Promise((resolve) => setTimeout(resolve, pause + Math.random() * pause));
              continue;
            }
            const contention = error instanceof DatabaseContentionError ? undefined : contentionOf(error);
            throw contention ? new DatabaseContentionError(contention, error) : error;
          }
        }
      };
    },
  });
}
