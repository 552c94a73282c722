// `npm run bench:broadcasts`: the broadcast sender beside the reminder dispatcher, in the same run, on the same
// machine, against real Postgres and a Twilio stand-in that answers after 50 ms (the real twilio SDK sends to it), one
// messaging replica in its own process as deployed (the reminders benchmark's worker):
//   1. reminders: --count (default 20,000) reminders due at one instant, 400 per clinic: sends/s;
//   2. broadcast: one broadcast to --count patients of one organization, throttle off: sends/s, and that each patient
//      got exactly one text.
// Postgres from BENCH_DATABASE_URL or TEST_DATABASE_URL (an admin URL: the benchmark creates and drops its database), else
// the local server as the tests find it.
//   --count 20000  --vendor-latency 50
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { migrate, openDatabase } from '@pep/db';
import { migrationsDir } from '@pep/messaging';
import { createTestDatabase } from '@pep/testing';
import pg from 'pg';

const { values: flags } = parseArgs({
  options: {
    count: { type: 'string', default: '20000' },
    'vendor-latency': { type: 'string', default: '50' },
  },
});
const count = Number(flags.count);
const vendorLatencyMs = Number(flags['vendor-latency']);
const PER_CLINIC = 400;
const TIME_ZONE = 'America/New_York';
// The limits of the send quota are a safety net the benchmark is not about.
const QUOTA = { organizationPerMinute: 10_000_000, organizationPerDay: 10_000_000, patientPerHour: 1_000, patientPerDay: 1_000 };

if (process.env.BENCH_DATABASE_URL) process.env.TEST_DATABASE_URL = process.env.BENCH_DATABASE_URL;
const db = await createTestDatabase('bench_broadcasts');
const migrated = await openDatabase({ kind: 'postgres', url: db.url });
await migrate(migrated, { migrationsDir });
await migrated.close();
const pool = new pg.Pool({ connectionString: db.url, max: 4 });

