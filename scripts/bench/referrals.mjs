// `npm run bench:referrals`: how fast the referral reports answer over a large organization. A fresh Postgres
// database (BENCH_DATABASE_URL, TEST_DATABASE_URL or the local server; dropped afterwards), migrated with the patients
// migrations, seeded in SQL with BENCH_REFERRALS referrals (default 100,000) of one organization over 2026 — spread over
// statuses, sources and 200 referring providers (a few refer most), scheduled ones with a scheduledAt hours to weeks
// after arrival — plus 20,000 of another organization the reports must skip. The real patients app serves them over
// HTTP. Times GET /api/referrals/reports/summary for the whole year and for one month (p50/p95 of BENCH_RUNS, default
// 20, after a warm-up), a page of reports/find, and one streamed reports/xls of the whole year (BENCH_XLS=0 skips it),
// and prints one line of JSON. `plans` says how Postgres reads each summary's range (index or sequential scan).
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { InProcessBus } from '@pep/bus';
import { migrate, openDatabase } from '@pep/db';
import { buildApp, migrationsDir } from '@pep/patients';
import { createLogger, signIdentity } from '@pep/service-kit';
import { ms, quantile } from './scheduling-service.mjs';

const SECRET = 'bench-internal-secret-0123456789abcdef';
const REFERRALS = Number(process.env.BENCH_REFERRALS ?? 100_000);
const OTHER_REFERRALS = 20_000;
const REFERRING_PROVIDERS = 200;
const PATIENTS = 20_000;
const runs = Number(process.env.BENCH_RUNS ?? 20);
const withXls = process.env.BENCH_XLS !== '0';
const TARGET_MS = 1000;
const postgresUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const organization = randomUUID();
const otherOrganization = randomUUID();
const name = `bench_referrals_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
const admin = new pg.Client({ connectionString: postgresUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(postgresUrl);
url.pathname = `/${name}`;

const database = await openDatabase({ kind: 'postgres', url: url.toString() });
const bus = new InProcessBus({});
let app;
const sql = new pg.Client({ connectionString: url.toString() });
try {
  await migrate(database, { migrationsDir });
  await sql.connect();
  const seedStarted = performance.now();
  await seed(organization, REFERRALS);
  await seed(otherOrganization, OTHER_REFERRALS);
  await sql.query('ANALYZE');
  const seedSeconds = ms((performance.now() - seedStarted) / 1000);

  const logger = createLogger({ service: 'bench', level: 'warn' });
  app = await buildApp({ logger, database, bus, internalAuthSecret: SECRET, referralExpiryIntervalMs: null });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const identity = await signIdentity(SECRET, { organization, user: 'bench-manager', roles: ['manager'] }, 3600);
  const get = async (path) => {
    const response = await fetch(`${base}${path}`, { headers: { 'x-internal-identity': identity } });
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
    return response;
  };
  const time = async (path, check) => {
    const samples = [];
    for (let run = -2; run < runs; run++) {
      const started = performance.now();
      const body = await (await get(path)).json();
      if (run >= 0) samples.push(performance.now() - started);
      check(body);
    }
    return { p50Ms: ms(quantile(samples, 0.5)), p95Ms: ms(quantile(samples, 0.95)) };
  };

  const summaryYear = await time('/api/referrals/reports/summary?from=2026-01-01&to=2026-12-31', (body) => {
    if (body.total !== REFERRALS) throw new Error(`the year's summary counted ${body.total}, expected ${REFERRALS}`);
  });
  const summaryMonth = await time('/api/referrals/reports/summary?from=2026-03-01&to=2026-03-31', (body) => {
    if (!(body.total > 0 && body.total < REFERRALS)) throw new Error(`March's summary counted ${body.total}`);
  });
  const findPage = await time('/api/referrals/reports/find?from=2026-01-01&to=2026-12-31&page=50&limit=100', (body) => {
    if (body.response.length !== 100) throw new Error(`a page of find answered ${body.response.length} rows`);
  });
  const year = await (await get('/api/referrals/reports/summary?from=2026-01-01&to=2026-12-31')).json();

  let xls = null;
  if (withXls) {
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
    const started = performance.now();
    const response = await get('/api/referrals/reports/xls?from=2026-01-01&to=2026-12-31');
    let firstByteMs = null;
    let bytes = 0;
    for await (const chunk of response.body) {
      firstByteMs ??= performance.now() - started;
      bytes += chunk.length;
    }
    clearInterval(sampler);
    xls = {
      rows: REFERRALS,
      seconds: ms((performance.now() - started) / 1000),
      firstByteMs: ms(firstByteMs),
      megabytes: ms(bytes / 1e6),
      rssGrowthMb: ms((peakRss - rssBefore) / 1e6),
    };
  }

  const report = {
    machine: { cpus: os.cpus().length, node: process.version },
    referrals: REFERRALS,
    otherOrganizationReferrals: OTHER_REFERRALS,
    seedSeconds,
    summaryYear,
    summaryMonth,
    findPage,
    xls,
    // A year is most of the table: Postgres rightly reads it in one sequential pass. A month is read through the index.
    plans: { summaryYear: await scansOf('2026-01-01', '2027-01-01'), summaryMonth: await scansOf('2026-03-01', '2026-04-01') },
    medianHoursToSchedule: year.timeToSchedule.medianHours,
    target: { summaryMs: TARGET_MS, met: summaryYear.p95Ms < TARGET_MS },
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
} finally {
  await app?.close();
  await sql.end().catch(() => {});
  await bus.close();
  await database.close();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}

