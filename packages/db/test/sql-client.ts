import type { Database } from '../src/connection.js';
import type { RawSqlClient, TransactionalClient } from '../src/sql-client.js';

/** DDL of the outbox every service migrates. */
export const OUTBOX = `CREATE TABLE "outbox" (
  "id" UUID NOT NULL PRIMARY KEY, "seq" BIGSERIAL NOT NULL, "topic" TEXT NOT NULL, "key" TEXT NOT NULL, "envelope" JSONB NOT NULL,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "published_at" TIMESTAMPTZ(3),
  "attempts" INTEGER NOT NULL DEFAULT 0, "last_error" TEXT)`;

/** DDL of the inbox every consuming service migrates. */
export const INBOX = `CREATE TABLE "inbox" (
  "event_id" UUID NOT NULL, "consumer" TEXT NOT NULL, "handled_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY ("event_id", "consumer"))`;

/** A transactional client over raw sessions, so this package's tests need no generated Prisma client. */
export function sqlClient(db: Database): TransactionalClient {
  const on = (run: <T>(text: string, values: unknown[]) => Promise<{ rows: T[]; rowCount: number }>): RawSqlClient => ({
    $executeRawUnsafe: async (text, ...values) => (await run(text, values)).rowCount,
    $queryRawUnsafe: async <T>(text: string, ...values: unknown[]) => (await run(text, values)).rows as T,
  });
  const once = async <T>(text: string, values: unknown[]) => {
    const session = await db.sql.connect();
    try {
      return await session.query<T>(text, values);
    } finally {
      await session.release();
    }
  };
  return {
    ...on(once),
    async $transaction(work) {
      const session = await db.sql.connect();
      try {
        await session.query('BEGIN');
        const result = await work(on(async (text, values) => (await session.query(text, values)) as never));
        await session.query('COMMIT');
        return result;
      } catch (error) {
        await session.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        await session.release();
      }
    },
  };
}
