import type { Bus, Subscription } from '@pep/bus';
import '@pep/contracts';
import {
  asTransactional,
  consumeEvents,
  createIdempotencyStore,
  type Database,
  type EventBinding,
  organizationAccessBindings,
  organizationMayAct,
  OutboxRelay,
  retryingTransactions,
  TRANSACTION_OPTIONS,
} from '@pep/db';
import { addGauge, createOwnerLookup, createServiceApp, guardOrganizations, type Logger, type ServiceApp } from '@pep/service-kit';
import { registerBandwidthCallbackRoutes, VENDOR_BASIC_SCHEME, type BasicCredentials } from './bandwidth-callback.routes.js';
import { registerCallbackRoutes } from './callback.routes.js';
import { linkKey } from './email-links.js';
import { demoMessageHandler } from './demo-message.handler.js';
import { ReminderDispatcher, type DispatcherOptions } from './dispatcher.js';
import { PrismaClient } from './generated/prisma/client.js';
import { InboundService } from './inbound.service.js';
import { registerMessageRoutes } from './message.routes.js';
import { MessageService } from './message.service.js';
import { registerNotBuiltRoutes } from './not-built.routes.js';
import { offerBindings } from './offer-handlers.js';
import { Outbound } from './outbound.js';
import { PendingSweep, type PendingSweepOptions } from './pending-sweep.js';
import { SendQuota, type QuotaLimits } from './quota.js';
import { catalogBindings, patientBindings } from './read-models.js';
import { References } from './references.js';
import { reminderPlanningBindings } from './reminder-planner.js';
import { waitlistTextBindings } from './waitlist-texts.js';
import { registerReminderRoutes } from './reminder.routes.js';
import { ReminderService } from './reminder.service.js';
import { settingsChangedHandler } from './settings.js';
import { registerPatientTemplateRoutes, registerTemplateRoutes } from './template.routes.js';
import { PatientTemplateService, TemplateService } from './template.service.js';
import { createVendors, type MailerConfig, type TwilioConfig } from './vendors.js';

/** What the messaging app is built from; main.ts and tests supply it. */
export interface MessagingAppDeps {
  logger: Logger;
  database: Database;
  bus: Bus;
  internalAuthSecret: string;
  /** The platform's public base URL, which Twilio calls back at and signs. */
  publicUrl: string;
  /** Twilio's account; null sends SMS and voice to the development sink (stored, listed, never sent). */
  twilio: TwilioConfig | null;
  /**
   * With `twilio: null` only: the token the development sink's webhooks are signed with (a developer plays patients'
   * replies with it); without it every webhook answers 403. Ignored when Twilio is configured: its auth token signs.
   */
  sinkWebhookToken?: string | undefined;
  /** The Basic credentials Bandwidth's callbacks carry; absent or null, only loopback callers may post them. */
  bandwidthCallback?: BasicCredentials | null | undefined;
  mailer: MailerConfig;
  bodyLimit?: number;
  /** Outbox poll interval; tests shorten it. */
  outboxPollIntervalMs?: number;
  /** Attempts before a poison event is dead-lettered. */
  maxEventAttempts?: number;
  /** Now; tests move it. */
  clock?: () => Date;
  /** Reminder dispatcher tuning; `intervalMs: null` leaves sending to explicit runOnce() calls (tests). */
  dispatcher?: DispatcherOptions;
  /** Settling of messages a crashed send left pending; it sweeps on its own only when the dispatcher polls on its own (tests call runOnce()). */
  pendingSweep?: PendingSweepOptions;
  /** Limits of the send quota (ADR 0012); those left out are the defaults. */
  quota?: Partial<QuotaLimits>;
  /** Base URL of patients, asked about patient ids the read models have not heard of; a function when known only later (embedded). */
  patientsUrl: string | (() => string | undefined);
  /** Base URL of scheduling, asked likewise about appointment ids. */
  schedulingUrl: string | (() => string | undefined);
  /** How long such a question may take before the request answers 503 (default 2 s). */
  ownerLookupTimeoutMs?: number;
}

/** The messaging app and its reminder dispatcher, which tests drive directly. */
export interface Messaging {
  app: ServiceApp;
  dispatcher: ReminderDispatcher;
  /** Settles messages left pending by a send that crashed; tests drive it directly. */
  sweep: PendingSweep;
}

