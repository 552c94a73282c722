import pg from 'pg';
import { containerRuntimeAvailable, startPostgresContainer } from './containers.js';
import { uniqueDatabaseName } from './names.js';
import { sleep } from './wait-for.js';

/** The local server used when neither TEST_DATABASE_URL nor a container engine is available. */
export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database created for one test file or test. */
export interface TestDatabase {
  /** Connection URL of the new database (same server and credentials as the admin URL). */
  url: string;
  name: string;
  /** Terminates its connections and drops it. */
  drop(): Promise<void>;
}

let processPostgres: Promise<string> | undefined;

/** An admin-capable Postgres URL: TEST_DATABASE_URL, else a container, else the local server on 127.0.0.1:5432. */
export function postgresAdminUrl(): Promise<string> {
  const fromEnv = process.env.TEST_DATABASE_URL;
  if (fromEnv) return Promise.resolve(fromEnv);
  processPostgres ??= provisionPostgres().then((postgres) => postgres.url);
  processPostgres.catch(() => {
    processPostgres = undefined;
  });
  return processPostgres;
}

/** The run-wide server: TEST_DATABASE_URL, a container, or the local server; checked to answer. */
export async function provisionPostgres(): Promise<{ url: string; stop(): Promise<void> }> {
  const fromEnv = process.env.TEST_DATABASE_URL;
  if (fromEnv) {
    await assertAnswers(fromEnv, 'TEST_DATABASE_URL does not answer; fix the URL or unset it to use a local server.');
    return { url: fromEnv, stop: async () => undefined };
  }
  if (await containerRuntimeAvailable()) return startPostgresContainer();
  await assertAnswers(
    LOCAL_POSTGRES_URL,
    'No TEST_DATABASE_URL, no container engine, and the local PostgreSQL does not answer. Start it with ' +
      '`pg_ctlcluster --skip-systemctl-redirect 15 main start` (or `sudo systemctl start postgresql`), ' +
      'or set TEST_DATABASE_URL to an admin-capable server.',
  );
  return { url: LOCAL_POSTGRES_URL, stop: async () => undefined };
}

/** Creates a uniquely named, empty database on the admin server for one test file. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const adminUrl = await postgresAdminUrl();
  const name = uniqueDatabaseName(label);
  await withAdmin(adminUrl, async (client) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE ${quoteIdentifier(name)}`);
        return;
      } catch (error) {
        // 55006: template1 is momentarily in use, e.g. by another worker's CREATE DATABASE.
        if ((error as { code?: string }).code !== '55006' || attempt >= 10) throw error;
        await sleep(100 * attempt);
      }
    }
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      if (dropped) return;
      await withAdmin(adminUrl, async (client) => {
        // A pool's end() resolves once its clients were asked to end, before the server has seen them go; a FORCE that
        // terminates such a session sends its client an error nobody listens to any more (an unhandled error in the
        // test run). So wait, briefly, for the sessions to leave on their own, and only then force what is left.
        for (let waited = 0; waited < 2_000; waited += 50) {
          const { rows } = await client.query<{ sessions: number }>(
            'SELECT count(*)::int AS sessions FROM pg_stat_activity WHERE datname = $1',
            [name],
          );
          if ((rows[0]?.sessions ?? 0) === 0) break;
          await sleep(50);
        }
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`);
      });
      dropped = true;
    },
  };
}

async function withAdmin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function assertAnswers(url: string, hint: string): Promise<void> {
  try {
    await withAdmin(url, (client) => client.query('SELECT 1'));
  } catch (error) {
    throw new Error(`${hint} (${redact(url)}: ${(error as Error).message})`, { cause: error });
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
