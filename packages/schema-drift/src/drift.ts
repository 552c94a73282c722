import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Database, SqlConnection, SqlConnectionSource } from '@pep/db';

// Prisma's schema engine (which would answer this with `migrate diff`) cannot run everywhere this must,
// so the comparison is done here: the datamodel comes from Prisma's own parser (getDMMF, compiled to
// WASM, no engine download) and is translated into the Postgres objects `prisma migrate` would create
// for it; those are compared with the live catalog. Names follow Prisma's conventions
// (psl/psl-core/src/datamodel_connector/constraint_names.rs) and types its Postgres renderer.

/** The outcome of {@link checkSchemaDrift}: `differences` holds one human-readable line per mismatch. */
export interface DriftReport {
  ok: boolean;
  differences: string[];
}

/** Options for {@link checkSchemaDrift}. */
export interface CheckSchemaDriftOptions {
  /** A `schema.prisma` file, or a folder of `.prisma` files (multi-file schema). */
  schemaPath: string;
  db: Database | SqlConnectionSource;
  /** Tables the schema does not model on purpose (`_prisma_migrations` is always ignored). */
  ignoreTables?: string[];
  /** Indexes added by hand in migrations that the schema cannot express (for example partial indexes). */
  ignoreIndexes?: string[];
}

/** Thrown by {@link assertNoSchemaDrift}; `differences` are the report's lines. */
export class SchemaDriftError extends Error {
  override name = 'SchemaDriftError';
  constructor(readonly differences: string[]) {
    super(`the database schema differs from the Prisma schema:\n  - ${differences.join('\n  - ')}`);
  }
}

/** Compares the live database (the Postgres schemas the Prisma schema uses, `public` by default) with what the Prisma schema at `schemaPath` describes. */
export async function checkSchemaDrift(options: CheckSchemaDriftOptions): Promise<DriftReport> {
  const expected = expectedSchema(await loadDatamodel(options.schemaPath));
  const source = 'sql' in options.db ? options.db.sql : options.db;
  const conn = await source.connect();
  let actual: ActualSchema;
  try {
    actual = await readActualSchema(conn, expected.schemas);
  } finally {
    await conn.release();
  }
  const differences = compare(expected, actual, {
    ignoreTables: new Set(['_prisma_migrations', ...(options.ignoreTables ?? [])]),
    ignoreIndexes: new Set(options.ignoreIndexes ?? []),
  });
  return { ok: differences.length === 0, differences };
}

/** Like {@link checkSchemaDrift}, but throws a {@link SchemaDriftError} listing the differences when there are any. */
export async function assertNoSchemaDrift(options: CheckSchemaDriftOptions): Promise<void> {
  const report = await checkSchemaDrift(options);
  if (!report.ok) throw new SchemaDriftError(report.differences);
}

// ---------------------------------------------------------------------------------------------
// The datamodel, as getDMMF returns it (only what is used here).

interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'object' | 'enum' | 'unsupported';
  isList: boolean;
  isRequired: boolean;
  isId: boolean;
  isUpdatedAt?: boolean;
  type: string;
  nativeType?: [string, string[]] | null;
  default?: unknown;
  relationName?: string;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
  relationOnUpdate?: string;
}

interface DmmfModel {
  name: string;
  dbName: string | null;
  schema?: string | null;
  fields: DmmfField[];
}

interface DmmfEnum {
  name: string;
  dbName?: string | null;
  schema?: string | null;
  values: { name: string; dbName: string | null }[];
}

interface DmmfIndex {
  model: string;
  type: 'id' | 'unique' | 'normal' | 'fulltext';
  dbName?: string | null;
  algorithm?: string;
  fields: { name: string; sortOrder?: 'asc' | 'desc' }[];
}

interface Datamodel {
  models: DmmfModel[];
  enums: DmmfEnum[];
  indexes?: DmmfIndex[];
}

interface LoadedSchema {
  datamodel: Datamodel;
  relationModePrisma: boolean;
  /** `Unsupported("…")` fields per model name: the DMMF leaves them out, yet they are columns. */
  unsupported: Map<string, { field: string; column: string }[]>;
}