/**
 * How Postgres reads the referrals of a summary's range (the summary's filter, planned on the seeded statistics): the
 * scan nodes of the plan, e.g. "Bitmap Index Scan on referral_organization_created_at_idx".
 */
async function scansOf(from, to) {
  const { rows } = await sql.query(
    `EXPLAIN (FORMAT JSON) SELECT count(*) FROM referral
     WHERE organization = $1::uuid AND deleted_at IS NULL AND created_at >= $2::timestamptz AND created_at < $3::timestamptz
     GROUP BY GROUPING SETS ((status), (source), (referring_provider), ())`,
    [organization, from, to],
  );
  const scans = [];
  const walk = (node) => {
    if (node['Node Type'].endsWith('Scan'))
      scans.push(node['Index Name'] ? `${node['Node Type']} on ${node['Index Name']}` : node['Node Type']);
    for (const child of node.Plans ?? []) walk(child);
  };
  walk(rows[0]['QUERY PLAN'][0].Plan);
  return scans.join(', ');
}

/**
 * `count` referrals of `org` over 2026, one statement each for patients, referring providers and referrals. The mix is
 * fixed by hashing the row number, and random() is seeded, so every run seeds the same data.
 */
async function seed(org, count) {
  await sql.query('SELECT setseed(0.42)');
  await sql.query(
    `INSERT INTO patient (id, organization, firstname, lastname, normalized_name, updated_at)
     SELECT gen_random_uuid(), $1, 'Bench', 'Patient ' || i, 'bench patient ' || i, now() FROM generate_series(1, $2) AS i`,
    [org, PATIENTS],
  );
  await sql.query(
    `INSERT INTO referring_provider (id, organization, name, normalized_name, npi, updated_at)
     SELECT gen_random_uuid(), $1, 'Referring Provider ' || i, 'referring provider ' || i, (1000000000 + i)::text, now()
     FROM generate_series(1, $2) AS i`,
    [org, REFERRING_PROVIDERS],
  );
  await sql.query(
    `WITH patients AS (SELECT array_agg(id ORDER BY lastname) AS ids FROM patient WHERE organization = $1),
     providers AS (SELECT array_agg(id ORDER BY npi) AS ids FROM referring_provider WHERE organization = $1),
     rows AS (
       SELECT i,
              timestamptz '2026-01-01T00:00:00Z' + (i::float8 / $2) * interval '365 days' AS created_at,
              (i::bigint * 7919) % 100 AS pick,
              (i::bigint * 104729) % 100 AS origin,
              random() AS skew,
              random() AS delay
       FROM generate_series(0, $2 - 1) AS i
     )
     INSERT INTO referral (id, organization, patient, referring_provider, status, source, start_on, expire_at, attempt,
                           scheduled_at, created_at, updated_at)
     SELECT gen_random_uuid(), $1,
            patients.ids[1 + rows.i % array_length(patients.ids, 1)],
            -- One referral in 20 names no referring provider; the rest lean to the first ones (a few refer most).
            CASE WHEN rows.i % 20 = 0 THEN NULL ELSE providers.ids[1 + floor(power(rows.skew, 3) * array_length(providers.ids, 1))::int] END,
            s.status,
            CASE WHEN rows.origin < 40 THEN 'ui' WHEN rows.origin < 65 THEN 'upload' WHEN rows.origin < 85 THEN 'integrator'
                 WHEN rows.origin < 95 THEN 'patient-referral-form' WHEN rows.origin < 98 THEN 'manual' ELSE 'followup' END,
            rows.created_at, rows.created_at + interval '30 days', 1 + rows.i % 4,
            -- Hours to weeks: most are booked within days, a long tail waits.
            CASE WHEN s.status IN ('scheduled', 'scheduled-late', 'closed')
                 THEN rows.created_at + power(rows.delay, 2) * interval '20 days' END,
            rows.created_at, rows.created_at
     FROM rows, patients, providers,
          LATERAL (SELECT CASE WHEN rows.pick < 35 THEN 'scheduled' WHEN rows.pick < 39 THEN 'scheduled-late'
                               WHEN rows.pick < 54 THEN 'active' WHEN rows.pick < 59 THEN 'pending' WHEN rows.pick < 64 THEN 'called'
                               WHEN rows.pick < 66 THEN 'called-late' WHEN rows.pick < 81 THEN 'expired' WHEN rows.pick < 91 THEN 'closed'
                               WHEN rows.pick < 96 THEN 'cancelled' ELSE 'incomplete' END AS status) AS s`,
    [org, count],
  );
}