/** Builds the messaging service: routes, outbox relay, read-model, reminder and offer consumers, and the reminder dispatcher. */
export async function buildMessaging(deps: MessagingAppDeps): Promise<Messaging> {
  // A transaction aborted by a deadlock or serialization failure runs again; a race it still loses answers 409, not 500.
  const prisma = retryingTransactions(new PrismaClient({ adapter: deps.database.adapter, transactionOptions: TRANSACTION_OPTIONS }));
  const transactional = asTransactional(prisma);
  const clock = deps.clock ?? (() => new Date());
  const relay = new OutboxRelay({
    prisma: transactional,
    bus: deps.bus,
    logger: deps.logger.child({ component: 'outbox' }),
    ...(deps.outboxPollIntervalMs !== undefined ? { pollIntervalMs: deps.outboxPollIntervalMs } : {}),
  });
  const eventsWritten = () => relay.notify();
  const vendors = createVendors({ twilio: deps.twilio, mailer: deps.mailer, sinkWebhookToken: deps.sinkWebhookToken });
  // Every URL Twilio is given or signs is built on this; a trailing slash would make them `//api/...`.
  const publicUrl = deps.publicUrl.replace(/\/+$/, '');
  const answerLinkKey = linkKey(deps.internalAuthSecret);

  const app = await createServiceApp({
    name: 'messaging',
    description:
      'Reminders, offer texts, messages by SMS, voice and e-mail, patients’ replies, message templates and vendor callbacks; broadcasts, chat, follow-ups and feedback to come.',
    logger: deps.logger,
    internalAuthSecret: deps.internalAuthSecret,
    idempotency: { store: createIdempotencyStore(asTransactional(prisma)) },
    ...(deps.bodyLimit !== undefined ? { bodyLimit: deps.bodyLimit } : {}),
    securitySchemes: { ...VENDOR_BASIC_SCHEME },
    // Ready with the database alone: the broker's and the consumers' state is shown, not gating (ADR 0024).
    readiness: { database: () => deps.database.ping() },
    reportOnly: { broker: () => deps.bus.healthy() },
    consumers: () => subscriptions,
  });
  const quota = new SendQuota(prisma, clock, app, deps.quota);
  const outbound = new Outbound(
    prisma,
    vendors,
    publicUrl,
    eventsWritten,
    deps.logger.child({ component: 'outbound' }),
    answerLinkKey,
    quota,
  );
  const dispatcher = new ReminderDispatcher(
    prisma,
    outbound,
    quota,
    clock,
    deps.logger.child({ component: 'dispatcher' }),
    deps.dispatcher,
  );
  const sweep = new PendingSweep(prisma, clock, eventsWritten, deps.logger.child({ component: 'pending-sweep' }), {
    ...deps.pendingSweep,
    ...(deps.dispatcher?.intervalMs === null && deps.pendingSweep?.intervalMs === undefined ? { intervalMs: null } : {}),
  });

  addGauge(app, 'outbox_pending_events', 'Events committed but not yet published to the bus.', () => relay.pendingCount());
  guardOrganizations(app, organizationMayAct(transactional));
  addGauge(app, 'reminders_due', 'Reminders due and not yet sent.', async () =>
    prisma.reminder.count({ where: { deleted: false, status: { in: ['scheduled', 'queued'] }, sendAt: { lte: clock() } } }),
  );
  const lookup = (owner: string, baseUrl: string | (() => string | undefined)) =>
    createOwnerLookup({
      owner,
      baseUrl,
      internalAuthSecret: deps.internalAuthSecret,
      ...(deps.ownerLookupTimeoutMs !== undefined ? { timeoutMs: deps.ownerLookupTimeoutMs } : {}),
    });
  const references = new References(prisma, {
    patients: lookup('patients', deps.patientsUrl),
    scheduling: lookup('scheduling', deps.schedulingUrl),
  });
  // Staff's reminders wake the dispatcher as the planner's do: one due now goes at once, a later one resets its sleep.
  registerReminderRoutes(app, new ReminderService(prisma, clock, references, () => dispatcher.notify()));
  registerMessageRoutes(app, new MessageService(prisma, outbound, references));
  registerTemplateRoutes(app, new TemplateService(prisma, references));
  registerPatientTemplateRoutes(app, new PatientTemplateService(prisma));
  const inbound = new InboundService(prisma, clock, eventsWritten, deps.logger.child({ component: 'inbound' }));
  registerCallbackRoutes(app, prisma, { webhookToken: vendors.webhookToken, linkKey: answerLinkKey, publicUrl, eventsWritten, inbound });
  registerBandwidthCallbackRoutes(app, {
    inbound,
    credentials: deps.bandwidthCallback ?? null,
    internalAuthSecret: deps.internalAuthSecret,
  });
  registerNotBuiltRoutes(app);

  const consume = (groupId: string, bindings: EventBinding[]) =>
    consumeEvents({
      bus: deps.bus,
      prisma: transactional,
      logger: deps.logger.child({ component: 'consumer' }),
      groupId,
      bindings,
      // What a handler plans (an offer text, an acknowledgement, a reminder due now) goes at once, not at the next poll.
      afterCommit: () => dispatcher.notify(),
      ...(deps.maxEventAttempts !== undefined ? { maxAttempts: deps.maxEventAttempts } : {}),
    });
  const subscriptions: Subscription[] = [];
  app.addHook('onReady', async () => {
    relay.start();
    subscriptions.push(
      await consume('messaging.read-models', [
        ...patientBindings(clock),
        ...catalogBindings,
        settingsChangedHandler,
        demoMessageHandler(clock),
      ]),
      await consume('messaging.reminders', [...reminderPlanningBindings(clock), ...waitlistTextBindings(clock)]),
      await consume('messaging.offers', offerBindings(clock)),
      await consume('messaging.organization-access', organizationAccessBindings),
    );
    dispatcher.start();
    sweep.start();
  });
  // Runs after in-flight requests drained: stop sending and consuming, publish what is left, then disconnect.
  app.addHook('onClose', async () => {
    await Promise.all([dispatcher.stop(), sweep.stop()]);
    await Promise.all(subscriptions.map((subscription) => subscription.stop()));
    await relay.shutdown();
    vendors.close();
    await prisma.$disconnect();
  });
  return { app, dispatcher, sweep };
}

/** Builds the messaging service (see {@link buildMessaging}). */
export async function buildApp(deps: MessagingAppDeps): Promise<ServiceApp> {
  return (await buildMessaging(deps)).app;
}
