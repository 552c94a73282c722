// Child processes of the events benchmark, each a service's half of one event's trip, on real Postgres and Kafka:
// `writer <databaseUrl>` commits a row and its `appointment.created` outbox row per transaction at the given rate and
// runs the outbox relay, as a service does; `consumer <databaseUrl>` applies each event once through the inbox
// (consumeEvents), recording when the effect was written. Settings come as JSON in BENCH_WORKER.
import { randomUUID } from 'node:crypto';
import { KafkaBus } from '@pep/bus';
import { appointmentCreatedV1, createEvent } from '@pep/contracts';
import {
  asTransactional,
  consumeEvents,
  enqueueEvents,
  migrate,
  on,
  openDatabase,
  OutboxRelay,
  retryingTransactions,
  TRANSACTION_OPTIONS,
} from '@pep/db';
import { migrationsDir } from '@pep/scheduling';
import { createLogger } from '@pep/service-kit';
import { PrismaClient } from '../../services/scheduling/dist/generated/prisma/client.js';

const [role, databaseUrl] = process.argv.slice(2);
const settings = JSON.parse(process.env.BENCH_WORKER ?? '{}');
// Logs go to stderr: stdout carries the messages to the orchestrating process.
const logger = createLogger({ service: `bench-${role}`, level: 'warn', destination: process.stderr });
const ORGANIZATION = '5e1f3b8a-9c2d-4e6f-8a1b-2c3d4e5f6a7b';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// Resolves once written: a large report on a pipe is cut short by an exit that does not wait for it.
const say = (message) => new Promise((resolve) => process.stdout.write(`${JSON.stringify(message)}\n`, resolve));

const database = await openDatabase({ kind: 'postgres', url: databaseUrl }, { logger });
await migrate(database, { migrationsDir });
const prisma = retryingTransactions(new PrismaClient({ adapter: database.adapter, transactionOptions: TRANSACTION_OPTIONS }));
const bus = new KafkaBus({
  brokers: settings.brokers,
  clientId: `bench-${role}`,
  topicPrefix: settings.topicPrefix,
  logger,
  ...(settings.partitionsConcurrently ? { partitionsConsumedConcurrently: settings.partitionsConcurrently } : {}),
});

if (role === 'consumer') {
  await prisma.$executeRawUnsafe('CREATE TABLE "bench_effect" ("appointment_id" uuid PRIMARY KEY, "effected_at_ms" bigint NOT NULL)');
  const subscription = await consumeEvents({
    bus,
    prisma: asTransactional(prisma),
    logger,
    groupId: 'bench.effects',
    bindings: [
      on(appointmentCreatedV1, async (event, tx) => {
        await tx.$executeRawUnsafe(
          'INSERT INTO "bench_effect" ("appointment_id", "effected_at_ms") VALUES ($1::uuid, $2)',
          event.subject,
          Date.now(),
        );
      }),
    ],
  });
  // The group joins in the background; the clock starts once it has.
  await subscription.joined;
  await say({ ready: true });
  process.on('SIGTERM', async () => {
    await subscription.stop();
    await bus.close();
    await database.close();
    process.exit(0);
  });
} else {
  await prisma.$executeRawUnsafe(
    'CREATE TABLE "bench_appointment" ("id" uuid PRIMARY KEY, "organization" uuid NOT NULL, "snapshot" jsonb NOT NULL, "created_at" timestamptz NOT NULL DEFAULT now())',
  );
  // Every publish the relay makes, with its size, to compare the publish rate with the write rate; and when each
  // appointment's event was accepted by the broker, to split the trip into relay and consumer.
  const publishes = [];
  const publishedAt = [];
  const publish = bus.publish.bind(bus);
  bus.publish = async (messages) => {
    await publish(messages);
    const now = Date.now();
    publishes.push([now, messages.length]);
    for (const message of messages) publishedAt.push([message.key, now]);
  };
  const relay = new OutboxRelay({ prisma: asTransactional(prisma), bus, logger, ...(settings.relay ?? {}) });
  relay.start();
  // The topic and the producer connection exist before the clock starts, as in a running service.
  await bus.publish([]);

  const commits = [];
  let inFlight = 0;
  let skipped = 0;
  const write = async () => {
    const id = randomUUID();
    const event = createEvent(appointmentCreatedV1, {
      source: 'bench',
      organization: ORGANIZATION,
      subject: id,
      data: {
        _id: id,
        patient: randomUUID(),
        provider: randomUUID(),
        facility: randomUUID(),
        type: randomUUID(),
        date: new Date(Date.now() + 86_400_000).toISOString(),
        duration: 30,
        status: 'unconfirmed',
        source: 'ui',
        timeZone: 'America/New_York',
      },
    });
    await prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe(
        'INSERT INTO "bench_appointment" ("id", "organization", "snapshot") VALUES ($1::uuid, $2::uuid, $3::jsonb)',
        id,
        ORGANIZATION,
        JSON.stringify(event.data),
      );
      await enqueueEvents(tx, [event]);
    });
    commits.push([id, Date.now()]);
    relay.notify();
  };

  const start = Date.now();
  const end = start + settings.seconds * 1000;
  let launched = 0;
  while (Date.now() < end) {
    const due = Math.floor(((Date.now() - start) * settings.rate) / 1000);
    while (launched < due) {
      launched++;
      // A writer that cannot keep its rate with this many transactions open says so rather than queueing without bound.
      if (inFlight >= settings.maxInFlight) {
        skipped++;
        continue;
      }
      inFlight++;
      write()
        .catch((error) => logger.error({ err: error }, 'write failed'))
        .finally(() => inFlight--);
    }
    await sleep(1);
  }
  while (inFlight > 0) await sleep(5);
  const writeEnd = Date.now();
  const pendingAtWriteEnd = await relay.pendingCount();
  await relay.stop();
  const drained = await relay.flush(30_000);
  await say({ start, writeEnd, commits, publishes, publishedAt, skipped, pendingAtWriteEnd, drained });
  await bus.close();
  await database.close();
  process.exit(0);
}
