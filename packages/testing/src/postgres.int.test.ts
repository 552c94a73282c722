import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, postgresAdminUrl, type TestDatabase } from './postgres.js';

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('createTestDatabase', () => {
  const created: TestDatabase[] = [];
  afterAll(async () => {
    await Promise.all(created.map((db) => db.drop()));
  });

  it('uses the server the globalSetup provided', async () => {
    expect(inject('databaseUrl')).toBe(process.env.TEST_DATABASE_URL);
    await expect(postgresAdminUrl()).resolves.toBe(inject('databaseUrl'));
  });

  it('gives each caller its own writable database and drop() removes it', async () => {
    const first = await createTestDatabase('harness pg');
    const second = await createTestDatabase('harness pg');
    created.push(first, second);
    expect(first.name).not.toBe(second.name);
    expect(new URL(first.url).pathname).toBe(`/${first.name}`);

    await query(first.url, 'CREATE TABLE note (id int PRIMARY KEY, body text NOT NULL)');
    await query(first.url, "INSERT INTO note VALUES (1, 'kept apart')");
    expect(await query<{ body: string }>(first.url, 'SELECT body FROM note')).toEqual([{ body: 'kept apart' }]);
    expect(await query(second.url, "SELECT 1 FROM pg_tables WHERE tablename = 'note'")).toEqual([]);

    // An open connection must not block drop().
    const lingering = new pg.Client({ connectionString: first.url });
    lingering.on('error', () => undefined);
    await lingering.connect();
    await first.drop();
    await lingering.end().catch(() => undefined);

    const admin = await postgresAdminUrl();
    const left = await query(admin, `SELECT datname FROM pg_database WHERE datname IN ('${first.name}', '${second.name}')`);
    expect(left).toEqual([{ datname: second.name }]);
    await expect(query(first.url, 'SELECT 1')).rejects.toThrow(/does not exist/);
  });
});