async function loadDatamodel(schemaPath: string): Promise<LoadedSchema> {
  const files = (await stat(schemaPath)).isDirectory()
    ? await readSchemaFolder(schemaPath)
    : ([[schemaPath, await readFile(schemaPath, 'utf8')]] as [string, string][]);
  // Loaded on first use: Prisma's internals take a while to load, and importing this package should not cost that.
  const internals = await import('@prisma/internals');
  const { getDMMF } = (internals as unknown as { default?: typeof internals }).default ?? internals;
  const document = await getDMMF({ datamodel: files.length === 1 ? (files[0] as [string, string])[1] : files });
  const datamodel = document.datamodel as unknown as Datamodel;
  if (!Array.isArray(datamodel.indexes)) {
    throw new Error('this Prisma version does not describe indexes in its DMMF; the drift check needs them');
  }
  // relationMode is not part of the DMMF; "prisma" means foreign keys are emulated, so none exist in the database.
  const relationModePrisma = files.some(([, content]) => /datasource\s+\w+\s*\{[^}]*\brelationMode\s*=\s*"prisma"/.test(content));
  return { datamodel, relationModePrisma, unsupported: unsupportedFields(files.map(([, content]) => content)) };
}

function unsupportedFields(contents: string[]): Map<string, { field: string; column: string }[]> {
  const found = new Map<string, { field: string; column: string }[]>();
  for (const content of contents) {
    for (const block of content.matchAll(/^\s*model\s+(\w+)\s*\{([\s\S]*?)^\s*\}/gm)) {
      const [, model = '', body = ''] = block;
      for (const line of body.split('\n')) {
        const match = /^\s*(\w+)\s+Unsupported\(\s*"[^"]*"\s*\)[?[\]]*(.*)$/.exec(line);
        if (!match) continue;
        const [, field = '', rest = ''] = match;
        const column = /@map\(\s*(?:name:\s*)?"([^"]+)"\s*\)/.exec(rest)?.[1] ?? field;
        found.set(model, [...(found.get(model) ?? []), { field, column }]);
      }
    }
  }
  return found;
}

async function readSchemaFolder(dir: string): Promise<[string, string][]> {
  const found: [string, string][] = [];
  const walk = async (current: string): Promise<void> => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory() && entry.name !== 'migrations') await walk(path);
      else if (entry.isFile() && entry.name.endsWith('.prisma')) found.push([relative(dir, path), await readFile(path, 'utf8')]);
    }
  };
  await walk(dir);
  return found.sort(([a], [b]) => a.localeCompare(b));
}

// ---------------------------------------------------------------------------------------------
// What `prisma migrate` would have created.

type ExpectedDefault =
  | { kind: 'none' }
  | { kind: 'any' }
  | { kind: 'sequence' }
  | { kind: 'now' }
  | { kind: 'value'; value: string; compare: 'text' | 'number' | 'json' | 'presence' };

interface ColumnType {
  /** format_type() of the element type, or the enum's name. */
  base: string;
  isEnum: boolean;
  isArray: boolean;
}

interface ExpectedColumn {
  name: string;
  origin: string;
  type: ColumnType;
  notNull: boolean;
  default: ExpectedDefault;
  /** False for `Unsupported("…")` fields, whose type the schema states only as free text. */
  checked: boolean;
}

interface IndexColumn {
  name: string;
  desc: boolean;
}

interface ExpectedIndex {
  name: string;
  unique: boolean;
  columns: IndexColumn[];
  algorithm: string;
}

interface ForeignKey {
  name?: string;
  columns: string[];
  refSchema: string;
  refTable: string;
  refColumns: string[];
  onDelete: string;
  onUpdate: string;
}

interface ExpectedTable {
  schema: string;
  name: string;
  origin: string;
  columns: ExpectedColumn[];
  primaryKey: { name: string; columns: string[] } | null;
  indexes: ExpectedIndex[];
  foreignKeys: ForeignKey[];
}

interface ExpectedSchema {
  schemas: string[];
  enums: { schema: string; name: string; values: string[] }[];
  tables: ExpectedTable[];
}

const MAX_IDENTIFIER_BYTES = 63;

// Prisma truncates generated names to Postgres' identifier limit before appending the suffix.
function truncateBytes(value: string, maxBytes: number): string {
  let out = value;
  while (Buffer.byteLength(out) > maxBytes) out = out.slice(0, -1);
  return out;
}

function primaryKeyName(table: string): string {
  return `${truncateBytes(table, MAX_IDENTIFIER_BYTES - '_pkey'.length)}_pkey`;
}

function indexName(table: string, columns: string[], suffix: '_key' | '_idx'): string {
  return `${truncateBytes(`${table}_${columns.join('_')}`, MAX_IDENTIFIER_BYTES - suffix.length)}${suffix}`;
}

const PRISMA_DEFAULT_TYPES: Record<string, string> = {
  String: 'text',
  Int: 'integer',
  BigInt: 'bigint',
  Float: 'double precision',
  Decimal: 'numeric(65,30)',
  Boolean: 'boolean',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Bytes: 'bytea',
};

