// `npm run bench:reminders`: the reminder dispatcher against real Postgres and a Twilio stand-in that answers after
// 50 ms (the real twilio SDK sends to it), each replica its own process as deployed:
//   1. latency: 150 reminders due at one instant, dispatcher as in production (5 s poll): how late each left.
//   2. throughput: --count (default 100,000) reminders due at the same 08:00 local time (the morning burst after quiet
//      hours), 400 per clinic, sent by one and then two dispatcher replicas: sends/s, next to
//   3. the ceiling: the raw `FOR UPDATE SKIP LOCKED` claim rate of the same database, same batch size, same run.
//   4. planning: --appointments (default 10,000) appointment.created events planned into reminders.
// Postgres from BENCH_DATABASE_URL or TEST_DATABASE_URL (an admin URL: the benchmark creates and drops its database), else
// the local server as the tests find it.
//   --count 100000  --latency-count 150  --appointments 10000  --replicas 1,2  --vendor-latency 50  --batch-size 250  --lanes 2
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { migrate, openDatabase } from '@pep/db';
import { migrationsDir } from '@pep/messaging';
import { createTestDatabase } from '@pep/testing';
import pg from 'pg';

const { values: flags } = parseArgs({
  options: {
    count: { type: 'string', default: '100000' },
    'latency-count': { type: 'string', default: '150' },
    appointments: { type: 'string', default: '10000' },
    replicas: { type: 'string', default: '1,2' },
    'vendor-latency': { type: 'string', default: '50' },
    'batch-size': { type: 'string', default: '250' },
    lanes: { type: 'string', default: '2' },
  },
});
const count = Number(flags.count);
const latencyCount = Number(flags['latency-count']);
const appointments = Number(flags.appointments);
const replicaCounts = flags.replicas.split(',').map(Number);
const vendorLatencyMs = Number(flags['vendor-latency']);
// The dispatchers' batch (and the raw claim's, so the ceiling claims as they do) and rounds in flight per replica.
const claimBatch = Number(flags['batch-size']);
const lanes = Number(flags.lanes);
// The figures of the issue that asked for this benchmark, measured from outside before the dispatcher changed.
const BASELINE = { lateSeconds: [4.7, 6.6], sendsPerSecond: 78 };
const TARGET_SENDS_PER_SECOND = 2_000;
const PER_CLINIC = 400;
const TIME_ZONE = 'America/New_York';
// How long after a dispatcher is told to start its clock reaches 08:00 (it starts in well under that).
const LEAD_MS = 3_000;

if (process.env.BENCH_DATABASE_URL) process.env.TEST_DATABASE_URL = process.env.BENCH_DATABASE_URL;
const db = await createTestDatabase('bench_reminders');
const migrated = await openDatabase({ kind: 'postgres', url: db.url });
await migrate(migrated, { migrationsDir });
await migrated.close();
const pool = new pg.Pool({ connectionString: db.url, max: 4 });

const children = new Set();
const startChild = (role, settings, args = []) => {
  // BENCH_PROFILE=<dir> writes a CPU profile of each dispatcher there, to find where a round's time goes.
  const profile = process.env.BENCH_PROFILE && role === 'dispatcher' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, fileURLToPath(new URL('./reminders-worker.mjs', import.meta.url)), role, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_WORKER: JSON.stringify(settings) },
  });
  children.add(child);
  const lines = createInterface({ input: child.stdout });
  const next = () =>
    new Promise((resolve, reject) => {
      const onExit = (code) => reject(new Error(`${role} exited with ${code}`));
      child.once('exit', onExit);
      lines.once('line', (line) => {
        child.off('exit', onExit);
        resolve(JSON.parse(line));
      });
    });
  const stop = () =>
    new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
      children.delete(child);
    });
  return { child, next, stop };
};

// The next 08:00 in New York at least a day away: the instant the burst falls due on the service's clock.
const morning = (() => {
  const day = new Date(Date.now() + 2 * 86_400_000);
  const date = day.toISOString().slice(0, 10);
  // 08:00 local is 13:00 UTC in winter and 12:00 UTC in summer.
  const offset = new Intl.DateTimeFormat('en-US', { timeZone: TIME_ZONE, timeZoneName: 'shortOffset' })
    .formatToParts(day)
    .find((part) => part.type === 'timeZoneName').value;
  const hours = -Number(offset.replace('GMT', '') || 0);
  return new Date(`${date}T${String(8 + hours).padStart(2, '0')}:00:00Z`);
})();

