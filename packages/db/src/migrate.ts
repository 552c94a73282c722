import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openDatabase, type Database, type SqlConnection, type SqlConnectionSource } from './connection.js';

// Compatibility with `prisma migrate deploy` is deliberate: the committed migrations keep Prisma's layout,
// state lives in Prisma's own `_prisma_migrations` table, and both runners take the same advisory lock,
// so a team with Prisma's schema engine can take over (or run alongside) at any time. The behaviour
// mirrored here comes from prisma-engines:
//   schema-engine/core/src/commands/apply_migrations.rs             (what deploy applies, failed-migration refusal)
//   schema-engine/connectors/sql-schema-connector/src/flavour/postgres.rs  (lock key, table DDL)
//   schema-engine/connectors/schema-connector/src/checksum.rs       (checksum and how it is compared)
// and from the CLI's migrations-directory reader (directories sorted with localeCompare, migration.sql read as UTF-8).

/** The advisory lock key `prisma migrate` takes; sharing it makes our runner and Prisma's exclude each other. */
export const MIGRATION_LOCK_KEY = 72707369;

/** The table, its columns and its DDL are Prisma's, byte for byte where it matters. */
const MIGRATIONS_TABLE = '_prisma_migrations';
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);
`;
const MIGRATION_SCRIPT = 'migration.sql';
const LOCK_FILE = 'migration_lock.toml';
const DEFAULT_LOCK_TIMEOUT_MS = 10 * 60_000;

/** The pino-compatible subset of a logger the migrator writes to. */
export interface MigrationLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** Options for {@link migrate}. */
export interface MigrateOptions {
  /** The `prisma/migrations` directory: `<timestamp>_<name>/migration.sql` folders and `migration_lock.toml`. */
  migrationsDir: string;
  logger?: MigrationLogger;
  /** How long to wait for another migrator's lock before giving up (default 10 minutes). */
  lockTimeoutMs?: number;
}

/** What a {@link migrate} run did, by migration directory name, in order. */
export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
}

/** Any refusal or failure of the migrator. `migration` names the migration concerned, when there is one. */
export class MigrationError extends Error {
  override name = 'MigrationError';
  constructor(
    message: string,
    readonly migration?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An applied migration's `migration.sql` was edited after it ran (its checksum no longer matches the recorded one). */
export class MigrationChecksumMismatchError extends MigrationError {
  override name = 'MigrationChecksumMismatchError';
}

/** The database records a finished migration whose directory is missing from the migrations folder. */
export class MigrationMissingLocallyError extends MigrationError {
  override name = 'MigrationMissingLocallyError';
}

/** The database records a migration that started and neither finished nor was rolled back (Prisma's P3009). */
export class MigrationFailedInDatabaseError extends MigrationError {
  override name = 'MigrationFailedInDatabaseError';
}

/** A pending migration's SQL failed; its transaction was rolled back and nothing after it ran. */
export class MigrationApplyError extends MigrationError {
  override name = 'MigrationApplyError';
}

/** The migrations folder cannot be used: unreadable script, or a lock file for another provider. */
export class MigrationFolderError extends MigrationError {
  override name = 'MigrationFolderError';
}

/** The database has tables but no migration history, so it was not created by migrations (Prisma's P3005). */
export class MigrationDatabaseNotEmptyError extends MigrationError {
  override name = 'MigrationDatabaseNotEmptyError';
}

/** The migrator could not get the migration lock in time. */
export class MigrationLockTimeoutError extends MigrationError {
  override name = 'MigrationLockTimeoutError';
}

/** One migration directory as found on disk. */
export interface LocalMigration {
  name: string;
  script: string;
  /** sha256 of the `migration.sql` bytes, lowercase hex: the value Prisma records. */
  checksum: string;
}

interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
}

/** Prisma's checksum of a migration script: sha256 of its bytes as lowercase, zero-padded hex. */
export function migrationChecksum(script: string | Uint8Array): string {
  return createHash('sha256').update(script).digest('hex');
}

/**
 * Whether a script matches a recorded checksum the way Prisma decides it: line endings may have been
 * converted by git since (LF and CRLF variants both match), and very old Prisma versions recorded
 * hex without zero padding.
 */
export function scriptMatchesChecksum(script: string, recorded: string): boolean {
  const variants = [script, script.replaceAll('\r\n', '\n'), script.replaceAll('\n', '\r\n')];
  return variants.some((variant) => {
    const digest = createHash('sha256').update(variant).digest();
    const rendered =
      recorded.length !== 0 && recorded.length !== 64 ? Array.from(digest, (byte) => byte.toString(16)).join('') : digest.toString('hex');
    return rendered === recorded;
  });
}

/** Reads a Prisma migrations folder: migrations in the order Prisma applies them. */
export async function readMigrations(migrationsDir: string): Promise<LocalMigration[]> {
  const lock = await readFile(join(migrationsDir, LOCK_FILE), 'utf8').catch(() => null);
  if (lock !== null) {
    const line = lock.split('\n').find((l) => l.startsWith('provider'));
    const provider = line
      ? line
          .replace(/^provider = /, '')
          .trim()
          .replace(/^"|"$/g, '')
      : '<none>';
    if (provider !== 'postgresql') {
      throw new MigrationFolderError(
        `${LOCK_FILE} in ${migrationsDir} is for provider "${provider}", not "postgresql"; these migrations were written for another database`,
      );
    }
  }
  const entries = await readdir(migrationsDir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new MigrationFolderError(`migrations folder ${migrationsDir} does not exist`);
    throw error;
  });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort((a, b) => a.localeCompare(b));
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(join(migrationsDir, name, MIGRATION_SCRIPT)).catch((error: unknown) => {
        throw new MigrationFolderError(`migration ${name} has no readable ${MIGRATION_SCRIPT}`, name, { cause: error });
      });
      return { name, script: bytes.toString('utf8'), checksum: migrationChecksum(bytes) };
    }),
  );
}

/**
 * Applies the pending migrations of a Prisma migrations folder, each in its own transaction together
 * with its `_prisma_migrations` row, under Prisma's advisory lock so concurrent runners apply each
 * migration exactly once. Refuses, before applying anything, a history that was edited, lost a
 * migration, or records a failed one.
 */
export async function migrate(db: Database | SqlConnectionSource, options: MigrateOptions): Promise<MigrateResult> {
  const logger = options.logger;
  // Reading the folder first means a broken checkout fails before anything touches the database.
  const local = await readMigrations(options.migrationsDir);
  const source = 'sql' in db ? db.sql : db;
  const conn = await source.connect();
  let locked = false;
  // Any failure returns the session closed rather than pooled: whatever state it is in (an aborted
  // transaction, a lock whose release failed) must not reach the pool's next user.
  let failed = false;
  try {
    await acquireLock(conn, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, logger);
    locked = true;
    await ensureMigrationsTable(conn);
    const rows = (
      await conn.query<MigrationRow>(
        `SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at
           FROM ${MIGRATIONS_TABLE} ORDER BY started_at ASC`,
      )
    ).rows;
    verifyHistory(local, rows);

    const appliedNames = new Set(rows.filter((row) => row.rolled_back_at === null).map((row) => row.migration_name));
    const alreadyApplied = local.filter((m) => appliedNames.has(m.name)).map((m) => m.name);
    const pending = local.filter((m) => !appliedNames.has(m.name));
    const applied: string[] = [];
    for (const migration of pending) {
      logger?.info({ migration: migration.name }, 'applying migration');
      await applyOne(conn, migration);
      applied.push(migration.name);
      logger?.info({ migration: migration.name }, 'applied migration');
    }
    if (applied.length === 0) logger?.info({ alreadyApplied: alreadyApplied.length }, 'database schema is up to date');
    return { applied, alreadyApplied };
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    if (locked) {
      await conn.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]).catch(() => {
        failed = true;
      });
    }
    await conn.release({ destroy: failed });
  }
}

async function acquireLock(conn: SqlConnection, timeoutMs: number, logger?: MigrationLogger): Promise<void> {
  const tried = await conn.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [MIGRATION_LOCK_KEY]);
  if (tried.rows[0]?.locked) return;
  logger?.warn({ lockKey: MIGRATION_LOCK_KEY }, 'another migrator holds the migration lock; waiting for it');
  // lock_timeout bounds the wait of the blocking call; reset right after so it does not apply to the migrations' own DDL.
  await conn.query(`SET lock_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
  try {
    await conn.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
  } catch (error) {
    if (sqlState(error) === '55P03') {
      throw new MigrationLockTimeoutError(`gave up waiting ${timeoutMs} ms for the migration lock`, undefined, {
        cause: error,
      });
    }
    throw error;
  } finally {
    await conn.query('RESET lock_timeout');
  }
}

