import { fileURLToPath } from 'node:url';
import { migrate, openDatabase, type Database } from '@pep/db';
import { createTestDatabase, type TestDatabase } from '@pep/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixturePath } from '../test/support/fixtures.js';
import { assertNoSchemaDrift, checkSchemaDrift, SchemaDriftError } from './drift.js';

const patientsPrisma = fileURLToPath(new URL('../../../services/patients/prisma/', import.meta.url));

describe('checkSchemaDrift', () => {
  let testDb: TestDatabase;
  let db: Database;

  beforeEach(async () => {
    testDb = await createTestDatabase('db_drift');
    db = await openDatabase({ kind: 'postgres', url: testDb.url, poolMax: 2 });
  });

  afterEach(async () => {
    await db.close();
    await testDb.drop();
  });

  async function exec(sql: string): Promise<void> {
    const conn = await db.sql.connect();
    try {
      await conn.exec(sql);
    } finally {
      await conn.release();
    }
  }

  it("the patients service's migrations produce exactly its schema.prisma", async () => {
    await migrate(db, { migrationsDir: `${patientsPrisma}migrations` });

    const report = await checkSchemaDrift({ schemaPath: `${patientsPrisma}schema.prisma`, db });

    expect(report).toEqual({ ok: true, differences: [] });
    await expect(assertNoSchemaDrift({ schemaPath: `${patientsPrisma}schema.prisma`, db })).resolves.toBeUndefined();
  });

  it('notices when the patients database is changed behind the schema', async () => {
    await migrate(db, { migrationsDir: `${patientsPrisma}migrations` });
    await exec(`
      DROP INDEX "patient_organization_lastname_idx";
      ALTER TABLE "outbox" ALTER COLUMN "attempts" DROP DEFAULT;
      ALTER TABLE "inbox" ALTER COLUMN "handled_at" TYPE TIMESTAMP(3);
      ALTER TABLE "journey_entry" ADD COLUMN "note" TEXT;
    `);

    const report = await checkSchemaDrift({ schemaPath: `${patientsPrisma}schema.prisma`, db });

    expect(report.ok).toBe(false);
    expect(report.differences).toEqual([
      'index "patient_organization_lastname_idx" on "patient" ("organization", "lastname"): missing in the database',
      'column "journey_entry"."note": in the database but not in the schema',
      'column "outbox"."attempts": has no default; the schema expects 0',
      'column "inbox"."handled_at": type is timestamp(3) without time zone; the schema expects timestamp(3) with time zone',
    ]);
    const assertion = assertNoSchemaDrift({ schemaPath: `${patientsPrisma}schema.prisma`, db });
    await expect(assertion).rejects.toBeInstanceOf(SchemaDriftError);
    await expect(assertion).rejects.toMatchObject({ differences: report.differences });
  });

  it('reports the differences between a schema and a migration that drifted from it', async () => {
    await migrate(db, { migrationsDir: fixturePath('drift', 'mismatch', 'migrations') });

    const report = await checkSchemaDrift({ schemaPath: fixturePath('drift', 'mismatch', 'schema.prisma'), db });

    expect(report).toEqual({
      ok: false,
      differences: [
        'column "customer"."name": is nullable; the schema expects NOT NULL',
        'column "customer"."email": missing in the database (field Customer.email)',
        'column "customer"."age": type is text; the schema expects integer',
        'column "customer"."legacy": in the database but not in the schema',
        'index "customer_region_created_at_idx" on "customer" ("region", "created_at"): missing in the database',
        'table "orphan": in the database but not in the schema',
      ],
    });
  });

  it('ignores tables and indexes it is told to', async () => {
    await migrate(db, { migrationsDir: `${patientsPrisma}migrations` });
    await exec(`
      CREATE TABLE "audit_scratch" ("id" INTEGER);
      CREATE INDEX "outbox_unpublished_idx" ON "outbox" ("created_at") WHERE "published_at" IS NULL;
    `);
    const schemaPath = `${patientsPrisma}schema.prisma`;

    expect((await checkSchemaDrift({ schemaPath, db })).differences).toEqual([
      'partial or expression index "outbox_unpublished_idx" on "outbox" ("created_at"): in the database but not in the schema',
      'table "audit_scratch": in the database but not in the schema',
    ]);
    expect(await checkSchemaDrift({ schemaPath, db, ignoreTables: ['audit_scratch'], ignoreIndexes: ['outbox_unpublished_idx'] })).toEqual({
      ok: true,
      differences: [],
    });
  });

  it('understands enums, relations, implicit many-to-many, composite keys, defaults, lists, native and unsupported types', async () => {
    await migrate(db, { migrationsDir: fixturePath('drift', 'kitchen-sink', 'migrations') });
    const schemaPath = fixturePath('drift', 'kitchen-sink', 'schema.prisma');

    expect(await checkSchemaDrift({ schemaPath, db })).toEqual({ ok: true, differences: [] });

    await exec(`
      ALTER TYPE "role" ADD VALUE 'GUEST';
      ALTER TABLE "Post" DROP CONSTRAINT "Post_category_id_fkey";
      ALTER TABLE "Post" ADD CONSTRAINT "Post_category_id_fkey" FOREIGN KEY ("category_id") REFERENCES "Category"("id") ON DELETE CASCADE ON UPDATE CASCADE;
      ALTER TABLE "_AccountToGroup" DROP CONSTRAINT "_AccountToGroup_B_fkey";
      ALTER TABLE "account" ALTER COLUMN "public_id" SET DEFAULT gen_random_uuid();
      ALTER TABLE "account" ALTER COLUMN "nickname" SET DEFAULT 'someone';
      ALTER TABLE "account" ALTER COLUMN "tags" TYPE VARCHAR(20)[];
      ALTER INDEX "account_nickname_visits_key" RENAME TO "account_nick_visits_uq";
      DROP INDEX "account_created_at_idx";
      CREATE INDEX "account_created_at_idx" ON "account" ("created_at");
      ALTER TABLE "Membership" DROP CONSTRAINT "Membership_pkey";
      ALTER TABLE "Membership" ADD CONSTRAINT "Membership_pkey" PRIMARY KEY ("groupId");
      ALTER TABLE "Post" DROP COLUMN "search_vector";
    `);

    expect((await checkSchemaDrift({ schemaPath, db })).differences).toEqual([
      `enum "role": values are ('ADMIN', 'member', 'GUEST'); the schema expects ('ADMIN', 'member')`,
      'column "account"."tags": type is character varying(20)[]; the schema expects text[]',
      `column "account"."nickname": default is 'someone'::text; the schema expects anon`,
      'column "account"."public_id": default is gen_random_uuid(); the schema expects no default',
      'index "account_created_at_idx" on "account": columns are ("created_at"); the schema expects ("created_at" DESC)',
      'unique index on "account" ("nickname", "visits"): is named "account_nick_visits_uq"; the schema expects "account_nickname_visits_key"',
      'column "Post"."search_vector": missing in the database (field Post.search)',
      'foreign key "Post_category_id_fkey" on "Post" ("category_id") → "Category" ("id"): ON DELETE is CASCADE; the schema expects SET NULL',
      'table "Membership": primary key is ("groupId"); the schema expects ("groupId", "accountId")',
      'foreign key on "_AccountToGroup" ("B") → "Group" ("id"): missing in the database',
    ]);
  });
});

describe('checkSchemaDrift on PGlite', () => {
  it('finds no drift after the patients migrations, and notices a change', async () => {
    const db = await openDatabase({ kind: 'pglite', dataDir: null });
    try {
      await migrate(db, { migrationsDir: `${patientsPrisma}migrations` });
      const schemaPath = `${patientsPrisma}schema.prisma`;
      expect(await checkSchemaDrift({ schemaPath, db })).toEqual({ ok: true, differences: [] });

      const conn = await db.sql.connect();
      await conn.exec('ALTER TABLE "patient" ALTER COLUMN "email" SET NOT NULL;');
      await conn.release();
      expect((await checkSchemaDrift({ schemaPath, db })).differences).toEqual([
        'column "patient"."email": is NOT NULL; the schema expects it nullable',
      ]);
    } finally {
      await db.close();
    }
  });
});
