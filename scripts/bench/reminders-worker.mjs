// Child processes of the reminders benchmark, each its own process as deployed:
//   fake                  a Twilio REST API stand-in (the repo's fake) answering after BENCH_LATENCY_MS; prints its URL
//                         and credentials, then answers each line on stdin with what it took so far
//   dispatcher <dbUrl>    one messaging replica (the real service, dispatcher polling as in production) on that database
//   plan <dbUrl>          messaging's planner: publishes appointment.created for --appointments new appointments on an
//                         in-process bus and prints how long until every reminder was planned
// Settings arrive as JSON in BENCH_WORKER.
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessBus } from '@pep/bus';
import { appointmentCreatedV1, createEvent } from '@pep/contracts';
import { migrate, openDatabase } from '@pep/db';
import { buildMessaging, migrationsDir } from '@pep/messaging';
import { createLogger } from '@pep/service-kit';
import { startTwilioFake } from '@pep/testing';
import pg from 'pg';

const [role, databaseUrl] = process.argv.slice(2);
const settings = JSON.parse(process.env.BENCH_WORKER ?? '{}');
const logger = createLogger({ service: 'bench', level: 'warn', destination: process.stderr });
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return Math.round((user + system) / 1000);
};
const closers = [];
let clockOffsetMs = settings.clockOffsetMs ?? 0;

const messagingDeps = (database, bus, extra = {}) => ({
  logger,
  database,
  bus,
  internalAuthSecret: 'bench-internal-secret-0123456789abcdef',
  publicUrl: 'https://api.clinic.example',
  twilio: settings.twilio,
  mailer: { from: 'clinic@example.test', directory: join(tmpdir(), `bench-mail-${randomUUID()}`) },
  // The service's clock runs at the real pace from the instant the benchmark chose (08:00 local at the burst).
  clock: () => new Date(Date.now() + clockOffsetMs),
  quota: settings.quota,
  patientsUrl: 'http://127.0.0.1:1',
  schedulingUrl: 'http://127.0.0.1:1',
  ...extra,
});

if (role === 'fake') {
  const fake = await startTwilioFake();
  fake.latencyMs = settings.latencyMs ?? 50;
  closers.push(() => fake.close());
  print({ url: fake.url, accountSid: fake.accountSid, authToken: fake.authToken, from: fake.from });
  createInterface({ input: process.stdin }).on('line', () => {
    const to = new Set(fake.sent.map((send) => send.params['To']));
    // A loop, not Math.min(...): a spread of 100,000 arguments overflows the stack.
    const times = fake.sent.reduce((span, send) => ({ first: Math.min(span.first, send.at), last: Math.max(span.last, send.at) }), {
      first: Infinity,
      last: -Infinity,
    });
    print({ sent: fake.sent.length, distinctTo: to.size, ...times, cpuMs: cpuMs() });
  });
} else if (role === 'dispatcher') {
  const database = await openDatabase({ kind: 'postgres', url: databaseUrl, poolMax: settings.poolMax ?? 10 });
  await migrate(database, { migrationsDir });
  const bus = new InProcessBus({ logger });
  const { app, dispatcher } = await buildMessaging(
    messagingDeps(database, bus, { dispatcher: { intervalMs: settings.intervalMs ?? 5_000, ...(settings.dispatcher ?? {}) } }),
  );
  await app.ready();
  const lines = createInterface({ input: process.stdin });
  if (settings.awaitStart) {
    // Started (an hour before the burst on its clock): the benchmark now sets the clock and wakes the dispatcher, so
    // the burst falls due a known moment later however long this machine took to get here.
    print({ built: true });
    const line = await new Promise((resolve) => lines.once('line', resolve));
    clockOffsetMs = JSON.parse(line).clockOffsetMs;
    dispatcher.notify();
  }
  closers.push(
    () => app.close(),
    () => bus.close(),
    () => database.close(),
  );
  print({ ready: true });
  // Each later line asks for the CPU time spent so far: a replica's own cost per text, which the machine's other load
  // does not change the way it changes the rate.
  lines.on('line', () => print({ cpuMs: cpuMs() }));
} else if (role === 'plan') {
  const database = await openDatabase({ kind: 'postgres', url: databaseUrl });
  await migrate(database, { migrationsDir });
  const bus = new InProcessBus({ logger });
  // Its dispatcher stays off: this measures planning only.
  const { app } = await buildMessaging(messagingDeps(database, bus, { dispatcher: { intervalMs: null } }));
  await app.ready();
  closers.push(
    () => app.close(),
    () => bus.close(),
    () => database.close(),
  );
  const organization = randomUUID();
  const [facility, provider] = [randomUUID(), randomUUID()];
  const base = Date.now() + (settings.clockOffsetMs ?? 0);
  const events = Array.from({ length: settings.appointments }, (_, index) => {
    const id = randomUUID();
    const data = {
      _id: id,
      patient: randomUUID(),
      provider,
      facility,
      type: randomUUID(),
      // Spread over the coming two weeks, so some offsets fall in quiet hours and are shifted.
      date: new Date(base + 8 * 86_400_000 + (index % 336) * 3_600_000).toISOString(),
      duration: 30,
      status: 'unconfirmed',
      source: 'ui',
      timeZone: 'America/New_York',
    };
    const event = createEvent(appointmentCreatedV1, { source: '/services/scheduling', organization, subject: id, data });
    return { topic: appointmentCreatedV1.topic, key: id, value: JSON.stringify(event) };
  });
  const started = performance.now();
  for (let index = 0; index < events.length; index += 500) await bus.publish(events.slice(index, index + 500));
  const expected = events.length * 3;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  closers.push(() => pool.end());
  for (;;) {
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM "reminder" WHERE "organization" = $1', [organization]);
    if (rows[0].n >= expected) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  print({ appointments: events.length, reminders: expected, ms: Math.round(performance.now() - started) });
}

process.on('SIGTERM', async () => {
  for (const close of closers) await close().catch(() => undefined);
  process.exit(0);
});
