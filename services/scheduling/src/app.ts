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
import { addGauge, createOwnerLookup, createServiceApp, guardOrganizations, type Logger, type ServiceApp } from '@pep/service-kit';
import { registerAppointmentRoutes } from './appointment.routes.js';
import { AppointmentService } from './appointment.service.js';
import { registerAvailabilityRoutes } from './availability.routes.js';
import { AvailabilityService } from './availability.service.js';
import { registerCatalogGroups } from './catalog.routes.js';
import { PrismaClient } from './generated/prisma/client.js';
import { registerNotBuiltRoutes } from './not-built.routes.js';
import { offerHandlers, startExpiryPoller } from './offer.handlers.js';
import { patientDirectoryBindings } from './patient-directory.handlers.js';
import { PatientDirectory } from './patient-directory.js';
import { patientMergedHandler } from './patient-merged.handler.js';
import { registerSchedulingLookupRoutes } from './record-lookup.routes.js';
import { replyReceivedHandler } from './reply-received.handler.js';
import { registerOfferAnswerRoutes, registerOfferRoutes } from './offer.routes.js';
import { OfferAnswers, OfferLifecycle } from './offer-lifecycle.js';
import { OfferQueries } from './offer-queries.js';
import { settingsChangedHandler } from './organization-setting.js';
import { registerWaitlistRoutes } from './waitlist.routes.js';
import { WaitlistService } from './waitlist.service.js';

/** What the scheduling app is built from; main.ts and tests supply it. */
export interface SchedulingAppDeps {
  logger: Logger;
  database: Database;
  bus: Bus;
  internalAuthSecret: string;
  /** The patients service's base URL, asked about patients not in the read model yet; a function while it is not listening yet. */
  patientsUrl: string | (() => string | undefined);
  /** The auth service's base URL, asked whether a booking's v1 `user` is a user of the caller's organization; unset answers 503 to such a booking. */
  authUrl?: string | (() => string | undefined);
  /** How long a patient or user lookup may take before the request answers 503 (default 2 s). */
  ownerLookupTimeoutMs?: number;
  bodyLimit?: number;
  /** Outbox poll interval; tests shorten it. */
  outboxPollIntervalMs?: number;
  /** Attempts before a poison event is dead-lettered. */
  maxEventAttempts?: number;
  /** The clock offers lapse and availabilities expire by; tests move it. */
  now?: () => Date;
  /** How often lapsed offers are looked for (default 30 s). */
  offerExpiryIntervalMs?: number;
}

/** Builds the scheduling service: routes, outbox relay, the settings and offer consumers and the offer expiry poller, closed in the right order. */
export async function buildApp(deps: SchedulingAppDeps): Promise<ServiceApp> {
  // A transaction aborted by a deadlock or serialization failure runs again; a race it still loses answers 409, not 500.
  const prisma = retryingTransactions(new PrismaClient({ adapter: deps.database.adapter, transactionOptions: TRANSACTION_OPTIONS }));
  const transactional = asTransactional(prisma);
  const relay = new OutboxRelay({
    prisma: transactional,
    bus: deps.bus,
    logger: deps.logger.child({ component: 'outbox' }),
    ...(deps.outboxPollIntervalMs !== undefined ? { pollIntervalMs: deps.outboxPollIntervalMs } : {}),
  });
  const eventsWritten = () => relay.notify();

  const app = await createServiceApp({
    name: 'scheduling',
    description:
      'Providers, facilities, appointment types, appointments, availabilities and open slots, waitlists and offers of freed slots; recalls to come.',
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
  guardOrganizations(app, organizationMayAct(transactional));
  const patients = new PatientDirectory(
    prisma,
    createOwnerLookup({
      owner: 'patients',
      baseUrl: deps.patientsUrl,
      internalAuthSecret: deps.internalAuthSecret,
      timeoutMs: deps.ownerLookupTimeoutMs ?? 2_000,
      logger: deps.logger.child({ component: 'patient-lookup' }),
    }),
  );
  registerCatalogGroups(app, prisma, eventsWritten);
  registerSchedulingLookupRoutes(app, prisma);
  const users = createOwnerLookup({
    owner: 'auth',
    baseUrl: deps.authUrl ?? (() => undefined),
    internalAuthSecret: deps.internalAuthSecret,
    timeoutMs: deps.ownerLookupTimeoutMs ?? 2_000,
    logger: deps.logger.child({ component: 'user-lookup' }),
  });
  const appointments = new AppointmentService(prisma, eventsWritten, patients, users);
  registerAppointmentRoutes(app, appointments);
  registerAvailabilityRoutes(app, new AvailabilityService(prisma, eventsWritten, patients, deps.now));
  const offers = new OfferLifecycle(prisma, eventsWritten, deps.now, deps.logger.child({ component: 'offers' }));
  registerWaitlistRoutes(app, new WaitlistService(prisma, eventsWritten, patients));
  registerOfferAnswerRoutes(app, new OfferAnswers(prisma, offers, eventsWritten));
  registerOfferRoutes(app, new OfferQueries(prisma), offers, patients);
  registerNotBuiltRoutes(app);

  const subscriptions: Subscription[] = [];
  let stopExpiry: (() => Promise<void>) | undefined;
  app.addHook('onReady', async () => {
    relay.start();
    const consume = (groupId: string, bindings: Parameters<typeof consumeEvents>[0]['bindings']) =>
      consumeEvents({
        bus: deps.bus,
        prisma: transactional,
        logger: deps.logger.child({ component: 'consumer' }),
        groupId,
        bindings,
        ...(deps.maxEventAttempts !== undefined ? { maxAttempts: deps.maxEventAttempts } : {}),
      });
    subscriptions.push(await consume('scheduling.settings', [settingsChangedHandler]));
    subscriptions.push(await consume('scheduling.organization-access', organizationAccessBindings));
    subscriptions.push(await consume('scheduling.patients', [patientMergedHandler]));
    subscriptions.push(await consume('scheduling.patient-directory', patientDirectoryBindings));
    subscriptions.push(await consume('scheduling.offers', offerHandlers(offers, deps.logger.child({ component: 'offers' }))));
    subscriptions.push(
      await consume('scheduling.replies', [replyReceivedHandler(appointments, deps.logger.child({ component: 'replies' }))]),
    );
    stopExpiry = startExpiryPoller(offers, deps.offerExpiryIntervalMs ?? 30_000, deps.logger.child({ component: 'offer-expiry' }));
  });
  // Runs after in-flight requests drained: stop consuming, publish what is left, then disconnect.
  app.addHook('onClose', async () => {
    await Promise.all(subscriptions.map((subscription) => subscription.stop()));
    await stopExpiry?.();
    await relay.shutdown();
    await prisma.$disconnect();
  });
  return app;
}