/**
 * Seeds `n` appointment reminders due at 08:00 local (48 h before the day's appointments, which fill 24 half-hour
 * slots from 08:00; 400 per clinic, one patient each), planned before the dispatchers start as the morning's reminders
 * are planned days before.
 */
async function seed(n, tag) {
  const clinics = Math.ceil(n / PER_CLINIC);
  // Deterministic ids shaped as version-4 UUIDs, as events' schemas require.
  const id = (prefix, expression) =>
    `(overlay(overlay(md5('${tag}-${prefix}-' || ${expression}) placing '4' from 13) placing '8' from 17))::uuid`;
  await pool.query(
    `INSERT INTO facility (id, organization, name, time_zone, updated_at)
     SELECT ${id('f', 'k')}, ${id('o', 'k')}, 'Main Street Clinic', '${TIME_ZONE}', now() FROM generate_series(0, $1 - 1) k`,
    [clinics],
  );
  await pool.query(
    `INSERT INTO provider (id, organization, name, updated_at) SELECT ${id('d', 'k')}, ${id('o', 'k')}, 'Grace Hopper', now() FROM generate_series(0, $1 - 1) k`,
    [clinics],
  );
  await pool.query(
    `INSERT INTO patient_contact (id, organization, firstname, lastname, phone, language, updated_at)
     SELECT ${id('p', 'i')}, ${id('o', `(i / ${PER_CLINIC})`)}, 'Ada', 'Lovelace', '+1555' || lpad(i::text, 7, '0'), 'en', now() FROM generate_series(0, $1 - 1) i`,
    [n],
  );
  await pool.query(
    `INSERT INTO appointment (id, organization, patient, provider, facility, date, duration, status, time_zone, updated_at)
     SELECT ${id('a', 'i')}, ${id('o', `(i / ${PER_CLINIC})`)}, ${id('p', 'i')}, ${id('d', `(i / ${PER_CLINIC})`)}, ${id('f', `(i / ${PER_CLINIC})`)},
            $2::timestamptz + interval '48 hours' + (i % 24) * interval '30 minutes', 30, 'unconfirmed', '${TIME_ZONE}', now()
     FROM generate_series(0, $1 - 1) i`,
    [n, morning],
  );
  await pool.query(
    `INSERT INTO reminder (id, organization, appointment, patient, provider, facility, type, offset_hours, send_at, status, created_by, updated_by, updated_at)
     SELECT gen_random_uuid(), ${id('o', `(i / ${PER_CLINIC})`)}, ${id('a', 'i')}, ${id('p', 'i')}, ${id('d', `(i / ${PER_CLINIC})`)}, ${id('f', `(i / ${PER_CLINIC})`)},
            'appointment', 48, $2::timestamptz, 'scheduled', 'system', 'system', now()
     FROM generate_series(0, $1 - 1) i`,
    [n, morning],
  );
  // Organizations of a tag: what its figures are read from.
  return `SELECT ${id('o', 'k')} FROM generate_series(0, ${clinics} - 1) k`;
}

