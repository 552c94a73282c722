import '@pep/contracts';
import { createEventedService, TRANSACTION_OPTIONS, type EventedServiceDeps } from '@pep/db';
import { addCounter, addGauge, createOwnerLookup, type ServiceApp } from '@pep/service-kit';
import { registerBandwidthCallbackRoutes, VENDOR_BASIC_SCHEME, type BasicCredentials } from './bandwidth-callback.routes.js';
import { BroadcastSender, type BroadcastSenderOptions } from './broadcast-sender.js';
import { registerBroadcastRoutes } from './broadcast.routes.js';
import { BroadcastService } from './broadcast.service.js';
import { registerCallbackRoutes } from './callback.routes.js';
import { demoMessageHandler } from './demo-user-message-requested.handler.js';
import { ReminderDispatcher, type DispatcherOptions } from './dispatcher.js';
import { linkKeys } from './email-links.js';
import { registerFeedbackRoutes } from './feedback.routes.js';
import { FeedbackService } from './feedback.service.js';
import { followupBindings } from './followup.handlers.js';
import { registerFollowupRoutes } from './followup.routes.js';
import { FollowupService } from './followup.service.js';
import type { Tx } from './events.js';
import { PrismaClient } from './generated/prisma/client.js';
import { InboundService } from './inbound.service.js';
import { registerMessageRoutes } from './message.routes.js';
import { MessageService } from './message.service.js';
import { registerNotBuiltRoutes } from './not-built.routes.js';
import { registerNotificationRoutes } from './notification.routes.js';
import { NotificationService } from './notification.service.js';
import { offerBindings } from './offers.handlers.js';
import { Outbound } from './outbound.js';
import { PendingSweep, type PendingSweepOptions } from './pending-sweep.js';
import { SendQuota, type QuotaLimits } from './quota.js';
import { catalogBindings, organizationBindings, patientBindings } from './read-models.handlers.js';
import { References } from './references.js';
import { referralOutreachBindings } from './referral-outreach.handlers.js';
import { reminderPlanningBindings } from './reminder-planning.handlers.js';
import { reviewLinkBindings } from './review-links.handlers.js';
import { registerReminderRoutes } from './reminder.routes.js';
import { ReminderService } from './reminder.service.js';
import { settingsChangedHandler } from './settings-changed.handler.js';
import { registerPatientTemplateRoutes, registerTemplateRoutes } from './template.routes.js';
import { PatientTemplateService, TemplateService } from './template.service.js';
import { createVendors, reportingFailures, type MailerConfig, type TwilioConfig } from './vendors.js';
import { waitlistRequestedHandler } from './waitlist-requested.handler.js';
import { topics } from './topics.js';

/** What the messaging app is built from; main.ts and tests supply it. */
export interface MessagingAppDeps extends EventedServiceDeps {
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
  /** Now; tests move it. */
  clock?: () => Date;
  /** Reminder dispatcher tuning; `intervalMs: null` leaves sending to explicit runOnce() calls (tests). */
  dispatcher?: DispatcherOptions;
  /** Settling of messages a crashed send left pending; it sweeps on its own only when the dispatcher polls on its own (tests call runOnce()). */
  pendingSweep?: PendingSweepOptions;
  /** Broadcast sender tuning; it sends on its own only when the dispatcher polls on its own (tests call runOnce()). */
  broadcasts?: BroadcastSenderOptions;
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
  /** Sends broadcasts; tests drive it directly. */
  broadcastSender: BroadcastSender;
  /** NPS surveys after visits; the follow-up rules ask for them, tests directly. */
  feedback: FeedbackService;
}

