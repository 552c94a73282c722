// Writes the SQL that takes one Prisma schema to another, as `prisma migrate diff` would, using
// Prisma's schema engine compiled to WebAssembly (the native engine cannot be downloaded here).
// Usage: node scripts/prisma-diff.mjs <from.prisma | empty> <to.prisma> > services/<s>/prisma/migrations/<ts>_<name>/migration.sql
// (connects to DATABASE_URL, default the local Postgres, only to learn the server version).
// Typical: git show HEAD:services/auth/prisma/schema.prisma > /tmp/before.prisma, then diff it with the edited schema.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
// A dependency of @prisma/internals (a root dev dependency), pinned with it.
const engineDir = dirname(require.resolve('@prisma/schema-engine-wasm'));
const bindings = await import(join(engineDir, 'schema_engine_bg.js'));
const { instance } = await WebAssembly.instantiate(readFileSync(join(engineDir, 'schema_engine_bg.wasm')), {
  './schema_engine_bg.js': bindings,
});
bindings.__wbg_set_wasm(instance.exports);
instance.exports.__wbindgen_start?.();

const { PrismaPg } = await import(require.resolve('@prisma/adapter-pg'));
const { bindMigrationAwareSqlAdapterFactory } = await import(require.resolve('@prisma/driver-adapter-utils'));
// The engine opens a connection to learn the server it targets; diffing two schema files changes nothing there.
const adapter = bindMigrationAwareSqlAdapterFactory(
  new PrismaPg({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' }),
);

const [fromPath, toPath] = process.argv.slice(2);
if (!fromPath || !toPath) {
  process.stderr.write('usage: node scripts/prisma-diff.mjs <from.prisma | empty> <to.prisma>\n');
  process.exit(2);
}
const target = (path) =>
  path === 'empty' ? { tag: 'empty' } : { tag: 'schemaDatamodel', files: [{ path: 'schema.prisma', content: readFileSync(path, 'utf8') }] };
const engine = await bindings.SchemaEngine.new({ datamodels: [['schema.prisma', readFileSync(toPath, 'utf8')]] }, () => {}, adapter);
const result = await engine.diff({
  from: target(fromPath),
  to: target(toPath),
  script: true,
  exitCode: null,
  filters: { externalTables: [], externalEnums: [] },
});
process.stdout.write(result.stdout ?? '');