function nativeTypeToPostgres(name: string, args: string[]): string {
  const [a, b] = args;
  const precision = a === undefined ? '' : `(${a})`;
  switch (name) {
    case 'Text':
      return 'text';
    case 'VarChar':
      return a === undefined ? 'character varying' : `character varying(${a})`;
    case 'Char':
      return `character(${a ?? 1})`;
    case 'Uuid':
      return 'uuid';
    case 'Xml':
      return 'xml';
    case 'Inet':
      return 'inet';
    case 'Citext':
      return 'citext';
    case 'Bit':
      return `bit(${a ?? 1})`;
    case 'VarBit':
      return a === undefined ? 'bit varying' : `bit varying(${a})`;
    case 'SmallInt':
      return 'smallint';
    case 'Integer':
      return 'integer';
    case 'BigInt':
      return 'bigint';
    case 'Oid':
      return 'oid';
    case 'Real':
      return 'real';
    case 'DoublePrecision':
      return 'double precision';
    case 'Decimal':
      return a === undefined ? 'numeric' : `numeric(${a},${b ?? 0})`;
    case 'Money':
      return 'money';
    case 'Boolean':
      return 'boolean';
    case 'Date':
      return 'date';
    case 'Timestamp':
      return `timestamp${precision} without time zone`;
    case 'Timestamptz':
      return `timestamp${precision} with time zone`;
    case 'Time':
      return `time${precision} without time zone`;
    case 'Timetz':
      return `time${precision} with time zone`;
    case 'Json':
      return 'json';
    case 'JsonB':
      return 'jsonb';
    case 'ByteA':
      return 'bytea';
    default:
      return `${name.toLowerCase()}${precision}`;
  }
}

function columnName(field: DmmfField): string {
  return field.dbName ?? field.name;
}

function tableName(model: DmmfModel): string {
  return model.dbName ?? model.name;
}

function expectedSchema({ datamodel, relationModePrisma, unsupported }: LoadedSchema): ExpectedSchema {
  const enumsByName = new Map(datamodel.enums.map((e) => [e.name, e]));
  const modelsByName = new Map(datamodel.models.map((m) => [m.name, m]));
  const schemas = new Set<string>(['public']);
  const enums = datamodel.enums.map((e) => {
    const schema = e.schema ?? 'public';
    schemas.add(schema);
    return { schema, name: e.dbName ?? e.name, values: e.values.map((v) => v.dbName ?? v.name) };
  });

  const fieldColumn = (model: DmmfModel, fieldName: string): string => {
    const field = model.fields.find((f) => f.name === fieldName);
    return field ? columnName(field) : fieldName;
  };

  const fieldType = (field: DmmfField): ColumnType => {
    if (field.kind === 'enum') {
      const enm = enumsByName.get(field.type);
      return { base: enm?.dbName ?? field.type, isEnum: true, isArray: field.isList };
    }
    const base = field.nativeType
      ? nativeTypeToPostgres(field.nativeType[0], field.nativeType[1])
      : (PRISMA_DEFAULT_TYPES[field.type] ?? field.type.toLowerCase());
    return { base, isEnum: false, isArray: field.isList };
  };

  const tables: ExpectedTable[] = datamodel.models.map((model) => {
    const schema = model.schema ?? 'public';
    schemas.add(schema);
    const name = tableName(model);
    const columns: ExpectedColumn[] = model.fields
      .filter((f) => f.kind === 'scalar' || f.kind === 'enum')
      .map((field) => ({
        name: columnName(field),
        origin: `${model.name}.${field.name}`,
        type: fieldType(field),
        // Prisma renders list columns without NOT NULL.
        notNull: field.isRequired && !field.isList,
        default: expectedDefault(field, enumsByName),
        checked: true,
      }));
    for (const { field, column } of unsupported.get(model.name) ?? []) {
      columns.push({
        name: column,
        origin: `${model.name}.${field}`,
        type: { base: 'Unsupported', isEnum: false, isArray: false },
        notNull: false,
        default: { kind: 'any' },
        checked: false,
      });
    }

    let primaryKey: ExpectedTable['primaryKey'] = null;
    const indexes: ExpectedIndex[] = [];
    for (const index of (datamodel.indexes ?? []).filter((i) => i.model === model.name)) {
      const cols = index.fields.map((f) => ({ name: fieldColumn(model, f.name), desc: f.sortOrder === 'desc' }));
      const colNames = cols.map((c) => c.name);
      if (index.type === 'id') {
        primaryKey = { name: index.dbName ?? primaryKeyName(name), columns: colNames };
      } else if (index.type === 'unique' || index.type === 'normal') {
        const unique = index.type === 'unique';
        indexes.push({
          name: index.dbName ?? indexName(name, colNames, unique ? '_key' : '_idx'),
          unique,
          columns: cols,
          algorithm: (index.algorithm ?? 'BTree').toLowerCase(),
        });
      }
    }

    const foreignKeys: ForeignKey[] = [];
    if (!relationModePrisma) {
      for (const field of model.fields) {
        if (field.kind !== 'object' || !field.relationFromFields?.length) continue;
        const target = modelsByName.get(field.type);
        if (!target) continue;
        // Prisma's default: SetNull when any referencing field is optional, otherwise Restrict; updates cascade.
        const anyOptional = field.relationFromFields.some((f) => !model.fields.find((x) => x.name === f)?.isRequired);
        foreignKeys.push({
          columns: field.relationFromFields.map((f) => fieldColumn(model, f)),
          refSchema: target.schema ?? 'public',
          refTable: tableName(target),
          refColumns: (field.relationToFields ?? []).map((f) => fieldColumn(target, f)),
          onDelete: field.relationOnDelete ?? (anyOptional ? 'SetNull' : 'Restrict'),
          onUpdate: field.relationOnUpdate ?? 'Cascade',
        });
      }
    }
    return { schema, name, origin: `model ${model.name}`, columns, primaryKey, indexes, foreignKeys };
  });

  tables.push(...implicitManyToManyTables(datamodel, relationModePrisma, fieldType));
  return { schemas: [...schemas], enums, tables };
}

