import { mkdir } from 'node:fs/promises';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { PrismaPGlite } from 'pglite-prisma-adapter';

/** Where a service's database lives: a Postgres server, or an embedded PGlite (on disk, or in memory when `dataDir` is null). */
export type DatabaseConfig =
  { kind: 'postgres'; url: string; poolMax?: number } | { kind: 'pglite'; dataDir: string | null /* null = in-memory */ };

/** One database session: statements sent through it run on the same server session, in order. */
export interface SqlConnection {
  /** Runs one statement with `$1…` parameters; `rowCount` is how many rows it returned or changed. */
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: T[]; rowCount: number }>;
  /** Runs a script of many statements without parameters (Postgres' simple query protocol). */
  exec(sqlWithManyStatements: string): Promise<void>;
  /** Gives the session back; `destroy` closes it instead, for a session whose state is unknown (for example, a lock that could not be released). */
  release(options?: { destroy?: boolean }): Promise<void>;
}

/** Hands out dedicated sessions (see {@link SqlConnection}). */
export interface SqlConnectionSource {
  /** Takes one session for the caller's exclusive use until `release()`. */
  connect(): Promise<SqlConnection>;
}

/** The Prisma driver adapter factory to pass as `new PrismaClient({ adapter })`. */
export type PrismaAdapterFactory = PrismaPg | PrismaPGlite;

/** An open database: the Prisma adapter, raw sessions for the migrator, a readiness probe and shutdown. */
export interface Database {
  readonly kind: DatabaseConfig['kind'];
  /** Pass as `new PrismaClient({ adapter: db.adapter, transactionOptions: TRANSACTION_OPTIONS })`. */
  readonly adapter: PrismaAdapterFactory;
  /** Dedicated sessions, for work that must stay on one session (session-level advisory locks, migrations). */
  readonly sql: SqlConnectionSource;
  /** True when `select 1` answers within `timeoutMs` (default 2 s); false, never a hang or a throw, when the database is down. */
  ping(timeoutMs?: number): Promise<boolean>;
  /** Closes the pool or the embedded database. Safe to call more than once. */
  close(): Promise<void>;
}

/** Options for {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Told about errors on idle pooled connections (for example, a Postgres restart), which would otherwise crash the process. */
  logger?: { warn(obj: object, msg?: string): void };
}

/**
 * Interactive transaction limits for every service's Prisma client. Prisma's defaults (2 s to get a connection, 5 s
 * to finish) fail bursts that are merely queued: twenty bookings of one slot at once wait on the pool and on the
 * exclusion constraint's row, and the embedded database runs every transaction on its single connection in turn.
 */
export const TRANSACTION_OPTIONS = { maxWait: 10_000, timeout: 15_000 } as const;

const DEFAULT_PING_TIMEOUT_MS = 2_000;
const DEFAULT_POOL_MAX = 10;
// A connection attempt to an unreachable host must fail eventually instead of queueing forever.
const CONNECT_TIMEOUT_MS = 10_000;

/** Opens the database described by `config` (creating a PGlite data directory if needed). */
export async function openDatabase(config: DatabaseConfig, options: OpenDatabaseOptions = {}): Promise<Database> {
  return config.kind === 'postgres' ? openPostgres(config, options) : openPglite(config.dataDir);
}

function openPostgres(config: { url: string; poolMax?: number }, options: OpenDatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolMax ?? DEFAULT_POOL_MAX,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  pool.on('error', (error) => {
    options.logger?.warn({ err: error }, 'idle database connection failed');
  });
  const adapter = new PrismaPg(pool);
  let closing: Promise<void> | undefined;

  return {
    kind: 'postgres',
    adapter,
    sql: {
      async connect() {
        const client = await pool.connect();
        return pgSession(client);
      },
    },
    ping: (timeoutMs = DEFAULT_PING_TIMEOUT_MS) =>
      withTimeout(
        pool.query('select 1').then(() => true),
        timeoutMs,
      ).catch(() => false),
    close() {
      closing ??= pool.end();
      return closing;
    },
  };
}

function pgSession(client: pg.PoolClient): SqlConnection {
  let released = false;
  return {
    async query<T>(text: string, params?: unknown[]) {
      const result = await client.query(text, params);
      return { rows: result.rows as T[], rowCount: result.rowCount ?? result.rows.length };
    },
    async exec(script: string) {
      // Without parameters pg uses the simple query protocol, which accepts many statements at once.
      await client.query(script);
    },
    async release(opts) {
      if (released) return;
      released = true;
      // Passing a truthy value makes pg close the connection instead of pooling it, so session state
      // such as a still-held advisory lock cannot leak to the pool's next user.
      client.release(opts?.destroy ? true : undefined);
    },
  };
}

async function openPglite(dataDir: string | null): Promise<Database> {
  const { PGlite, btree_gist, PrismaPGlite } = await loadPglite();
  if (dataDir !== null) await mkdir(dataDir, { recursive: true });
  // Extensions a service's migrations may create must be loaded into PGlite up front (Postgres has them on disk).
  const extensions = { btree_gist };
  const pglite = dataDir === null ? await PGlite.create({ extensions }) : await PGlite.create(dataDir, { extensions });
  // pglite-prisma-adapter declares its own copy of PGlite's class type; the instance is the same API.
  const adapter = new PrismaPGlite(pglite as unknown as ConstructorParameters<typeof PrismaPGlite>[0]);
  let closing: Promise<void> | undefined;

  // PGlite is a single session already, so every "dedicated" connection is that session;
  // releasing it must not close the database the Prisma client is still using.
  const session: SqlConnection = {
    async query<T>(text: string, params?: unknown[]) {
      const result = await pglite.query<T>(text, params);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
    async exec(script: string) {
      await pglite.exec(script);
    },
    async release() {},
  };

  return {
    kind: 'pglite',
    adapter,
    sql: { connect: async () => session },
    ping: (timeoutMs = DEFAULT_PING_TIMEOUT_MS) =>
      pglite.closed
        ? Promise.resolve(false)
        : withTimeout(
            pglite.query('select 1').then(() => true),
            timeoutMs,
          ).catch(() => false),
    close() {
      closing ??= pglite.closed ? Promise.resolve() : pglite.close();
      return closing;
    },
  };
}

// PGlite is an optional peer of this package: the embedded runtime installs it, a service's image does not (it
// only ever talks to Postgres). So it is loaded on first use, and its absence is explained instead of surfacing
// as an unnamed module error.
async function loadPglite() {
  try {
    const [{ PGlite }, { btree_gist }, { PrismaPGlite }] = await Promise.all([
      import('@electric-sql/pglite'),
      import('@electric-sql/pglite/contrib/btree_gist'),
      import('pglite-prisma-adapter'),
    ]);
    return { PGlite, btree_gist, PrismaPGlite };
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new Error(
      'an embedded PGlite database was asked for, but PGlite is not installed here (service images carry only the Postgres driver): set DATABASE_URL',
      { cause: error },
    );
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