async function ensureMigrationsTable(conn: SqlConnection): Promise<void> {
  const tables = (
    await conn.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()`,
    )
  ).rows.map((row) => row.name);
  if (tables.includes(MIGRATIONS_TABLE)) return;
  if (tables.length > 0) {
    throw new MigrationDatabaseNotEmptyError(
      `the database schema is not empty (tables: ${tables.slice(0, 10).join(', ')}${tables.length > 10 ? ', …' : ''}) ` +
        `but has no ${MIGRATIONS_TABLE} table; baseline it (mark the migrations that already match as applied) before migrating`,
    );
  }
  await conn.exec(CREATE_MIGRATIONS_TABLE);
}

function verifyHistory(local: LocalMigration[], rows: MigrationRow[]): void {
  const failed = rows.filter((row) => row.finished_at === null && row.rolled_back_at === null);
  if (failed.length > 0) {
    const details = failed
      .map((row) => {
        const logs = row.logs?.trim() ? ` with the following logs:\n${row.logs.trim()}` : '';
        return `The \`${row.migration_name}\` migration started at ${row.started_at.toISOString()} failed${logs}`;
      })
      .join('\n');
    throw new MigrationFailedInDatabaseError(
      `found failed migrations in the target database; new migrations will not be applied until they are resolved (marked rolled back or applied):\n${details}`,
      failed[0]?.migration_name,
    );
  }

  const byName = new Map(local.map((m) => [m.name, m]));
  const finished = rows.filter((row) => row.finished_at !== null && row.rolled_back_at === null);
  const missing = finished.filter((row) => !byName.has(row.migration_name));
  if (missing.length > 0) {
    const names = missing.map((row) => row.migration_name);
    throw new MigrationMissingLocallyError(
      `the database has applied migrations that are missing from the migrations folder: ${names.join(', ')}`,
      names[0],
    );
  }

  const edited = finished.filter((row) => {
    const file = byName.get(row.migration_name);
    return file !== undefined && !scriptMatchesChecksum(file.script, row.checksum);
  });
  if (edited.length > 0) {
    const names = edited.map((row) => row.migration_name);
    throw new MigrationChecksumMismatchError(
      `migration ${names.join(', ')} was modified after it was applied (its migration.sql checksum differs from the one recorded); ` +
        'restore the original file and put the change in a new migration',
      names[0],
    );
  }
}

