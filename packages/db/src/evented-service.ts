import type { Bus, Subscription } from '@pep/bus';
import type { EventEnvelope } from '@pep/contracts';
import {
  addCounter,
  addGauge,
  createServiceApp,
  guardOrganizations,
  registerPatientAccessAudit,
  type Logger,
  type PatientAccessLog,
  type ServiceApp,
  type ServiceAppOptions,
  type ServiceTopics,
} from '@pep/service-kit';
import type { Database, PrismaAdapterFactory } from './connection.js';
import { consumeEvents, type EventBinding } from './consumer.js';
import { createIdempotencyStore } from './idempotency.js';
import { organizationAccessBindings, organizationMayAct } from './organization-access.js';
import { OutboxRelay } from './outbox.js';
import { patientAccessLog } from './patient-access-log.js';
import { asTransactional, type RawSqlClient } from './sql-client.js';
import { assertGroupDeclared, topicsOfBindings } from './topics.js';
import { retryingTransactions } from './transaction-retry.js';
import { UnitOfWork, type TransactionRunner } from './unit-of-work.js';

/** What every database service is built from; main.ts and the tests supply it. */
export interface EventedServiceDeps {
  logger: Logger;
  database: Database;
  bus: Bus;
  internalAuthSecret: string;
  bodyLimit?: number;
  /** Outbox poll interval; tests shorten it. */
  outboxPollIntervalMs?: number;
  /** Attempts before a poison event is dead-lettered. */
  maxEventAttempts?: number;
}

/** A generated Prisma client, as the skeleton uses it. */
export interface ServicePrisma<Tx> extends TransactionRunner<Tx> {
  $disconnect(): Promise<void>;
}

/** What a service says about itself to {@link createEventedService}. */
export interface EventedServiceOptions<Client> {
  /** Service name, e.g. `patients`: logs, metrics, the OpenAPI document, and the events' source `/services/<name>`. */
  name: string;
  description: string;
  deps: EventedServiceDeps;
  /** Builds the service's generated client: `(adapter) => new PrismaClient({ adapter, transactionOptions: TRANSACTION_OPTIONS })`. */
  prisma: (adapter: PrismaAdapterFactory) => Client;
  /**
   * Refuse callers whose organization is suspended or deleted, from the organization-access read model (default true;
   * auth owns organizations and checks them itself).
   */
  guardOrganizations?: boolean;
  securitySchemes?: ServiceAppOptions['securitySchemes'];
  /**
   * The service answers patient data: routes declaring `config.readsPatients` are audited in its `patient_access` table
   * (its schema declares the `PatientAccess` model). Default false.
   */
  auditsPatientReads?: boolean;
  /**
   * The service's topic declaration (its topics.ts, which the migration Job creates topics from): each consumer group
   * must read exactly the topics declared for it, or building the app throws, so the two cannot drift apart.
   */
  topics?: ServiceTopics;
}

/** Stops something {@link EventedService.background} started. */
export type Stop = () => Promise<void> | void;

/** Options of one consumer group. */
export interface ConsumerOptions {
  /** Called once an event's effect committed: wakes work that waits on what the handler wrote. */
  afterCommit?: (event: EventEnvelope) => void;
}

/** A database service's skeleton: its app, client and unit of work, and what it declares to run beside its routes. */
export interface EventedService<Client, Tx extends RawSqlClient> {
  app: ServiceApp;
  /** The generated client, whose transactions are retried on deadlock or serialization failure. */
  prisma: Client;
  /** The one way to write state with its events. */
  unitOfWork: UnitOfWork<Tx>;
  /** A consumer group `<service>.<purpose>`, joined at start (in the background) and stopped before the relay's last publish. */
  consume(purpose: string, bindings: ReadonlyArray<EventBinding<Tx>>, options?: ConsumerOptions): void;
  /** Work beside the routes (pollers, timers): started after the consumers, in order; stopped first, in reverse order. */
  background(start: () => Promise<Stop | void> | Stop | void): void;
  /** Cleanup after the consumers and background work stopped and before the relay's last publish (mail to drain). */
  beforeClose(fn: () => Promise<void> | void): void;
  /** The patient-access audit (with `auditsPatientReads`), for answers that bypass the serializer (streamed files). */
  patientAccess: PatientAccessLog | null;
}

/**
 * Builds a database service's skeleton: the Prisma client with retried transactions, the outbox relay and its backlog
 * gauge, the unit of work, idempotency keys, readiness on the database alone (the broker is reported, not gating; ADR
 * 0024), the organization guard and its read model, and the start and stop order: on ready the relay starts, then the
 * consumers, then background work; on close (after in-flight requests drained) background work stops, then the
 * consumers, then `beforeClose`, then the relay publishes what is left, then the client disconnects.
 */