const children = new Set();
const startChild = (role, settings, args = []) => {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./reminders-worker.mjs', import.meta.url)), role, ...args], {
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

// Ten in the morning in New York (and mid-afternoon in UTC, where patients with no appointment are read) a day away:
// inside the allowed hours of both, so quiet hours hold nothing back.
const morning = (() => {
  const day = new Date(Date.now() + 86_400_000);
  const offset = new Intl.DateTimeFormat('en-US', { timeZone: TIME_ZONE, timeZoneName: 'shortOffset' })
    .formatToParts(day)
    .find((part) => part.type === 'timeZoneName').value;
  const hours = -Number(offset.replace('GMT', '') || 0);
  return new Date(`${day.toISOString().slice(0, 10)}T${String(10 + hours).padStart(2, '0')}:00:00Z`);
})();

// Deterministic ids shaped as version-4 UUIDs.
const id = (tag, prefix, expression) =>
  `(overlay(overlay(md5('${tag}-${prefix}-' || ${expression}) placing '4' from 13) placing '8' from 17))::uuid`;

/** Patients with a phone each, `perOrganization` to an organization. */
async function seedPatients(tag, n, perOrganization) {
  await pool.query(
    `INSERT INTO patient_contact (id, organization, firstname, lastname, phone, language, updated_at)
     SELECT ${id(tag, 'p', 'i')}, ${id(tag, 'o', `(i / ${perOrganization})`)}, 'Ada', 'Lovelace', '+1555' || lpad(i::text, 7, '0'), 'en', now()
     FROM generate_series(0, $1 - 1) i`,
    [n],
  );
}

/** `n` appointment reminders due at {@link morning}, 400 per clinic, as the reminders benchmark seeds them. */
async function seedReminders(tag, n) {
  const clinics = Math.ceil(n / PER_CLINIC);
  await pool.query(
    `INSERT INTO facility (id, organization, name, time_zone, updated_at)
     SELECT ${id(tag, 'f', 'k')}, ${id(tag, 'o', 'k')}, 'Main Street Clinic', '${TIME_ZONE}', now() FROM generate_series(0, $1 - 1) k`,
    [clinics],
  );
  await pool.query(
    `INSERT INTO provider (id, organization, name, updated_at) SELECT ${id(tag, 'd', 'k')}, ${id(tag, 'o', 'k')}, 'Grace Hopper', now() FROM generate_series(0, $1 - 1) k`,
    [clinics],
  );
  await seedPatients(tag, n, PER_CLINIC);
  const of = (prefix) => id(tag, prefix, `(i / ${PER_CLINIC})`);
  await pool.query(
    `INSERT INTO appointment (id, organization, patient, provider, facility, date, duration, status, time_zone, updated_at)
     SELECT ${id(tag, 'a', 'i')}, ${of('o')}, ${id(tag, 'p', 'i')}, ${of('d')}, ${of('f')},
            $2::timestamptz + interval '48 hours' + (i % 20) * interval '30 minutes', 30, 'unconfirmed', '${TIME_ZONE}', now()
     FROM generate_series(0, $1 - 1) i`,
    [n, morning],
  );
  await pool.query(
    `INSERT INTO reminder (id, organization, appointment, patient, provider, facility, type, offset_hours, send_at, status, created_by, updated_by, updated_at)
     SELECT gen_random_uuid(), ${of('o')}, ${id(tag, 'a', 'i')}, ${id(tag, 'p', 'i')}, ${of('d')}, ${of('f')},
            'appointment', 48, $2::timestamptz, 'scheduled', 'system', 'system', now()
     FROM generate_series(0, $1 - 1) i`,
    [n, morning],
  );
}

/** One replica whose clock reads {@link morning} from the moment it is told to start. */
async function replica(twilio) {
  const child = startChild(
    'dispatcher',
    { twilio, quota: QUOTA, intervalMs: 1_000, awaitStart: true, clockOffsetMs: morning.getTime() - Date.now() - 3_600_000 },
    [db.url],
  );
  await child.next();
  child.child.stdin.write(`${JSON.stringify({ clockOffsetMs: morning.getTime() - Date.now() })}\n`);
  await child.next();
  return child;
}

async function until(query, n, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query(query);
    if (rows[0].n >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${rows[0].n} of ${n} settled in ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const round = (value, digits = 2) => Number(value.toFixed(digits));
const report = { machine: { cpus: (await import('node:os')).cpus().length, node: process.version }, vendorLatencyMs, count };
let failed = false;
try {
  const fake = startChild('fake', { latencyMs: vendorLatencyMs });
  const twilioAnswer = await fake.next();
  const twilio = {
    accountSid: twilioAnswer.accountSid,
    authToken: twilioAnswer.authToken,
    from: twilioAnswer.from,
    apiUrl: twilioAnswer.url,
  };

  // 1. Reminders due at one instant.
  {
    const tag = `reminders-${randomUUID()}`;
    await seedReminders(tag, count);
    const organizations = `SELECT ${id(tag, 'o', 'k')} FROM generate_series(0, ${Math.ceil(count / PER_CLINIC)} - 1) k`;
    const sender = await replica(twilio);
    await until(
      `SELECT count(*)::int AS n FROM reminder WHERE status NOT IN ('scheduled', 'queued') AND organization IN (${organizations})`,
      count,
      3_600_000,
    );
    await sender.stop();
    const { rows } = await pool.query(
      `SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, extract(epoch FROM max(sent_at) - min(sent_at))::float AS span
       FROM reminder WHERE organization IN (${organizations})`,
    );
    report.reminders = { reminders: count, sent: rows[0].sent, sendsPerSecond: Math.round(rows[0].sent / Math.max(rows[0].span, 0.001)) };
    process.stderr.write(`reminders: ${JSON.stringify(report.reminders)}\n`);
    if (rows[0].sent !== count) failed = true;
  }

  // 2. One broadcast to `count` patients, throttle off.
  {
    const tag = `broadcast-${randomUUID()}`;
    await seedPatients(tag, count, count);
    const organization = (await pool.query(`SELECT ${id(tag, 'o', '0')} AS id`)).rows[0].id;
    const broadcast = randomUUID();
    await pool.query(
      `INSERT INTO broadcast (id, organization, title, type, message, channels, audience, patients, send_at, throttle, created_by, updated_by, updated_at)
       VALUES ($1, $2, 'Flu shots', 'scheduled', 'Hi {{patient.firstname}}, flu shots are in.', '{sms}', '{}', '{}', $3, false, 'bench', 'bench', now())`,
      [broadcast, organization, morning],
    );
    const sender = await replica(twilio);
    const t0 = Date.now();
    await until(`SELECT count(*)::int AS n FROM broadcast WHERE id = '${broadcast}' AND processing_status = 'success'`, 1, 3_600_000);
    const wallSeconds = (Date.now() - t0) / 1000;
    await sender.stop();
    const { rows } = await pool.query(
      `SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, count(*)::int AS recipients,
              extract(epoch FROM max(sent_at) - min(sent_at))::float AS span
       FROM broadcast_recipient WHERE broadcast = $1`,
      [broadcast],
    );
    const duplicates = await pool.query(
      `SELECT count(*)::int AS n FROM (SELECT patient FROM message WHERE broadcast = $1 GROUP BY patient HAVING count(*) > 1) d`,
      [broadcast],
    );
    report.broadcast = {
      recipients: rows[0].recipients,
      sent: rows[0].sent,
      duplicates: duplicates.rows[0].n,
      sendsPerSecond: Math.round(rows[0].sent / Math.max(rows[0].span, 0.001)),
      // From the replica being told to start to the broadcast's success, its first poll included.
      wallSeconds: round(wallSeconds, 1),
    };
    process.stderr.write(`broadcast: ${JSON.stringify(report.broadcast)}\n`);
    if (rows[0].sent !== count || duplicates.rows[0].n > 0) failed = true;
  }
  fake.child.stdin.write('\n');
  report.vendor = await fake.next();
  await fake.stop();
  report.broadcastVsReminders =
    report.reminders && report.broadcast ? round(report.broadcast.sendsPerSecond / report.reminders.sendsPerSecond) : null;
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
