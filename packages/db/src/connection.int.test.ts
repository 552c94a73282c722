import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from './connection.js';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

describe('openDatabase (postgres)', () => {
  let testDb: TestDatabase;
  beforeAll(async () => {
    testDb = await createTestDatabase('db_connection');
  });
  afterAll(async () => {
    await testDb?.drop();
  });

  it('gives a Prisma adapter and dedicated sessions on the same database', async () => {
    const db = await openDatabase({ kind: 'postgres', url: testDb.url, poolMax: 2 });
    try {
      expect(db.kind).toBe('postgres');
      expect(await db.ping()).toBe(true);
      const adapter = await db.adapter.connect();
      const result = await adapter.queryRaw({ sql: 'SELECT current_database() AS name', args: [], argTypes: [] });
      expect(result.rows).toEqual([[testDb.name]]);

      // A session keeps its state between calls: that is what session-level advisory locks need.
      const session = await db.sql.connect();
      await session.exec("SET application_name = 'pep-db-test'; CREATE TEMP TABLE t (x int); INSERT INTO t VALUES (1), (2);");
      const { rows } = await session.query<{ n: number; app: string }>(
        "SELECT count(*)::int AS n, current_setting('application_name') AS app FROM t WHERE x >= $1",
        [1],
      );
      expect(rows).toEqual([{ n: 2, app: 'pep-db-test' }]);
      await session.release();
    } finally {
      await db.close();
      await db.close();
    }
  });

  it('ping answers false, quickly, when nothing listens', async () => {
    const server = createServer();
    const port = await listen(server);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const db = await openDatabase({ kind: 'postgres', url: `postgres://postgres@127.0.0.1:${port}/postgres` });
    try {
      const started = Date.now();
      expect(await db.ping(1_000)).toBe(false);
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      await db.close();
    }
  });

  it('ping answers false within its timeout when the server accepts but never responds', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
    });
    const port = await listen(server);
    const db = await openDatabase({ kind: 'postgres', url: `postgres://postgres@127.0.0.1:${port}/postgres` });
    try {
      const started = Date.now();
      expect(await db.ping(500)).toBe(false);
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await db.close();
    }
  });
});

describe('openDatabase (pglite)', () => {
  it('runs in memory, and ping turns false once closed', async () => {
    const db = await openDatabase({ kind: 'pglite', dataDir: null });
    expect(db.kind).toBe('pglite');
    expect(await db.ping()).toBe(true);
    const adapter = await db.adapter.connect();
    expect((await adapter.queryRaw({ sql: 'SELECT 1 + 1 AS two', args: [], argTypes: [] })).rows).toEqual([[2]]);
    await db.close();
    await db.close();
    expect(await db.ping()).toBe(false);
  });

  it('creates its data directory and keeps data across restarts', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pep-db-pglite-'));
    const dataDir = join(root, 'nested', 'deeper', 'pgdata');
    try {
      const first = await openDatabase({ kind: 'pglite', dataDir });
      const session = await first.sql.connect();
      await session.exec('CREATE TABLE kept (x int); INSERT INTO kept VALUES (42);');
      await session.release();
      await first.close();

      const second = await openDatabase({ kind: 'pglite', dataDir });
      try {
        const { rows } = await (await second.sql.connect()).query<{ x: number }>('SELECT x FROM kept');
        expect(rows).toEqual([{ x: 42 }]);
      } finally {
        await second.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  // The adapter recognises database errors with `instanceof` against the PGlite it resolves: this package must use that same copy.
  it('maps a unique violation on PGlite to a constraint error Prisma understands', async () => {
    const db = await openDatabase({ kind: 'pglite', dataDir: null });
    try {
      const adapter = await db.adapter.connect();
      await adapter.executeScript('CREATE TABLE u (id int PRIMARY KEY); INSERT INTO u VALUES (1);');
      const error = await adapter.executeRaw({ sql: 'INSERT INTO u VALUES (1)', args: [], argTypes: [] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ name: 'DriverAdapterError', cause: { kind: 'UniqueConstraintViolation' } });
    } finally {
      await db.close();
    }
  });
});
