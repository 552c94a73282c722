import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openDatabase, type Database } from '@pep/db';
import { createTestDatabase, type TestDatabase } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationsDir } from './migrations.js';

describe('the patient records migration on a database that already has patients', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let initOnly: string;

  beforeAll(async () => {
    testDatabase = await createTestDatabase('patients-migration');
    database = await openDatabase({ kind: 'postgres', url: testDatabase.url });
    initOnly = await mkdtemp(join(tmpdir(), 'patients-init-'));
    await cp(join(migrationsDir, '20261123000000_init'), join(initOnly, '20261123000000_init'), { recursive: true });
    await cp(join(migrationsDir, 'migration_lock.toml'), join(initOnly, 'migration_lock.toml'));
  });
  afterAll(async () => {
    await database?.close();
    await testDatabase?.drop();
    await rm(initOnly, { recursive: true, force: true });
  });

  it('backfills the folded name, the contact list and lower-case e-mails', async () => {
    await migrate(database, { migrationsDir: initOnly });
    const sql = new pg.Client({ connectionString: testDatabase.url });
    await sql.connect();
    try {
      await sql.query(
        `INSERT INTO patient (id, organization, firstname, lastname, email, phone, updated_at)
         VALUES ('0e6f1d7c-5d1e-4d7a-9a55-000000000001', '6c0a4ad4-1f7b-4c55-9a0e-5a9f3f1b0a01', 'Zoë', 'O''Brien', 'Zoe@Example.com', '+14155552671', now())`,
      );
      await migrate(database, { migrationsDir });
      const { rows } = await sql.query('SELECT normalized_name, email, contact, language, possible_duplicate_of FROM patient');
      expect(rows).toEqual([
        {
          normalized_name: 'zoe o brien',
          email: 'zoe@example.com',
          contact: [
            { type: 'mobile', value: '+14155552671' },
            { type: 'email', value: 'zoe@example.com' },
          ],
          language: 'en',
          possible_duplicate_of: [],
        },
      ]);
    } finally {
      await sql.end();
    }
  });
});
