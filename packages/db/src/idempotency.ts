import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IdempotencyKeyScope, IdempotencyRecordState, IdempotencyStore } from '@pep/service-kit';
import type { RawSqlClient } from './sql-client.js';

/** Options of {@link createIdempotencyStore}. */
export interface IdempotencyStoreOptions {
  /** How long a first answer is kept (default 24 h); an older record counts as absent. */
  retentionMs?: number;
}

/** The reservation the current request holds, with the client whose transactions must record its effect. */
interface ActiveReservation extends IdempotencyKeyScope {
  client: object;
  lockId: string;
}

const active = new AsyncLocalStorage<ActiveReservation>();

/**
 * A transaction of a request holding an idempotency key found that the key is no longer its own: its lease ran out and a
 * retry took the key over. The transaction rolls back, so the effect happens once, in the retry.
 */
export class IdempotencyLeaseLostError extends Error {
  readonly statusCode = 409;
  readonly expose = true;
  readonly problemType = 'idempotency-key-in-use';
  readonly headers = { 'retry-after': '1' };

  constructor() {
    super('This request took too long and a retry with the same Idempotency-Key took over; its changes were not saved.');
    this.name = 'IdempotencyLeaseLostError';
  }
}

/** The reservation whose effect a transaction of `client` must record, if the current request holds one for it. */
export function reservationFor(client: object): ActiveReservation | undefined {
  const reservation = active.getStore();
  // Only the store's own client: in the embedded runtime a request can reach another service's code in-process.
  return reservation && reservation.client === client ? reservation : undefined;
}

/**
 * Marks the reservation's effect committed inside the caller's transaction, so the mark commits exactly when the
 * effect does; throws {@link IdempotencyLeaseLostError} (rolling the transaction back) when the key is no longer held.
 */
export async function markEffectCommitted(tx: RawSqlClient, reservation: ActiveReservation): Promise<void> {
  const marked = await tx.$executeRawUnsafe(
    `UPDATE "idempotency_record" SET "effect_committed" = true
     WHERE "organization_id" = $1::uuid AND "key" = $2 AND "lock_id" = $3::uuid AND "status" = 'in_progress'`,
    reservation.organization,
    reservation.key,
    reservation.lockId,
  );
  if (marked === 0) throw new IdempotencyLeaseLostError();
}

interface RecordRow {
  method: string;
  path: string;
  request_hash: string;
  status: string;
  effect_committed: boolean;
  lease_expired: boolean;
  response_status: number | null;
  response_headers: Record<string, string> | string | null;
  response_body: Uint8Array | null;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The idempotency store of a service's database (its `idempotency_record` table), through its Prisma client: the same
 * SQL on Postgres and PGlite. Pass the client wrapped by `retryingTransactions`, which marks effects committed.
 */
export function createIdempotencyStore(client: RawSqlClient, options: IdempotencyStoreOptions = {}): IdempotencyStore {
  const retentionMs = options.retentionMs ?? DAY_MS;

  const find = async (scope: IdempotencyKeyScope): Promise<IdempotencyRecordState | null> => {
    const [row] = await client.$queryRawUnsafe<RecordRow[]>(
      `SELECT "method", "path", "request_hash", "status", "effect_committed", "locked_until" < now() AS "lease_expired",
              "response_status", "response_headers", "response_body"
       FROM "idempotency_record"
       WHERE "organization_id" = $1::uuid AND "key" = $2 AND "created_at" >= now() - $3::int * interval '1 millisecond'`,
      scope.organization,
      scope.key,
      retentionMs,
    );
    if (!row) return null;
    const headers =
      typeof row.response_headers === 'string' ? (JSON.parse(row.response_headers) as Record<string, string>) : row.response_headers;
    return {
      fingerprint: { method: row.method, path: row.path, requestHash: row.request_hash },
      state: row.status === 'completed' ? 'completed' : 'in-progress',
      leaseExpired: row.lease_expired,
      effectCommitted: row.effect_committed,
      answer:
        row.response_status === null
          ? null
          : { status: row.response_status, headers: headers ?? {}, body: Buffer.from(row.response_body ?? new Uint8Array()) },
    };
  };

  return {
    async reserve(scope, fingerprint, leaseMs) {
      const lockId = randomUUID();
      // One statement claims a new key, an expired record's key, or the key of a first request whose process is presumed
      // gone before anything of it committed (same request only); otherwise the record stays as it is.
      const claimed = await client.$queryRawUnsafe<{ lock_id: string }[]>(
        `INSERT INTO "idempotency_record" AS r
           ("organization_id", "key", "method", "path", "request_hash", "status", "lock_id", "locked_until", "effect_committed", "created_at")
         VALUES ($1::uuid, $2, $3, $4, $5, 'in_progress', $6::uuid, now() + $7::int * interval '1 millisecond', false, now())
         ON CONFLICT ("organization_id", "key") DO UPDATE SET
           "method" = EXCLUDED."method", "path" = EXCLUDED."path", "request_hash" = EXCLUDED."request_hash",
           "status" = 'in_progress', "lock_id" = EXCLUDED."lock_id", "locked_until" = EXCLUDED."locked_until",
           "effect_committed" = false, "response_status" = NULL, "response_headers" = NULL, "response_body" = NULL,
           "created_at" = EXCLUDED."created_at"
         WHERE r."created_at" < now() - $8::int * interval '1 millisecond'
            OR (r."status" = 'in_progress' AND r."locked_until" < now() AND NOT r."effect_committed"
                AND r."method" = EXCLUDED."method" AND r."path" = EXCLUDED."path" AND r."request_hash" = EXCLUDED."request_hash")
         RETURNING r."lock_id"::text AS "lock_id"`,
        scope.organization,
        scope.key,
        fingerprint.method,
        fingerprint.path,
        fingerprint.requestHash,
        lockId,
        Math.round(leaseMs),
        retentionMs,
      );
      if (claimed[0]?.lock_id === lockId) return { owned: true, lockId };
      // Read after the claim lost: the record may have been released in between (null), and the caller asks again.
      return { owned: false, record: await find(scope) };
    },

    runWithin(scope, lockId, work) {
      return active.run({ ...scope, lockId, client }, work);
    },

    async complete(scope, lockId, answer) {
      await client.$executeRawUnsafe(
        `UPDATE "idempotency_record"
         SET "status" = 'completed', "locked_until" = now(), "response_status" = $4, "response_headers" = $5::jsonb, "response_body" = $6
         WHERE "organization_id" = $1::uuid AND "key" = $2 AND "lock_id" = $3::uuid AND "status" = 'in_progress'`,
        scope.organization,
        scope.key,
        lockId,
        answer?.status ?? null,
        answer ? JSON.stringify(answer.headers) : null,
        answer ? new Uint8Array(answer.body) : null,
      );
    },

    async release(scope, lockId) {
      const deleted = await client.$executeRawUnsafe(
        `DELETE FROM "idempotency_record"
         WHERE "organization_id" = $1::uuid AND "key" = $2 AND "lock_id" = $3::uuid AND "status" = 'in_progress' AND NOT "effect_committed"`,
        scope.organization,
        scope.key,
        lockId,
      );
      return deleted > 0;
    },

    async purgeExpired() {
      return client.$executeRawUnsafe(
        `DELETE FROM "idempotency_record" WHERE "created_at" < now() - $1::int * interval '1 millisecond'`,
        retentionMs,
      );
    },
  };
}
