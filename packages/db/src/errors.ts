/** The Postgres SQLSTATE behind a failed query, however the driver adapter (pg or PGlite) wrapped it. */
export function sqlState(error: unknown): string | undefined {
  const candidate = error as { code?: unknown; meta?: { driverAdapterError?: { cause?: { originalCode?: unknown; code?: unknown } } } };
  const cause = candidate.meta?.driverAdapterError?.cause;
  const code = cause?.originalCode ?? cause?.code ?? candidate.code;
  return typeof code === 'string' ? code : undefined;
}

/** The Prisma error code (`P2034`, `P2028`…) of a failed query or transaction, if it has one. */
function prismaCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^P\d{4}$/.test(code) ? code : undefined;
}

/**
 * Whether a transaction failed only because a concurrent one got in its way and running it again may succeed:
 * a serialization failure (40001) or a deadlock (40P01, which two inserts racing on one exclusion constraint produce
 * too); Prisma reports both as P2034.
 */
export function isTransientTransactionFailure(error: unknown): boolean {
  const state = sqlState(error);
  return state === '40001' || state === '40P01' || prismaCode(error) === 'P2034';
}

/** What a database failure caused by concurrent work means for the caller; see {@link contentionOf}. */
export interface Contention {
  /** 409: the request lost a race and retrying it as is will not help; 503: the database was too busy to answer in time. */
  status: 409 | 503;
  /** Problem type slug. */
  slug: 'conflict' | 'database-busy';
  /** What happened, without any of the data involved (a Postgres message can quote a key's values). */
  detail: string;
  /** For 503, when to try again, in seconds. */
  retryAfter?: number;
}

// Postgres messages and Prisma metadata quote the values of a conflicting key, which can be PHI: only fixed texts leave here.
const LOST_RACE = 'Another request changed the same records at the same moment and was first; read them again before retrying.';

/**
 * The answer a failure caused by concurrent work deserves, or undefined for any other failure: a lost race (serialization
 * failure, deadlock, lock not available, exclusion or unique violation) is a 409; a transaction that could not start, or
 * ran out of time, on a database too busy to serve it is a 503 to retry shortly.
 */
export function contentionOf(error: unknown): Contention | undefined {
  const state = sqlState(error);
  const code = prismaCode(error);
  if (isTransientTransactionFailure(error) || state === '55P03' || state === '23P01' || state === '23505' || code === 'P2002') {
    return { status: 409, slug: 'conflict', detail: LOST_RACE };
  }
  const message = error instanceof Error ? error.message : '';
  // P2028 is every error of Prisma's transaction manager; only these two mean "too busy", the others are bugs.
  const busy =
    (code === 'P2028' && /unable to start a transaction in the given time|expired transaction/i.test(message)) ||
    code === 'P2037' ||
    state === '53300';
  if (busy)
    return {
      status: 503,
      slug: 'database-busy',
      detail: 'The database is too busy to serve this request now; try again shortly.',
      retryAfter: 1,
    };
  return undefined;
}
