/** The raw-SQL surface every generated Prisma client and its transaction client share. */
export interface RawSqlClient {
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
}

/** A Prisma client that can run interactive transactions. */
export interface TransactionalClient extends RawSqlClient {
  $transaction<R>(fn: (tx: RawSqlClient) => Promise<R>, options?: { timeout?: number; maxWait?: number }): Promise<R>;
}

/** Adapts any generated Prisma client (whose types differ per service) to {@link TransactionalClient}. */
export function asTransactional(client: unknown): TransactionalClient {
  return client as TransactionalClient;
}
