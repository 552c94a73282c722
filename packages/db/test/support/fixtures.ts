import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of a file or folder under packages/db/test/fixtures. */
export function fixturePath(...segments: string[]): string {
  return fileURLToPath(new URL(['../fixtures', ...segments].join('/'), import.meta.url));
}

/** A private, editable copy of a fixture migrations folder, plus extra migrations (name → SQL). */
export interface ScratchMigrations {
  dir: string;
  /** Adds or overwrites `<name>/migration.sql`. */
  write(name: string, sql: string): Promise<void>;
  remove(): Promise<void>;
}

/** Copies `fixtures/migrations/<fixture>` to a temporary folder so a test can edit, add or delete migrations. */
export async function scratchMigrations(fixture: string, extra: Record<string, string> = {}): Promise<ScratchMigrations> {
  const root = await mkdtemp(join(tmpdir(), 'pep-db-migrations-'));
  const dir = join(root, 'migrations');
  await cp(fixturePath('migrations', fixture), dir, { recursive: true });
  const write = async (name: string, sql: string) => {
    await mkdir(join(dir, name), { recursive: true });
    await writeFile(join(dir, name, 'migration.sql'), sql);
  };
  for (const [name, sql] of Object.entries(extra)) await write(name, sql);
  return { dir, write, remove: () => rm(root, { recursive: true, force: true }) };
}
