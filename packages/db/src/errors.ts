/** The Postgres SQLSTATE behind a failed query, however the driver adapter (pg or PGlite) wrapped it. */
export function sqlState(error: unknown): string | undefined {
  const candidate = error as { code?: unknown; meta?: { driverAdapterError?: { cause?: { originalCode?: unknown; code?: unknown } } } };
  const cause = candidate.meta?.driverAdapterError?.cause;
  const code = cause?.originalCode ?? cause?.code ?? candidate.code;
  return typeof code === 'string' ? code : undefined;
}
