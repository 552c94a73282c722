import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep, uniqueTopicPrefix } from '@pep/testing';
import { DateTime } from 'luxon';
import pg from 'pg';
import { check } from './checker.js';
import { FaultInjector, faultRound, type PlannedFault } from './faults.js';
import { PlatformClient, TwilioWebhooks } from './platform-client.js';
import { Random } from './random.js';
import { failuresOf, type ChaosReport } from './report.js';
import { DATABASE_OWNERS, startDistributedRuntime, type DistributedRuntime } from './runtime.js';
import { Workload } from './workload.js';

/** How a fault-injection run goes. */
export interface ChaosOptions {
  seed: number;
  /** `short`: one fault of each kind; otherwise rounds of faults until `durationMs` has passed. */
  short: boolean;
  durationMs: number;
  /** The longest the quiet period waits for the platform to settle before everything is read back. */
  quietMs: number;
  /** Leave the run's databases in place, to look into what it left behind. */
  keepDatabases?: boolean;
  /** Where each service's log (the last 200 kB, across its restarts) is written when the run ends, as `<service>.log`. */
  logDirectory?: string;
  log?: (line: string) => void;
}

const HOUR = 3_600_000;
/** The clinic's zone (the workload's facility): its day decides when texts may go out. */
const ZONE = 'America/New_York';
/** How far the platform's clock moves during the run: from 09:00 to 19:00 in the clinic's zone, when texts may go. */
const CLOCK_SPAN_MS = 10 * HOUR;
/** Small steps, so no reminder is ever hours late (a late reminder may rightly be dropped as stale). */
const CLOCK_STEP_MS = HOUR / 2;

/** How far the quiet period moves the clock: past the dispatcher's claim lease and the first retries. */
const QUIET_ADVANCE_MS = 10 * 60_000;

/** The next 09:00 in the clinic's zone (or now, if that was less than an hour ago): the run's platform start. */
function morning(): Date {
  const now = DateTime.now().setZone(ZONE);
  const nine = now.set({ hour: 9, minute: 0, second: 0, millisecond: 0 });
  if (now < nine) return nine.toJSDate();
  return now < nine.plus({ hours: 1 }) ? now.toJSDate() : nine.plus({ days: 1 }).toJSDate();
}

/** The random source of a run's fault schedule, from its seed alone (`faultRound` with it gives the run's rounds). */
export function faultSchedule(seed: number): Random {
  return new Random((seed ^ 0x5bd1e995) >>> 0);
}

/** Moves the platform's clock forward in steps until `until`, one step every `everyMs`; resolves when there or stopped. */
async function advanceClock(runtime: DistributedRuntime, until: Date, everyMs: number, stopped: () => boolean): Promise<void> {
  while (!stopped() && runtime.now().getTime() < until.getTime()) {
    await sleep(everyMs);
    const next = new Date(Math.min(runtime.now().getTime() + CLOCK_STEP_MS, until.getTime()));
    await runtime.setClock(next).catch(() => undefined);
  }
}

