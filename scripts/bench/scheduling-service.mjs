// The scheduling service as the scheduling benchmarks run it: built from its dist, on a fresh Postgres database
// (BENCH_DATABASE_URL, TEST_DATABASE_URL or the local server; dropped afterwards) or on PGlite in memory (the
// embedded runtime's database), with the in-process bus, listening on loopback and called over HTTP.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { InProcessBus } from '@pep/bus';
import { migrate, openDatabase } from '@pep/db';
import { buildApp, migrationsDir } from '@pep/scheduling';
import { createLogger, signIdentity } from '@pep/service-kit';

const SECRET = 'bench-internal-secret-0123456789abcdef';
const postgresUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh database on the Postgres server at `url`, and how to drop it. */
async function freshPostgres(url) {
  const name = `bench_scheduling_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const target = new URL(url);
  target.pathname = `/${name}`;
  return {
    url: target.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/**
 * Starts scheduling on `backend` ('postgres' | 'pglite') with its clock at `now`, for one organization whose admin
 * `call`s it. `patients(n)` makes n live patients of the organization known to scheduling's read model.
 */
export async function startScheduling(backend, { now }) {
  const organization = randomUUID();
  const fresh = backend === 'postgres' ? await freshPostgres(postgresUrl) : null;
  const database = await openDatabase(fresh ? { kind: 'postgres', url: fresh.url } : { kind: 'pglite', dataDir: null });
  const bus = new InProcessBus({});
  const logger = createLogger({ service: 'bench', level: 'warn' });
  let app;
  const close = async () => {
    await app?.close();
    await bus.close();
    await database.close();
    await fresh?.drop();
  };
  try {
    await migrate(database, { migrationsDir });
    app = await buildApp({ logger, database, bus, internalAuthSecret: SECRET, patientsUrl: () => undefined, now: () => now });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const identity = await signIdentity(SECRET, { organization, user: 'bench-admin', roles: ['admin'] }, 3600);
    /** One request; answers the status, the parsed body and the headers, throwing on an unexpected status. */
    const request = async (method, path, body) => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { 'x-internal-identity': identity, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      return { status: response.status, json: text ? JSON.parse(text) : null, headers: response.headers };
    };
    const call = async (method, path, body) => {
      const answer = await request(method, path, body);
      if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.json)}`);
      return answer;
    };
    const patients = async (count) => {
      const ids = Array.from({ length: count }, () => randomUUID());
      const session = await database.sql.connect();
      try {
        for (const id of ids) await session.query('INSERT INTO patient (id, organization) VALUES ($1, $2)', [id, organization]);
      } finally {
        await session.release();
      }
      return ids;
    };
    return { backend, request, call, patients, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The value below which a share `q` of `values` lies (nearest rank). */
export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Milliseconds to one decimal. */
export const ms = (value) => Math.round(value * 10) / 10;

/** Runs `task(item, index)` over `items`, `workers` at a time. */
export async function inParallel(items, workers, task) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(workers, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        await task(items[index], index);
      }
    }),
  );
}