export async function createEventedService<Tx extends RawSqlClient, Client extends ServicePrisma<Tx>>(
  options: EventedServiceOptions<Client>,
): Promise<EventedService<Client, Tx>> {
  const { deps } = options;
  // A transaction aborted by a deadlock or serialization failure runs again; a race it still loses answers 409, not 500.
  const prisma = retryingTransactions(options.prisma(deps.database.adapter));
  const raw = asTransactional(prisma);
  const relay = new OutboxRelay({
    prisma: raw,
    bus: deps.bus,
    logger: deps.logger.child({ component: 'outbox' }),
    ...(deps.outboxPollIntervalMs !== undefined ? { pollIntervalMs: deps.outboxPollIntervalMs } : {}),
  });
  const unitOfWork = new UnitOfWork<Tx>({
    client: prisma,
    source: `/services/${options.name}`,
    eventsCommitted: () => relay.notify(),
  });
  const subscriptions: Subscription[] = [];
  const app = await createServiceApp({
    name: options.name,
    description: options.description,
    logger: deps.logger,
    internalAuthSecret: deps.internalAuthSecret,
    idempotency: { store: createIdempotencyStore(raw) },
    ...(deps.bodyLimit !== undefined ? { bodyLimit: deps.bodyLimit } : {}),
    ...(options.securitySchemes ? { securitySchemes: options.securitySchemes } : {}),
    readiness: { database: () => deps.database.ping() },
    reportOnly: { broker: () => deps.bus.healthy() },
    consumers: () => subscriptions,
  });
  addGauge(app, 'outbox_pending_events', 'Events committed but not yet published to the bus.', () => relay.pendingCount());
  addGauge(app, 'outbox_oldest_pending_age_seconds', 'Seconds the oldest event not yet published has waited; 0 when none waits.', () =>
    relay.oldestPendingAgeSeconds(),
  );
  const deadLetters = addCounter(app, 'bus_dead_letters_total', 'Events dead-lettered after their attempts ran out.', ['group', 'topic']);

  const groups: Array<{ purpose: string; bindings: ReadonlyArray<EventBinding<Tx>>; options: ConsumerOptions }> = [];
  const starters: Array<() => Promise<Stop | void> | Stop | void> = [];
  const closers: Array<() => Promise<void> | void> = [];
  const patientAccess = options.auditsPatientReads ? patientAccessLog(raw) : null;
  if (patientAccess) registerPatientAccessAudit(app, patientAccess);
  if (options.guardOrganizations ?? true) {
    guardOrganizations(app, organizationMayAct(raw));
    groups.push({ purpose: 'organization-access', bindings: organizationAccessBindings, options: {} });
  }
  const declared = options.topics;
  const checkDeclared = (purpose: string, bindings: ReadonlyArray<EventBinding<Tx>>) => {
    if (declared) assertGroupDeclared(declared, `${options.name}.${purpose}`, topicsOfBindings(bindings));
  };
  for (const group of groups) checkDeclared(group.purpose, group.bindings);

  const stops: Stop[] = [];
  app.addHook('onReady', async () => {
    relay.start();
    for (const group of groups) {
      subscriptions.push(
        await consumeEvents({
          bus: deps.bus,
          unitOfWork,
          logger: deps.logger.child({ component: 'consumer', group: group.purpose }),
          groupId: `${options.name}.${group.purpose}`,
          bindings: group.bindings,
          ...(group.options.afterCommit ? { afterCommit: group.options.afterCommit } : {}),
          onDeadLetter: ({ groupId, topic }) => deadLetters.inc({ group: groupId, topic }),
          ...(deps.maxEventAttempts !== undefined ? { maxAttempts: deps.maxEventAttempts } : {}),
        }),
      );
    }
    for (const start of starters) {
      const stop = await start();
      if (stop) stops.push(stop);
    }
  });
  app.addHook('onClose', async () => {
    for (const stop of stops.reverse()) await stop();
    await Promise.all(subscriptions.map((subscription) => subscription.stop()));
    for (const close of closers) await close();
    await relay.shutdown();
    await prisma.$disconnect();
  });

  return {
    app,
    prisma,
    unitOfWork,
    consume: (purpose, bindings, consumerOptions = {}) => {
      checkDeclared(purpose, bindings);
      groups.push({ purpose, bindings, options: consumerOptions });
    },
    background: (start) => starters.push(start),
    beforeClose: (fn) => closers.push(fn),
    patientAccess,
  };
}