/** Builds the messaging service: its routes, read-model, reminder and offer consumers, the reminder dispatcher and the pending sweep. */
export async function buildMessaging(deps: MessagingAppDeps): Promise<Messaging> {
  const { app, prisma, unitOfWork, consume, background, beforeClose, patientAccess } = await createEventedService<Tx, PrismaClient>({
    name: 'messaging',
    topics,
    description:
      'Reminders, offer texts, messages by SMS, voice and e-mail, patients’ replies, message templates, vendor callbacks, broadcasts, NPS feedback after visits and follow-ups after appointments; chat to come.',
    deps,
    prisma: (adapter) => new PrismaClient({ adapter, transactionOptions: TRANSACTION_OPTIONS }),
    auditsPatientReads: true,
    securitySchemes: { ...VENDOR_BASIC_SCHEME },
  });
  const clock = deps.clock ?? (() => new Date());
  const vendorOptions = { twilio: deps.twilio, mailer: deps.mailer, sinkWebhookToken: deps.sinkWebhookToken };
  const sendFailures = addCounter(app, 'messaging_vendor_send_failures_total', 'Send attempts a vendor refused or could not take.', [
    'vendor',
    'channel',
  ]);
  const vendors = reportingFailures(createVendors(vendorOptions), (vendor, channel) => sendFailures.inc({ vendor, channel }));
  // Every URL Twilio is given or signs is built on this; a trailing slash would make them `//api/...`.
  const publicUrl = deps.publicUrl.replace(/\/+$/, '');
  const answerLinkKeys = linkKeys(deps.internalAuthSecret);

  const quota = new SendQuota(prisma, clock, app, deps.quota);
  const outbound = new Outbound(
    prisma,
    vendors,
    publicUrl,
    unitOfWork,
    deps.logger.child({ component: 'outbound' }),
    answerLinkKeys,
    quota,
  );
  const dispatcher = new ReminderDispatcher(
    prisma,
    unitOfWork,
    outbound,
    quota,
    clock,
    deps.logger.child({ component: 'dispatcher' }),
    deps.dispatcher,
  );
  const sweep = new PendingSweep(unitOfWork, clock, deps.logger.child({ component: 'pending-sweep' }), {
    ...deps.pendingSweep,
    ...(deps.dispatcher?.intervalMs === null && deps.pendingSweep?.intervalMs === undefined ? { intervalMs: null } : {}),
  });

  addGauge(app, 'reminders_due', 'Reminders due and not yet sent.', async () =>
    prisma.reminder.count({ where: { deleted: false, status: { in: ['scheduled', 'queued'] }, sendAt: { lte: clock() } } }),
  );
  addGauge(
    app,
    'reminder_dispatch_delay_seconds',
    'Seconds the oldest reminder due and not held back (quiet hours, spacing, quota) has waited to be sent; 0 when none.',
    () => dispatcher.dispatchDelaySeconds(),
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
  const feedback = new FeedbackService(prisma, unitOfWork, clock, publicUrl, () => dispatcher.notify());
  registerFeedbackRoutes(app, feedback, patientAccess!);
  const inbound = new InboundService(prisma, unitOfWork, clock, deps.logger.child({ component: 'inbound' }), feedback);
  registerCallbackRoutes(app, prisma, {
    webhookToken: vendors.webhookToken,
    linkKeys: answerLinkKeys,
    publicUrl,
    work: unitOfWork,
    inbound,
  });
  registerBandwidthCallbackRoutes(app, {
    inbound,
    credentials: deps.bandwidthCallback ?? null,
    internalAuthSecret: deps.internalAuthSecret,
  });
  const broadcastSender = new BroadcastSender(prisma, outbound, quota, clock, deps.logger.child({ component: 'broadcasts' }), {
    ...deps.broadcasts,
    ...(deps.dispatcher?.intervalMs === null && deps.broadcasts?.intervalMs === undefined ? { intervalMs: null } : {}),
  });
  // A broadcast due now (sent at once, or just approved) starts at once, not at the next poll.
  registerBroadcastRoutes(app, new BroadcastService(prisma, clock, () => broadcastSender.notify()), patientAccess!);
  registerFollowupRoutes(app, new FollowupService(prisma));
  registerNotificationRoutes(app, new NotificationService(prisma));
  registerNotBuiltRoutes(app);

  // What a handler plans (an offer text, an acknowledgement, a reminder due now) goes at once, not at the next poll.
  const wakeDispatcher = { afterCommit: () => dispatcher.notify() };
  consume(
    'read-models',
    [...patientBindings(clock), ...catalogBindings, ...organizationBindings, settingsChangedHandler, demoMessageHandler(clock)],
    wakeDispatcher,
  );
  consume('reminders', [...reminderPlanningBindings(clock), waitlistRequestedHandler(clock)], wakeDispatcher);
  consume('offers', offerBindings(clock), wakeDispatcher);
  consume('feedback', reviewLinkBindings);
  consume('referral-outreach', referralOutreachBindings(clock), wakeDispatcher);
  consume('followups', followupBindings(clock, feedback), wakeDispatcher);
  background(() => {
    dispatcher.start();
    sweep.start();
    broadcastSender.start();
    return async () => {
      await Promise.all([dispatcher.stop(), sweep.stop(), broadcastSender.stop()]);
    };
  });
  beforeClose(() => vendors.close());
  return { app, dispatcher, sweep, broadcastSender, feedback };
}

/** Builds the messaging service (see {@link buildMessaging}). */
export async function buildApp(deps: MessagingAppDeps): Promise<ServiceApp> {
  return (await buildMessaging(deps)).app;
}
