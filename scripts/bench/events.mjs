// `npm run bench:events`: how long an event takes from the writer's commit to the consumer's effect, through the real
// path (outbox row in the writer's transaction, outbox relay, Kafka, consumeEvents with its inbox in the consumer's
// transaction), at a steady write rate; and whether the relay publishes as fast as the writer commits. Writer and
// consumer are separate processes with their own Postgres databases, as two services are.
//   --seconds 30   how long the writer writes        --rate 200   transactions (one event each) per second
//   --warmup 2     seconds at the start left out of the latency figures (JIT, connection pools)
//   --partitions-concurrently N   partitions the consumer handles at once (default: the bus's)
// Kafka from KAFKA_BROKERS and Postgres from BENCH_DATABASE_URL or TEST_DATABASE_URL (an admin URL: the benchmark
// creates and drops its databases); whichever is missing is provided as the test run does (a local broker, the local server).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openDatabase } from '@pep/db';
import { createTestDatabase, ensureTestInfrastructure } from '@pep/testing';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: process.env.BENCH_SECONDS ?? '30' },
    rate: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '2' },
    'partitions-concurrently': { type: 'string' },
  },
});
const seconds = Number(flags.seconds);
const rate = Number(flags.rate);
const warmupMs = Number(flags.warmup) * 1000;
const TARGET_P99_MS = 150;

if (process.env.BENCH_DATABASE_URL) process.env.TEST_DATABASE_URL = process.env.BENCH_DATABASE_URL;
let infrastructure = null;
if (!process.env.KAFKA_BROKERS || !process.env.TEST_DATABASE_URL) {
  infrastructure = await ensureTestInfrastructure();
  process.env.TEST_DATABASE_URL ??= infrastructure.databaseUrl;
}
const brokers = (process.env.KAFKA_BROKERS ?? infrastructure.kafkaBrokers.join(',')).split(',').map((broker) => broker.trim());
const writerDb = await createTestDatabase('bench_events_writer');
const consumerDb = await createTestDatabase('bench_events_consumer');

const children = [];
const startChild = (role, databaseUrl, settings) => {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./events-worker.mjs', import.meta.url)), role, databaseUrl], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_WORKER: JSON.stringify(settings) },
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout });
  const next = () =>
    new Promise((resolve, reject) => {
      lines.once('line', (line) => {
        try {
          resolve(JSON.parse(line));
        } catch (error) {
          reject(error);
        }
      });
      child.once('exit', (code) => reject(new Error(`${role} exited with ${code}`)));
    });
  return { child, next };
};

const settings = { brokers, topicPrefix: `bench-events-${Date.now()}.` };
let report;
let failed = false;
try {
  // The consumer joins its group first, so the clock measures the trip, not the join.
  const partitionsConcurrently = flags['partitions-concurrently'] ? Number(flags['partitions-concurrently']) : undefined;
  const consumer = startChild('consumer', consumerDb.url, { ...settings, partitionsConcurrently });
  await consumer.next();
  const writer = startChild('writer', writerDb.url, { ...settings, seconds, rate, maxInFlight: 50 });
  const written = await writer.next();

  // Wait for the consumer to apply every committed event (or give up after a minute).
  const consumerDatabase = await openDatabase({ kind: 'postgres', url: consumerDb.url, poolMax: 1 });
  const effects = await consumerDatabase.sql.connect();
  const deadline = Date.now() + 60_000;
  let rows = [];
  while (Date.now() < deadline) {
    rows = (await effects.query('SELECT "appointment_id" AS id, "effected_at_ms" AS at FROM "bench_effect"')).rows;
    if (rows.length >= written.commits.length) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await effects.release();
  await consumerDatabase.close();

  const effectedAt = new Map(rows.map((row) => [row.id, Number(row.at)]));
  const publishedAt = new Map(written.publishedAt);
  const measured = written.commits.filter(([, committedAt]) => committedAt >= written.start + warmupMs);
  const spans = (from, to) => {
    const sorted = measured
      .map(([id, committedAt]) => (to(id) ?? NaN) - (from(id, committedAt) ?? NaN))
      .filter((ms) => Number.isFinite(ms))
      .sort((a, b) => a - b);
    const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    return { events: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.at(-1) };
  };
  const trip = spans(
    (_, committedAt) => committedAt,
    (id) => effectedAt.get(id),
  );
  const windowSeconds = (written.writeEnd - written.start) / 1000;
  const inWindow = written.publishes.filter(([at]) => at <= written.writeEnd);
  const publishedInWindow = inWindow.reduce((sum, [, count]) => sum + count, 0);
  const missing = written.commits.length - written.commits.filter(([id]) => effectedAt.has(id)).length;
  report = {
    seconds,
    targetRate: rate,
    ...(partitionsConcurrently ? { partitionsConcurrently } : {}),
    writes: {
      committed: written.commits.length,
      perSecond: Math.round(written.commits.length / windowSeconds),
      skippedForBackpressure: written.skipped,
    },
    relay: {
      publishedPerSecond: Math.round(publishedInWindow / windowSeconds),
      publishToWriteRatio: Number((publishedInWindow / written.commits.length).toFixed(3)),
      publishes: inWindow.length,
      meanBatch: Number((publishedInWindow / Math.max(1, inWindow.length)).toFixed(1)),
      pendingWhenWritingStopped: written.pendingAtWriteEnd,
    },
    commitToEffectMs: { ...trip, targetP99: TARGET_P99_MS, p99RatioToTarget: Number((trip.p99 / TARGET_P99_MS).toFixed(2)) },
    // Where the time goes: commit until the broker acknowledged the relay's publish, then until the consumer's effect.
    commitToPublishMs: spans(
      (_, committedAt) => committedAt,
      (id) => publishedAt.get(id),
    ),
    publishToEffectMs: spans(
      (id) => publishedAt.get(id),
      (id) => effectedAt.get(id),
    ),
    lostEvents: missing,
  };
  failed = missing > 0 || written.skipped > 0 || !written.drained;
} finally {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((child) => (child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : null)));
  await writerDb.drop().catch(() => undefined);
  await consumerDb.drop().catch(() => undefined);
  await infrastructure?.stop();
}
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
if (failed) {
  process.stderr.write('events were lost or the writer could not keep its rate; the latency figures are not comparable\n');
  process.exit(1);
}
