import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { openDatabase, runMigrations, TRANSACTION_OPTIONS } from '@pep/db';
import { PrismaClient } from './generated/prisma/client.js';
import { migrationsDir } from './migrations.js';
import { OperatorError, OperatorService } from './operator.service.js';

const USAGE = 'usage: npm run operator -- add|remove|list [email]';

/** The file the embedded platform writes, with its pid, while it runs on a data folder (services/embedded PLATFORM_FILE). */
export const PLATFORM_FILE = 'platform.json';

/** Where the command works: Postgres when DATABASE_URL is set, else the embedded platform's PGlite folder. */
export interface OperatorTarget {
  databaseUrl?: string | undefined;
  /** The embedded platform's DATA_DIR (default .data); auth's database is its `auth` folder. */
  dataDir?: string | undefined;
}

/**
 * Runs `add|remove|list [email]` and answers the lines to print. PGlite is one process's database: while `npm start`
 * holds the data folder the command refuses rather than corrupt it.
 */
export async function runOperatorCommand(args: string[], target: OperatorTarget): Promise<string[]> {
  const [command, email] = args;
  if (!command || !['add', 'remove', 'list'].includes(command) || (command !== 'list' && !email)) throw new OperatorError(USAGE);
  const dataDir = resolve(target.dataDir ?? '.data');
  if (!target.databaseUrl) await refuseWhilePlatformRuns(dataDir);
  const config = target.databaseUrl
    ? ({ kind: 'postgres', url: target.databaseUrl } as const)
    : ({ kind: 'pglite', dataDir: join(dataDir, 'auth') } as const);
  // A data folder made before the first `npm start` has no tables yet; Postgres is migrated by its own Job.
  if (config.kind === 'pglite') await runMigrations({ pgliteDir: config.dataDir, migrationsDir });
  const database = await openDatabase(config);
  const prisma = new PrismaClient({ adapter: database.adapter, transactionOptions: TRANSACTION_OPTIONS });
  try {
    const operators = new OperatorService(prisma);
    if (command === 'add')
      return [(await operators.add(email!)) ? `${email} is now a platform operator` : `${email} already was a platform operator`];
    if (command === 'remove')
      return [(await operators.remove(email!)) ? `${email} is no longer a platform operator` : `${email} was not a platform operator`];
    const list = await operators.list();
    return list.length === 0 ? ['no platform operators'] : list.map((entry) => `${entry.email}\t${entry.organizations.join(', ')}`);
  } finally {
    await prisma.$disconnect();
    await database.close();
  }
}

async function refuseWhilePlatformRuns(dataDir: string): Promise<void> {
  let pid = 0;
  try {
    pid = Number((JSON.parse(await readFile(join(dataDir, PLATFORM_FILE), 'utf8')) as { pid?: unknown }).pid);
  } catch {
    return; // no platform has started on this folder, or it stopped and removed the file
  }
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // a stale file of a platform that did not stop cleanly
  }
  throw new OperatorError(
    `the embedded platform (pid ${pid}) is using ${dataDir}; PGlite serves one process, so stop it (Ctrl-C) and run this again, or set DATABASE_URL`,
  );
}