async function count(url: string, sql: string, values: unknown[]): Promise<number> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return Number((await client.query(sql, values)).rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

/** Work still in flight: unpublished outbox rows, due reminders not yet done, texts being sent. */
async function inFlight(runtime: DistributedRuntime): Promise<number> {
  let total = 0;
  for (const owner of DATABASE_OWNERS)
    total += await count(runtime.databases[owner], 'SELECT count(*) AS n FROM outbox WHERE published_at IS NULL', []);
  total += await count(
    runtime.databases.messaging,
    `SELECT count(*) AS n FROM reminder WHERE deleted = false AND status IN ('scheduled', 'pending', 'queued') AND send_at <= $1 AND (retry_at IS NULL OR retry_at <= $1)`,
    [runtime.now()],
  );
  total += await count(runtime.databases.messaging, `SELECT count(*) AS n FROM message WHERE status = 'pending'`, []);
  return total;
}

/**
 * A fault-injection run: the distributed runtime under a steady workload while faults are injected, then a quiet
 * period, then everything read back and counted. Every process it started is stopped before it resolves or throws.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const began = Date.now();
  const runtime = await startDistributedRuntime({
    databases: 'fresh',
    keepDatabases: options.keepDatabases ?? false,
    kafka: 'dedicated',
    sms: 'twilio-fake',
    clockControl: true,
    topicPrefix: uniqueTopicPrefix(`chaos-${options.seed}`),
    env: {
      messaging: {
        DISPATCH_INTERVAL_MS: '500',
        // A message a kill -9 left pending is settled within the quiet period: the clock has moved past the bound by
        // then, and the real minute the sweep waits first (no send still waits for the vendor) passes during it.
        PENDING_SWEEP_INTERVAL_MS: '2000',
        PENDING_SETTLE_MIN_REAL_SECONDS: '61',
        SEND_QUOTA_PATIENT_PER_HOUR: '1000',
        SEND_QUOTA_PATIENT_PER_DAY: '1000',
        SEND_QUOTA_ORGANIZATION_PER_MINUTE: '100000',
        SEND_QUOTA_ORGANIZATION_PER_DAY: '1000000',
      },
      gateway: { RATE_LIMIT_PER_MINUTE: '1000000' },
    },
    log,
  });
  try {
    const random = new Random(options.seed);
    // The fault schedule draws from its own source: a function of the seed alone, whatever the workload's timing.
    const faultRandom = faultSchedule(options.seed);
    const twilio = runtime.twilio!;
    // Longer than the fake's hold, so a timed-out send is one the vendor took but never confirmed.
    twilio.hangMs = 1_500;
    // Outside quiet hours, so texts go as soon as they are due (quiet hours would hold them past the run).
    await runtime.setClock(morning());
    const start = runtime.now();
    const client = new PlatformClient(runtime.gatewayUrl, {
      email: `chaos-${options.seed}@chaos.example`,
      password: `chaos-${randomBytes(8).toString('hex')}`,
    });
    const webhooks = new TwilioWebhooks(runtime.gatewayUrl, runtime.publicUrl, runtime.webhookToken, twilio.accountSid, twilio.from);
    const workload = new Workload(client, webhooks, twilio, random, start, () => runtime.now(), log, options.short ? 30_000 : 90_000);
    await workload.setUp();
    log('workload running');
    const running = workload.run(2);

    // Reminders come due just before messaging is killed or the vendor fails, so the fault meets sends in flight.
    const dueNow = async (fault: PlannedFault) => {
      if (fault.kind === 'vendor 500s' || fault.kind === 'vendor timeouts' || (fault.kind === 'kill -9' && fault.target === 'messaging')) {
        await runtime.setClock(new Date(runtime.now().getTime() + CLOCK_STEP_MS)).catch(() => undefined);
        await sleep(fault.kind === 'kill -9' ? 700 : 0);
      }
    };
    const injector = new FaultInjector(
      runtime,
      log,
      {
        vendorFaultMs: options.short ? 6_000 : 15_000,
        brokerDownMs: options.short ? 6_000 : 15_000,
        restartTimeoutMs: options.short ? 90_000 : 180_000,
      },
      dueNow,
    );
    const planned: PlannedFault[] = faultRound(faultRandom, { brokerOwned: runtime.kafka !== null, everyDatabase: !options.short });
    const expectedFaultTimeMs = options.short ? 90_000 : options.durationMs;
    let faultsDone = false;
    const clock = advanceClock(
      runtime,
      new Date(start.getTime() + CLOCK_SPAN_MS),
      Math.max(1_000, (0.8 * expectedFaultTimeMs) / (CLOCK_SPAN_MS / CLOCK_STEP_MS)),
      () => faultsDone,
    );
    const faultsUntil = began + options.durationMs;
    for (let round = 0; ; round++) {
      const faults = round === 0 ? planned : faultRound(faultRandom, { brokerOwned: runtime.kafka !== null, everyDatabase: true });
      for (const fault of faults) {
        await sleep(options.short ? 2_000 : 5_000);
        await injector.inject(fault);
      }
      if (options.short || Date.now() > faultsUntil) break;
    }
    await injector.settle();
    faultsDone = true;
    await clock;
    workload.stop();
    await running;
    // The clock ends past every week-ahead reminder whatever the fault schedule's pace.
    await runtime.setClock(new Date(Math.max(runtime.now().getTime(), start.getTime() + CLOCK_SPAN_MS)));

    log('quiet period');
    // Platform time passes too: claims left by a killed dispatcher lapse (5 min lease) and retries come due.
    await runtime.setClock(new Date(runtime.now().getTime() + QUIET_ADVANCE_MS)).catch(() => undefined);
    await injector.waitAllReady().catch((error: unknown) => log(`not every service is back: ${(error as Error).message.split('\n')[0]}`));
    const quietUntil = Date.now() + options.quietMs;
    let settled = 0;
    while (Date.now() < quietUntil && settled < 3) {
      await sleep(2_000);
      settled = (await inFlight(runtime).catch(() => 1)) === 0 ? settled + 1 : 0;
    }
    // Consumers commit and handle what the last relays published.
    await sleep(3_000);
    log('reading everything back');
    const result = await check(runtime, workload, runtime.now());
    const failures = failuresOf(result.rows, result.invariants, injector.records);
    return {
      seed: options.seed,
      startedAt: new Date(began).toISOString(),
      durationSeconds: Math.round((Date.now() - began) / 1_000),
      rows: result.rows,
      faults: injector.records,
      invariants: result.invariants,
      failures,
    };
  } finally {
    await runtime.stop();
    if (options.logDirectory)
      await keepLogs(runtime, options.logDirectory).catch((error: unknown) => log(`service logs not written: ${(error as Error).message}`));
  }
}

/** Writes each service's log into `directory`, so what a fault left behind can be read after the run. */
async function keepLogs(runtime: DistributedRuntime, directory: string): Promise<void> {
  await mkdir(directory, { recursive: true });
  for (const service of Object.values(runtime.services)) await writeFile(join(directory, `${service.name}.log`), service.output());
}
