import type { Bus, Subscription } from '@pep/bus';
import '@pep/contracts';
import {
  asTransactional,
  consumeEvents,
  createIdempotencyStore,
  type Database,
  organizationAccessBindings,
  organizationMayAct,
  OutboxRelay,
  retryingTransactions,
  TRANSACTION_OPTIONS,
} from '@pep/db';
import { addGauge, createServiceApp, guardOrganizations, type Logger, type ServiceApp } from '@pep/service-kit';
import { PrismaClient } from './generated/prisma/client.js';
import { FollowingService } from './following.service.js';
import { consentBindings } from './consent.handlers.js';
import { journeyBindings } from './journey.handlers.js';
import { MergeService } from './merge.service.js';
import { registerNotBuiltRoutes } from './not-built.routes.js';
import { registerPatientLookupRoutes } from './patient-lookup.routes.js';
import { registerPatientRoutes } from './patient.routes.js';
import { PatientService } from './patient.service.js';

/** What the patients app is built from; main.ts and tests supply it. */
export interface PatientsAppDeps {
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

/** Builds the patients service: routes, outbox relay and event consumers, closed in the right order. */
export async function buildApp(deps: PatientsAppDeps): Promise<ServiceApp> {
  // A transaction aborted by a deadlock or serialization failure runs again; a race it still loses answers 409, not 500.
  const prisma = retryingTransactions(new PrismaClient({ adapter: deps.database.adapter, transactionOptions: TRANSACTION_OPTIONS }));
  const transactional = asTransactional(prisma);
  const relay = new OutboxRelay({
    prisma: transactional,
    bus: deps.bus,
    logger: deps.logger.child({ component: 'outbox' }),
    ...(deps.outboxPollIntervalMs !== undefined ? { pollIntervalMs: deps.outboxPollIntervalMs } : {}),
  });

  const app = await createServiceApp({
    name: 'patients',
    description: 'Patients, their followers and journey; referrals, insurances, forms, uploads and EHR integrators (not built yet).',
    logger: deps.logger,
    internalAuthSecret: deps.internalAuthSecret,
    idempotency: { store: createIdempotencyStore(asTransactional(prisma)) },
    ...(deps.bodyLimit !== undefined ? { bodyLimit: deps.bodyLimit } : {}),
    // Ready with the database alone: the broker's and the consumers' state is shown, not gating (ADR 0024).
    readiness: { database: () => deps.database.ping() },
    reportOnly: { broker: () => deps.bus.healthy() },
    consumers: () => subscriptions,
  });

  addGauge(app, 'outbox_pending_events', 'Events committed but not yet published to the bus.', () => relay.pendingCount());
  const eventsWritten = () => relay.notify();
  guardOrganizations(app, organizationMayAct(transactional));
  registerPatientRoutes(
    app,
    new PatientService(prisma, eventsWritten),
    new FollowingService(prisma, eventsWritten),
    new MergeService(prisma, eventsWritten),
  );
  registerPatientLookupRoutes(app, prisma);
  registerNotBuiltRoutes(app);

  const subscriptions: Subscription[] = [];
  app.addHook('onReady', async () => {
    relay.start();
    subscriptions.push(
      await consumeEvents({
        bus: deps.bus,
        prisma: transactional,
        logger: deps.logger.child({ component: 'consumer' }),
        groupId: 'patients.journey',
        bindings: [...journeyBindings, ...consentBindings],
        ...(deps.maxEventAttempts !== undefined ? { maxAttempts: deps.maxEventAttempts } : {}),
      }),
      await consumeEvents({
        bus: deps.bus,
        prisma: transactional,
        logger: deps.logger.child({ component: 'consumer' }),
        groupId: 'patients.organization-access',
        bindings: organizationAccessBindings,
        ...(deps.maxEventAttempts !== undefined ? { maxAttempts: deps.maxEventAttempts } : {}),
      }),
    );
  });
  // Runs after in-flight requests drained: stop consuming, publish what is left, then disconnect.
  app.addHook('onClose', async () => {
    await Promise.all(subscriptions.map((subscription) => subscription.stop()));
    await relay.shutdown();
    await prisma.$disconnect();
  });
  return app;
}