async function waitSent(organizations, n, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n FROM reminder WHERE status <> 'scheduled' AND status <> 'queued' AND organization IN (${organizations})`,
    );
    if (rows[0].n >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${rows[0].n} of ${n} reminders settled in ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function figures(organizations) {
  const { rows } = await pool.query(
    `SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, count(*) FILTER (WHERE status <> 'sent')::int AS other,
            extract(epoch FROM min(sent_at - send_at))::float AS "minLate", extract(epoch FROM max(sent_at - send_at))::float AS "maxLate",
            extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY sent_at - send_at))::float AS "medianLate",
            extract(epoch FROM max(sent_at) - min(sent_at))::float AS "spanSeconds"
     FROM reminder WHERE organization IN (${organizations})`,
  );
  const duplicates = await pool.query(
    `SELECT count(*)::int AS n FROM (SELECT reminder FROM message WHERE organization IN (${organizations}) GROUP BY reminder HAVING count(*) > 1) d`,
  );
  return { ...rows[0], duplicates: duplicates.rows[0].n };
}

const round = (value, digits = 2) => Number(value.toFixed(digits));

/** Starts `replicas` dispatchers whose clocks read 08:00 local `leadMs` after they were told to start. */
async function dispatchers(replicas, twilio, leadMs) {
  const settings = {
    twilio,
    intervalMs: 5_000,
    awaitStart: true,
    clockOffsetMs: morning.getTime() - Date.now() - 3_600_000,
    dispatcher: { batchSize: claimBatch, lanes },
  };
  const started = Array.from({ length: replicas }, () => startChild('dispatcher', settings, [db.url]));
  await Promise.all(started.map((child) => child.next()));
  const clockOffsetMs = morning.getTime() - (Date.now() + leadMs);
  for (const child of started) child.child.stdin.write(`${JSON.stringify({ clockOffsetMs })}\n`);
  await Promise.all(started.map((child) => child.next()));
  return started;
}

/** CPU time (ms) the given dispatchers have spent so far, together. */
async function cpuOf(started) {
  const answers = await Promise.all(
    started.map((child) => {
      child.child.stdin.write('\n');
      return child.next();
    }),
  );
  return answers.reduce((sum, answer) => sum + answer.cpuMs, 0);
}

/** CPU time (ms) the vendor stand-in has spent so far. */
async function fakeCpu(fake) {
  fake.child.stdin.write('\n');
  return (await fake.next()).cpuMs;
}

/**
 * CPU time (ms) of each server process serving the benchmark's database now, by pid, read from /proc: null when the
 * server runs elsewhere (another host, a container).
 */
async function postgresCpu() {
  try {
    const { rows } = await pool.query('SELECT pid FROM pg_stat_activity WHERE datname = current_database()');
    const byPid = new Map();
    for (const { pid } of rows) {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th, in ticks of 10 ms.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      byPid.set(pid, (Number(fields[11]) + Number(fields[12])) * 10);
    }
    return byPid;
  } catch {
    return null;
  }
}

/** What the sessions alive at `after` spent since `before` (a session opened since counts from zero). */
function postgresCpuSince(before, after) {
  if (!before || !after) return null;
  let ms = 0;
  for (const [pid, spent] of after) ms += spent - (before.get(pid) ?? 0);
  return ms;
}

const cpus = (await import('node:os')).cpus().length;
const report = {
  machine: { cpus, node: process.version },
  vendorLatencyMs,
  dispatcher: { batchSize: claimBatch, lanes },
  morning: morning.toISOString(),
};
let failed = false;
try {
  const fake = startChild('fake', { latencyMs: vendorLatencyMs });
  const twilio = await fake.next();
  const twilioConfig = { accountSid: twilio.accountSid, authToken: twilio.authToken, from: twilio.from, apiUrl: twilio.url };

  // 1. How late 150 reminders due at one instant leave.
  {
    const organizations = await seed(latencyCount, `latency-${randomUUID()}`);
    const started = await dispatchers(1, twilioConfig, LEAD_MS);
    await waitSent(organizations, latencyCount, 120_000);
    const result = await figures(organizations);
    await Promise.all(started.map((child) => child.stop()));
    report.latency = {
      reminders: latencyCount,
      sent: result.sent,
      lateSeconds: { min: round(result.minLate), median: round(result.medianLate), max: round(result.maxLate) },
      sendsPerSecond: Math.round(result.sent / Math.max(result.spanSeconds, 0.001)),
      baseline: BASELINE,
      maxLateVsBaseline: round(result.maxLate / BASELINE.lateSeconds[1]),
    };
    process.stderr.write(`latency: ${JSON.stringify(report.latency)}\n`);
  }

  // 2. The morning burst, by one and by two replicas.
  report.burst = {};
  for (const replicas of replicaCounts) {
    const organizations = await seed(count, `burst-${replicas}-${randomUUID()}`);
    const started = await dispatchers(replicas, twilioConfig, LEAD_MS);
    const cpuBefore = await cpuOf(started);
    const [vendorBefore, postgresBefore] = [await fakeCpu(fake), await postgresCpu()];
    const t0 = Date.now();
    await waitSent(organizations, count, 3_600_000);
    const wallSeconds = (Date.now() - t0) / 1000;
    const cpuMs = (await cpuOf(started)) - cpuBefore;
    const [vendorMs, postgresMs] = [(await fakeCpu(fake)) - vendorBefore, postgresCpuSince(postgresBefore, await postgresCpu())];
    const result = await figures(organizations);
    await Promise.all(started.map((child) => child.stop()));
    report.burst[`replicas${replicas}`] = {
      reminders: count,
      sent: result.sent,
      notSent: result.other,
      duplicates: result.duplicates,
      sendsPerSecond: Math.round(result.sent / Math.max(result.spanSeconds, 0.001)),
      lastLeftLateSeconds: round(result.maxLate),
      wallSeconds: round(wallSeconds, 1),
      // CPU time per text (ms): the replicas together, the vendor stand-in, and the database's sessions (null when its
      // processes cannot be read here). The machine's other load moves them far less than the rate, and their sum
      // bounds the rate: at most cores × 1000 ÷ sum texts a second when all three share the cores, as here.
      cpuMsPerSend: {
        replicas: round(cpuMs / Math.max(result.sent, 1), 3),
        vendor: round(vendorMs / Math.max(result.sent, 1), 3),
        postgres: postgresMs === null ? null : round(postgresMs / Math.max(result.sent, 1), 3),
      },
    };
    const perSend = report.burst[`replicas${replicas}`].cpuMsPerSend;
    // The rate these three could reach on this machine's cores with nothing else running and no time lost waiting.
    perSend.cpuBoundSendsPerSecond =
      perSend.postgres === null ? null : Math.round((cpus * 1000) / (perSend.replicas + perSend.vendor + perSend.postgres));
    process.stderr.write(`burst ${replicas}: ${JSON.stringify(report.burst[`replicas${replicas}`])}\n`);
    if (result.duplicates > 0 || result.sent !== count) failed = true;
  }
  fake.child.stdin.write('\n');
  report.vendor = await fake.next();

  // 3. The ceiling: claiming alone, as fast as the database hands rows out, with one and two claimers.
  report.claimCeiling = {};
  for (const claimers of replicaCounts) {
    await seed(count, `claim-${claimers}-${randomUUID()}`);
    const now = new Date(morning.getTime() + 60_000);
    const started = performance.now();
    let claimed = 0;
    await Promise.all(
      Array.from({ length: claimers }, async () => {
        const client = await pool.connect();
        try {
          for (;;) {
            const { rowCount } = await client.query(
              // The dispatcher's own claim, alone: the burst's reminders are the only ones due.
              `WITH due AS (SELECT "id" FROM "reminder" WHERE "status" = 'scheduled' AND NOT "deleted" AND "send_at" <= $1
                              AND ("retry_at" IS NULL OR "retry_at" <= $1) ORDER BY "send_at" LIMIT $2 FOR UPDATE SKIP LOCKED)
               UPDATE "reminder" r SET "status" = 'queued', "claimed_at" = $1, "attempts" = r."attempts" + 1 FROM due WHERE r."id" = due."id"`,
              [now, claimBatch],
            );
            if (rowCount === 0) break;
            claimed += rowCount;
          }
        } finally {
          client.release();
        }
      }),
    );
    report.claimCeiling[`claimers${claimers}`] = {
      claimed,
      batch: claimBatch,
      claimsPerSecond: Math.round(claimed / ((performance.now() - started) / 1000)),
    };
    if (claimed !== count) failed = true;
  }

  // 4. Planning 10,000 new appointments (three reminders each).
  {
    const planner = startChild('plan', { appointments, clockOffsetMs: morning.getTime() - Date.now() }, [db.url]);
    report.planning = await planner.next();
    await planner.stop();
  }
  await fake.stop();

  const one = report.burst.replicas1?.sendsPerSecond;
  const two = report.burst.replicas2?.sendsPerSecond;
  report.ratios = {
    oneReplicaVsCeiling: one && report.claimCeiling.claimers1 ? round(one / report.claimCeiling.claimers1.claimsPerSecond, 3) : null,
    twoReplicasVsCeiling: two && report.claimCeiling.claimers2 ? round(two / report.claimCeiling.claimers2.claimsPerSecond, 3) : null,
    twoVsOneReplica: one && two ? round(two / one) : null,
    oneReplicaVsTarget: one ? round(one / TARGET_SENDS_PER_SECOND) : null,
    oneReplicaVsIssueBaseline: one ? round(one / BASELINE.sendsPerSecond, 1) : null,
  };
} catch (error) {
  failed = true;
  process.stderr.write(`${error.stack ?? error}\n`);
} finally {
  for (const child of children) child.kill('SIGTERM');
  await pool.end();
  await db.drop().catch(() => undefined);
}
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
process.exit(failed ? 1 : 0);
