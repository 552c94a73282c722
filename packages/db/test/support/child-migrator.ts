import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import ts from 'typescript';

const packageRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Compiles the migrator's sources to plain JavaScript so separate Node processes can run it. The output goes under
 * this package's node_modules/.cache, where Node resolves `pg` and the other dependencies exactly as the sources do.
 */
export async function compileMigratorForChildren(): Promise<{ migrateModule: string; remove(): Promise<void> }> {
  const outDir = join(packageRoot, 'node_modules', '.cache', `pep-db-migrator-${randomBytes(4).toString('hex')}`);
  await mkdir(outDir, { recursive: true });
  for (const file of ['connection', 'migrate']) {
    const source = await readFile(join(packageRoot, 'src', `${file}.ts`), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      fileName: `${file}.ts`,
    });
    await writeFile(join(outDir, `${file}.js`), outputText);
  }
  await writeFile(join(outDir, 'package.json'), JSON.stringify({ type: 'module' }));
  return { migrateModule: join(outDir, 'migrate.js'), remove: () => rm(outDir, { recursive: true, force: true }) };
}

/** The outcome of one migrator process. */
export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `runMigrations` in a separate Node process; resolves when it exits (killed after `timeoutMs`). */
export function runChildMigrator(
  migrateModule: string,
  databaseUrl: string,
  migrationsDir: string,
  timeoutMs = 60_000,
): { started: Promise<void>; done: Promise<ChildResult> } {
  const script = fileURLToPath(new URL('../fixtures/migrate-child.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, migrateModule, databaseUrl, migrationsDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const started = new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  const done = new Promise<ChildResult>((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { started, done };
}