async function applyOne(conn: SqlConnection, migration: LocalMigration): Promise<void> {
  await conn.query('BEGIN');
  try {
    await conn.exec(migration.script);
    // started_at is the transaction's start (now()), finished_at the moment the script completed.
    await conn.query(
      `INSERT INTO ${MIGRATIONS_TABLE} (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), clock_timestamp(), 1)`,
      [randomUUID(), migration.checksum, migration.name],
    );
    await conn.query('COMMIT');
  } catch (error) {
    // If even ROLLBACK fails the session is gone, and the server discards the open transaction with it.
    await conn.query('ROLLBACK').catch(() => undefined);
    throw new MigrationApplyError(`migration ${migration.name} failed and was rolled back: ${describeSqlError(error)}`, migration.name, {
      cause: error,
    });
  }
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function describeSqlError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = sqlState(error);
  const detail = (error as { detail?: unknown }).detail;
  return [code ? `${error.message} (SQLSTATE ${code})` : error.message, typeof detail === 'string' ? detail : '']
    .filter(Boolean)
    .join(' — ');
}

/** Options for {@link runMigrations}: a Postgres URL, or else a PGlite data directory. */
export interface RunMigrationsOptions {
  databaseUrl?: string;
  pgliteDir?: string;
  migrationsDir: string;
  logger?: MigrationLogger;
  lockTimeoutMs?: number;
}

/** Opens the database, applies pending migrations and closes it: the body of a service's `migrate` entry point (a Kubernetes Job). */
export async function runMigrations(options: RunMigrationsOptions): Promise<MigrateResult> {
  const { databaseUrl, pgliteDir, ...rest } = options;
  if (!databaseUrl && !pgliteDir) {
    throw new MigrationError('runMigrations needs a databaseUrl (Postgres) or a pgliteDir (embedded PGlite)');
  }
  const db = await openDatabase(
    databaseUrl ? { kind: 'postgres', url: databaseUrl, poolMax: 1 } : { kind: 'pglite', dataDir: pgliteDir as string },
    { logger: options.logger },
  );
  try {
    return await migrate(db, rest);
  } finally {
    await db.close();
  }
}