/** The join tables Prisma creates for implicit many-to-many relations: `_<relation>` with columns A and B. */
function implicitManyToManyTables(
  datamodel: Datamodel,
  relationModePrisma: boolean,
  fieldType: (field: DmmfField) => ColumnType,
): ExpectedTable[] {
  const byRelation = new Map<string, { model: DmmfModel; field: DmmfField }[]>();
  for (const model of datamodel.models) {
    for (const field of model.fields) {
      if (field.kind !== 'object' || !field.relationName) continue;
      const sides = byRelation.get(field.relationName) ?? [];
      sides.push({ model, field });
      byRelation.set(field.relationName, sides);
    }
  }
  const tables: ExpectedTable[] = [];
  for (const [relation, sides] of byRelation) {
    const implicit = sides.length > 0 && sides.every((s) => s.field.isList && !s.field.relationFromFields?.length);
    if (!implicit) continue;
    // Column A references the model whose name sorts first.
    const models = sides.map((s) => s.model).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const [modelA, modelB] = [models[0] as DmmfModel, (models[1] ?? models[0]) as DmmfModel];
    const idOf = (model: DmmfModel) => model.fields.find((f) => f.isId);
    const idA = idOf(modelA);
    const idB = idOf(modelB);
    if (!idA || !idB) continue;
    const name = `_${relation}`;
    const column = (col: 'A' | 'B', id: DmmfField): ExpectedColumn => ({
      name: col,
      origin: `implicit many-to-many relation ${relation}`,
      type: { ...fieldType(id), isArray: false },
      notNull: true,
      default: { kind: 'none' },
      checked: true,
    });
    const fk = (col: 'A' | 'B', model: DmmfModel, id: DmmfField): ForeignKey => ({
      columns: [col],
      refSchema: model.schema ?? 'public',
      refTable: tableName(model),
      refColumns: [columnName(id)],
      onDelete: 'Cascade',
      onUpdate: 'Cascade',
    });
    tables.push({
      schema: modelA.schema ?? 'public',
      name,
      origin: `implicit many-to-many relation ${relation}`,
      columns: [column('A', idA), column('B', idB)],
      primaryKey: { name: `${name}_AB_pkey`, columns: ['A', 'B'] },
      indexes: [{ name: `${name}_B_index`, unique: false, columns: [{ name: 'B', desc: false }], algorithm: 'btree' }],
      foreignKeys: relationModePrisma ? [] : [fk('A', modelA, idA), fk('B', modelB, idB)],
    });
  }
  return tables;
}

function expectedDefault(field: DmmfField, enums: Map<string, DmmfEnum>): ExpectedDefault {
  const value = field.default;
  if (value === undefined || value === null) return { kind: 'none' };
  if (Array.isArray(value)) return { kind: 'value', value: JSON.stringify(value), compare: 'presence' };
  if (typeof value === 'object') {
    const fn = value as { name?: string; args?: unknown[] };
    switch (fn.name) {
      case 'autoincrement':
      case 'sequence':
        return { kind: 'sequence' };
      case 'now':
        return { kind: 'now' };
      case 'dbgenerated':
        return fn.args?.length ? { kind: 'value', value: String(fn.args[0]), compare: 'presence' } : { kind: 'any' };
      // Any other function (uuid(), cuid(), nanoid(), ulid()…) is evaluated by Prisma Client, so the column has no default.
      default:
        return { kind: 'none' };
    }
  }
  if (field.kind === 'enum') {
    const enm = enums.get(field.type);
    const mapped = enm?.values.find((v) => v.name === value)?.dbName ?? String(value);
    return { kind: 'value', value: mapped, compare: 'text' };
  }
  switch (field.type) {
    case 'Int':
    case 'BigInt':
    case 'Float':
    case 'Decimal':
      return { kind: 'value', value: String(value), compare: 'number' };
    case 'Json':
      return { kind: 'value', value: String(value), compare: 'json' };
    case 'DateTime':
    case 'Bytes':
      return { kind: 'value', value: String(value), compare: 'presence' };
    default:
      return { kind: 'value', value: String(value), compare: 'text' };
  }
}

// ---------------------------------------------------------------------------------------------
// What the database has.

interface ActualColumn {
  name: string;
  type: ColumnType;
  notNull: boolean;
  default: string | null;
  identity: boolean;
}

interface ActualIndex extends ExpectedIndex {
  primary: boolean;
  partialOrExpression: boolean;
}

interface ActualTable {
  schema: string;
  name: string;
  columns: ActualColumn[];
  indexes: ActualIndex[];
  foreignKeys: ForeignKey[];
}

interface ActualSchema {
  enums: { schema: string; name: string; values: string[] }[];
  tables: ActualTable[];
}

const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`;

async function readActualSchema(conn: SqlConnection, schemas: string[]): Promise<ActualSchema> {
  const wanted = new Set(schemas);
  const inScope = (row: { schema: string }) => wanted.has(row.schema);

  const tableRows = (
    await conn.query<{ schema: string; name: string }>(
      `SELECT n.nspname AS schema, c.relname AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND ${USER_SCHEMAS}
        ORDER BY c.relname`,
    )
  ).rows.filter(inScope);

  const columnRows = (
    await conn.query<{
      schema: string;
      table: string;
      name: string;
      base: string;
      is_array: boolean;
      is_enum: boolean;
      enum_name: string;
      not_null: boolean;
      default_expr: string | null;
      identity: string;
    }>(
      `SELECT n.nspname AS schema, c.relname AS "table", a.attname AS name,
              format_type(et.oid, a.atttypmod) AS base,
              t.typcategory = 'A' AS is_array,
              et.typtype = 'e' AS is_enum,
              et.typname::text AS enum_name,
              a.attnotnull AS not_null,
              pg_get_expr(d.adbin, d.adrelid) AS default_expr,
              a.attidentity::text AS identity
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_type t ON t.oid = a.atttypid
         JOIN pg_type et ON et.oid = CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE t.oid END
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND ${USER_SCHEMAS}
        ORDER BY c.relname, a.attnum`,
    )
  ).rows.filter(inScope);

  const indexRows = (
    await conn.query<{
      schema: string;
      table: string;
      name: string;
      unique: boolean;
      primary: boolean;
      algorithm: string;
      columns: string[];
      options: number[];
      partial_or_expression: boolean;
    }>(
      `SELECT n.nspname AS schema, t.relname AS "table", i.relname AS name,
              ix.indisunique AS "unique", ix.indisprimary AS "primary", am.amname::text AS algorithm,
              ARRAY(SELECT COALESCE(a.attname::text, '(expression)')
                      FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                      LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                     WHERE k.ord <= ix.indnkeyatts
                     ORDER BY k.ord)::text[] AS columns,
              ix.indoption::int2[]::int4[] AS options,
              (ix.indpred IS NOT NULL OR ix.indexprs IS NOT NULL) AS partial_or_expression
         FROM pg_index ix
         JOIN pg_class t ON t.oid = ix.indrelid
         JOIN pg_class i ON i.oid = ix.indexrelid
         JOIN pg_am am ON am.oid = i.relam
         JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE t.relkind IN ('r', 'p') AND ${USER_SCHEMAS}
        ORDER BY t.relname, i.relname`,
    )
  ).rows.filter(inScope);

  const fkRows = (
    await conn.query<{
      schema: string;
      table: string;
      name: string;
      columns: string[];
      ref_schema: string;
      ref_table: string;
      ref_columns: string[];
      on_delete: string;
      on_update: string;
    }>(
      `SELECT n.nspname AS schema, t.relname AS "table", con.conname AS name,
              ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS columns,
              rn.nspname AS ref_schema, rt.relname AS ref_table,
              ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS ref_columns,
              con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update
         FROM pg_constraint con
         JOIN pg_class t ON t.oid = con.conrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         JOIN pg_class rt ON rt.oid = con.confrelid
         JOIN pg_namespace rn ON rn.oid = rt.relnamespace
        WHERE con.contype = 'f' AND ${USER_SCHEMAS}
        ORDER BY t.relname, con.conname`,
    )
  ).rows.filter(inScope);

  const enumRows = (
    await conn.query<{ schema: string; name: string; values: string[] }>(
      `SELECT n.nspname AS schema, t.typname::text AS name,
              ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)::text[] AS values
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typtype = 'e' AND ${USER_SCHEMAS}
        ORDER BY t.typname`,
    )
  ).rows.filter(inScope);

  const key = (schema: string, table: string) => `${schema}\u0000${table}`;
  const tables = new Map<string, ActualTable>(
    tableRows.map((row) => [key(row.schema, row.name), { schema: row.schema, name: row.name, columns: [], indexes: [], foreignKeys: [] }]),
  );
  for (const row of columnRows) {
    tables.get(key(row.schema, row.table))?.columns.push({
      name: row.name,
      type: { base: row.is_enum ? row.enum_name : row.base, isEnum: row.is_enum, isArray: row.is_array },
      notNull: row.not_null,
      default: row.default_expr,
      identity: row.identity !== '',
    });
  }
  for (const row of indexRows) {
    tables.get(key(row.schema, row.table))?.indexes.push({
      name: row.name,
      unique: row.unique,
      primary: row.primary,
      algorithm: row.algorithm,
      // indoption bit 0 is DESC.
      columns: row.columns.map((name, i) => ({ name, desc: ((row.options[i] ?? 0) & 1) === 1 })),
      partialOrExpression: row.partial_or_expression,
    });
  }
  for (const row of fkRows) {
    tables.get(key(row.schema, row.table))?.foreignKeys.push({
      name: row.name,
      columns: row.columns,
      refSchema: row.ref_schema,
      refTable: row.ref_table,
      refColumns: row.ref_columns,
      onDelete: FK_ACTIONS[row.on_delete] ?? row.on_delete,
      onUpdate: FK_ACTIONS[row.on_update] ?? row.on_update,
    });
  }
  return { enums: enumRows, tables: [...tables.values()] };
}

const FK_ACTIONS: Record<string, string> = {
  a: 'NoAction',
  r: 'Restrict',
  c: 'Cascade',
  n: 'SetNull',
  d: 'SetDefault',
};

// ---------------------------------------------------------------------------------------------
// The comparison.

function q(name: string): string {
  return `"${name}"`;
}

function qualified(schema: string, table: string): string {
  return schema === 'public' ? q(table) : `${q(schema)}.${q(table)}`;
}

function showType(type: ColumnType): string {
  return `${type.isEnum ? `enum ${q(type.base)}` : type.base}${type.isArray ? '[]' : ''}`;
}

function showColumns(columns: IndexColumn[]): string {
  return `(${columns.map((c) => `${q(c.name)}${c.desc ? ' DESC' : ''}`).join(', ')})`;
}

function showFk(table: string, fk: ForeignKey): string {
  return `${fk.name ? `${q(fk.name)} ` : ''}on ${table} (${fk.columns.map(q).join(', ')}) → ${qualified(fk.refSchema, fk.refTable)} (${fk.refColumns.map(q).join(', ')})`;
}

function showAction(action: string): string {
  return action.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
}

function showExpectedDefault(d: ExpectedDefault): string {
  switch (d.kind) {
    case 'sequence':
      return 'an autoincrement sequence';
    case 'now':
      return 'CURRENT_TIMESTAMP';
    case 'value':
      return d.compare === 'presence' ? `a default (${d.value})` : d.value;
    default:
      return 'a default';
  }
}

/** The literal inside a default expression: `'abc'::text` → abc, `(-1)` → -1, `1.5` → 1.5. */
function defaultLiteral(expr: string): string {
  let text = expr.trim();
  while (text.startsWith('(') && text.endsWith(')')) text = text.slice(1, -1).trim();
  if (text.startsWith("'")) {
    let out = '';
    for (let i = 1; i < text.length; i++) {
      const ch = text[i];
      if (ch === "'") {
        if (text[i + 1] === "'") {
          out += "'";
          i++;
          continue;
        }
        return out;
      }
      out += ch;
    }
    return out;
  }
  return text.replace(/::[\w\s."[\]()]+$/, '').replace(/^\((.*)\)$/, '$1');
}

function defaultDifference(column: ActualColumn, expected: ExpectedDefault): string | null {
  const actual = column.default;
  const hasDefault = actual !== null || column.identity;
  const shown = actual ?? 'an identity';
  switch (expected.kind) {
    case 'any':
      return null;
    case 'none':
      return hasDefault ? `default is ${shown}; the schema expects no default` : null;
    case 'sequence':
      return column.identity || /^nextval\(/i.test(actual ?? '')
        ? null
        : hasDefault
          ? `default is ${shown}; the schema expects an autoincrement sequence`
          : 'has no default; the schema expects an autoincrement sequence';
    case 'now':
      if (actual !== null && /^(CURRENT_TIMESTAMP|now\(\))$/i.test(actual.trim())) return null;
      return hasDefault
        ? `default is ${shown}; the schema expects CURRENT_TIMESTAMP`
        : 'has no default; the schema expects CURRENT_TIMESTAMP';
    case 'value': {
      if (actual === null) return `has no default; the schema expects ${showExpectedDefault(expected)}`;
      if (expected.compare === 'presence') return null;
      const literal = defaultLiteral(actual);
      let same: boolean;
      if (expected.compare === 'number') same = Number(literal) === Number(expected.value);
      else if (expected.compare === 'json') same = jsonEqual(literal, expected.value);
      else same = literal === expected.value;
      return same ? null : `default is ${actual}; the schema expects ${showExpectedDefault(expected)}`;
    }
  }
}

function jsonEqual(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return a === b;
  }
}

function sameColumns(a: IndexColumn[], b: IndexColumn[]): boolean {
  return a.length === b.length && a.every((c, i) => c.name === b[i]?.name && c.desc === b[i]?.desc);
}

function compare(
  expected: ExpectedSchema,
  actual: ActualSchema,
  ignore: { ignoreTables: Set<string>; ignoreIndexes: Set<string> },
): string[] {
  const out: string[] = [];

  const actualEnums = new Map(actual.enums.map((e) => [`${e.schema}.${e.name}`, e]));
  for (const enm of expected.enums) {
    const label = `enum ${qualified(enm.schema, enm.name)}`;
    const found = actualEnums.get(`${enm.schema}.${enm.name}`);
    actualEnums.delete(`${enm.schema}.${enm.name}`);
    if (!found) {
      out.push(`${label}: missing in the database`);
    } else if (found.values.join('\u0000') !== enm.values.join('\u0000')) {
      const show = (values: string[]) => `(${values.map((v) => `'${v}'`).join(', ')})`;
      out.push(`${label}: values are ${show(found.values)}; the schema expects ${show(enm.values)}`);
    }
  }
  for (const extra of actualEnums.values()) out.push(`enum ${qualified(extra.schema, extra.name)}: in the database but not in the schema`);

  const actualTables = new Map(actual.tables.map((t) => [`${t.schema}.${t.name}`, t]));
  for (const table of expected.tables) {
    const label = qualified(table.schema, table.name);
    const found = actualTables.get(`${table.schema}.${table.name}`);
    actualTables.delete(`${table.schema}.${table.name}`);
    if (!found) {
      out.push(`table ${label}: missing in the database (${table.origin})`);
      continue;
    }
    compareTable(table, found, label, ignore.ignoreIndexes, out);
  }
  for (const extra of actualTables.values()) {
    if (ignore.ignoreTables.has(extra.name) || ignore.ignoreTables.has(`${extra.schema}.${extra.name}`)) continue;
    out.push(`table ${qualified(extra.schema, extra.name)}: in the database but not in the schema`);
  }
  return out;
}

function compareTable(table: ExpectedTable, found: ActualTable, label: string, ignoreIndexes: Set<string>, out: string[]): void {
  const columns = new Map(found.columns.map((c) => [c.name, c]));
  for (const column of table.columns) {
    const col = columns.get(column.name);
    columns.delete(column.name);
    const colLabel = `column ${label}.${q(column.name)}`;
    if (!col) {
      out.push(`${colLabel}: missing in the database (field ${column.origin})`);
      continue;
    }
    if (!column.checked) continue;
    const typeMatches =
      col.type.isEnum === column.type.isEnum && col.type.isArray === column.type.isArray && col.type.base === column.type.base;
    if (!typeMatches) out.push(`${colLabel}: type is ${showType(col.type)}; the schema expects ${showType(column.type)}`);
    if (col.notNull !== column.notNull) {
      out.push(
        col.notNull ? `${colLabel}: is NOT NULL; the schema expects it nullable` : `${colLabel}: is nullable; the schema expects NOT NULL`,
      );
    }
    const defaultDiff = defaultDifference(col, column.default);
    if (defaultDiff) out.push(`${colLabel}: ${defaultDiff}`);
  }
  for (const extra of columns.values()) out.push(`column ${label}.${q(extra.name)}: in the database but not in the schema`);

  const pk = found.indexes.find((i) => i.primary);
  const show = (cols: string[]) => `(${cols.map(q).join(', ')})`;
  if (table.primaryKey && !pk) {
    out.push(`table ${label}: has no primary key; the schema expects ${q(table.primaryKey.name)} ${show(table.primaryKey.columns)}`);
  } else if (!table.primaryKey && pk) {
    out.push(`table ${label}: has primary key ${q(pk.name)} ${showColumns(pk.columns)}; the schema expects none`);
  } else if (table.primaryKey && pk) {
    const cols = pk.columns.map((c) => c.name);
    if (cols.join('\u0000') !== table.primaryKey.columns.join('\u0000')) {
      out.push(`table ${label}: primary key is ${show(cols)}; the schema expects ${show(table.primaryKey.columns)}`);
    }
    if (pk.name !== table.primaryKey.name) {
      out.push(`table ${label}: primary key is named ${q(pk.name)}; the schema expects ${q(table.primaryKey.name)}`);
    }
  }

  const kind = (unique: boolean) => (unique ? 'unique index' : 'index');
  const remaining = found.indexes.filter((i) => !i.primary && !ignoreIndexes.has(i.name));
  const unmatched: ExpectedIndex[] = [];
  for (const index of table.indexes) {
    const at = remaining.findIndex((i) => i.name === index.name);
    if (at < 0) {
      unmatched.push(index);
      continue;
    }
    const [idx] = remaining.splice(at, 1) as [ActualIndex];
    const idxLabel = `${kind(index.unique)} ${q(index.name)} on ${label}`;
    if (idx.unique !== index.unique) out.push(`${idxLabel}: is ${idx.unique ? '' : 'not '}unique in the database`);
    if (idx.partialOrExpression) out.push(`${idxLabel}: is a partial or expression index in the database`);
    if (!sameColumns(idx.columns, index.columns)) {
      out.push(`${idxLabel}: columns are ${showColumns(idx.columns)}; the schema expects ${showColumns(index.columns)}`);
    }
    if (idx.algorithm !== index.algorithm) out.push(`${idxLabel}: uses ${idx.algorithm}; the schema expects ${index.algorithm}`);
  }
  for (const index of unmatched) {
    const at = remaining.findIndex((i) => i.unique === index.unique && !i.partialOrExpression && sameColumns(i.columns, index.columns));
    if (at >= 0) {
      const [idx] = remaining.splice(at, 1) as [ActualIndex];
      out.push(
        `${kind(index.unique)} on ${label} ${showColumns(index.columns)}: is named ${q(idx.name)}; the schema expects ${q(index.name)}`,
      );
    } else {
      out.push(`${kind(index.unique)} ${q(index.name)} on ${label} ${showColumns(index.columns)}: missing in the database`);
    }
  }
  for (const extra of remaining) {
    const extraKind = extra.partialOrExpression ? `partial or expression ${kind(extra.unique)}` : kind(extra.unique);
    out.push(`${extraKind} ${q(extra.name)} on ${label} ${showColumns(extra.columns)}: in the database but not in the schema`);
  }

  const fkKey = (fk: ForeignKey) => [fk.columns.join(','), fk.refSchema, fk.refTable, fk.refColumns.join(',')].join('\u0000');
  const actualFks = new Map(found.foreignKeys.map((fk) => [fkKey(fk), fk]));
  for (const fk of table.foreignKeys) {
    const match = actualFks.get(fkKey(fk));
    actualFks.delete(fkKey(fk));
    if (!match) {
      out.push(`foreign key ${showFk(label, fk)}: missing in the database`);
      continue;
    }
    if (match.onDelete !== fk.onDelete) {
      out.push(
        `foreign key ${showFk(label, match)}: ON DELETE is ${showAction(match.onDelete)}; the schema expects ${showAction(fk.onDelete)}`,
      );
    }
    if (match.onUpdate !== fk.onUpdate) {
      out.push(
        `foreign key ${showFk(label, match)}: ON UPDATE is ${showAction(match.onUpdate)}; the schema expects ${showAction(fk.onUpdate)}`,
      );
    }
  }
  for (const extra of actualFks.values()) out.push(`foreign key ${showFk(label, extra)}: in the database but not in the schema`);
}
