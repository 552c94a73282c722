import type { Bus, Subscription } from '@pep/bus';
import '@pep/contracts';
import {
  asTransactional,
  consumeEvents,
  createIdempotencyStore,
  type Database,
  type EventBinding,
  OutboxRelay,
  retryingTransactions,
  TRANSACTION_OPTIONS,
} from '@pep/db';
import { addGauge, createOwnerLookup, createServiceApp, type Logger, type ServiceApp } from '@pep/service-kit';
import { PrismaClient } from './generated/prisma/client.js';
import { registerActivityRoutes } from './activity.routes.js';
import { registerAvatarRoutes } from './avatar.routes.js';
import { AvatarService } from './avatar.service.js';
import { DemoPracticeSeeder } from './demo-practice.seeder.js';
import { DemoSampleLinks } from './demo-sample-links.js';
import { registerDemoUserRoutes } from './demo-user.routes.js';
import { DemoUserService } from './demo-user.service.js';
import { ACTIVITY_CONSUMER, activityBindings, ActivityService } from './activity.service.js';
import { GroupInviteService } from './group-invite.service.js';
import { registerGroupRoutes } from './group.routes.js';
import { GroupService } from './group.service.js';
import { registerIntegratorClientRoutes } from './integrator-client.routes.js';
import { IntegratorClientService } from './integrator-client.service.js';
import { BackgroundMail, createMailer, type Mailer, type MailerConfig } from './mailer.js';
import { registerLoginRoutes } from './login.routes.js';
import { registerOrganizationRoutes } from './organization.routes.js';
import { OrganizationService } from './organization.service.js';
import { registerPasswordResetPageRoutes } from './password-reset-page.routes.js';
import { PasswordResetService } from './password-reset.service.js';
import { PATIENT_ACCOUNT_CONSUMER, patientAccountBindings } from './patient-account.consumer.js';
import { PatientLoginService } from './patient-login.service.js';
import { RateLimiter } from './rate-limiter.js';
import { registerRevocationRoutes } from './revocation.routes.js';
import { SCHEDULING_RECORD_CONSUMER, schedulingRecordBindings } from './scheduling-record.consumer.js';
import { SchedulingRefs } from './scheduling-refs.js';
import { SessionService } from './session.service.js';
import { registerSettingRoutes } from './setting.routes.js';
import { SettingService } from './setting.service.js';
import { SigningKeyStore } from './signing-keys.js';
import { registerTokenRoutes } from './token.routes.js';
import { registerUserAdminRoutes } from './user-admin.routes.js';
import { registerUserLookupRoutes } from './user-lookup.routes.js';
import { UserAdminService } from './user-admin.service.js';
import { registerUserRoutes } from './user.routes.js';
import { UserService } from './user.service.js';
import { registerWidgetRoutes } from './widget.routes.js';
import { WidgetService } from './widget.service.js';
import { registerZendeskRoutes } from './zendesk.routes.js';

/** What the auth app is built from; main.ts and tests supply it. */
export interface AuthAppDeps {
  logger: Logger;
  database: Database;
  bus: Bus;
  internalAuthSecret: string;
  /** Encrypts private signing keys at rest. */
  signingKeySecret: string;
  /** Days after which a new signing key takes over (default 30). */
  signingKeyRotationDays?: number;
  /** Access token lifetime (default 900 s). */
  accessTokenTtlSeconds?: number;
  /** Base URL of the web app, for links in e-mails. */
  publicUrl: string;
  mailer: MailerConfig | Mailer;
  /** The time; tests move it to expire tokens and rotate keys. */
  clock?: () => Date;
  bodyLimit?: number;
  /** Outbox poll interval; tests shorten it. */
  outboxPollIntervalMs?: number;
  /** Shared secret of Zendesk's JWT single sign-on; without it POST /api/tokens/zendesk answers 501. */
  zendeskSharedSecret?: string;
  /** Attempts per consumed event before it is dead-lettered (default the bus's). */
  maxEventAttempts?: number;
  /** Largest avatar image accepted, in bytes (default 1,000,000). */
  avatarMaxBytes?: number;
  /** Highest rate limit an organization's admin may give an integrator client, requests a minute (default 6,000). */
  integratorRateLimitMaxPerMinute?: number;
  /**
   * Base URL of scheduling, asked about provider, facility and appointment type ids its events have not brought yet; a
   * function when it is known only once scheduling listens (embedded).
   */
  schedulingUrl: string | (() => string | undefined);
  /** How long such a question may take before the request answers 503 (default 2 s). */
  ownerLookupTimeoutMs?: number;
  /**
   * Base URL of the gateway, which demo practices are seeded through (ADR 0023); a function when it is known only once the
   * gateway listens (embedded). Without it demo users get no practice.
   */
  gatewayUrl?: string | (() => string | undefined);
}

/** Builds the auth service: routes, signing keys and the outbox relay, closed in the right order. */
export async function buildApp(deps: AuthAppDeps): Promise<ServiceApp> {
  const clock = deps.clock ?? (() => new Date());
  // A transaction aborted by a deadlock or serialization failure runs again; a race it still loses answers 409, not 500.
  const prisma = retryingTransactions(new PrismaClient({ adapter: deps.database.adapter, transactionOptions: TRANSACTION_OPTIONS }));
  const relay = new OutboxRelay({
    prisma: asTransactional(prisma),
    bus: deps.bus,
    logger: deps.logger.child({ component: 'outbox' }),
    ...(deps.outboxPollIntervalMs !== undefined ? { pollIntervalMs: deps.outboxPollIntervalMs } : {}),
  });
  const keys = new SigningKeyStore({
    prisma,
    secret: deps.signingKeySecret,
    rotationDays: deps.signingKeyRotationDays ?? 30,
    clock,
    logger: deps.logger.child({ component: 'signing-keys' }),
  });
  const mailer = 'send' in deps.mailer ? deps.mailer : createMailer(deps.mailer);
  const limiter = new RateLimiter(prisma, clock);
  const eventsWritten = () => relay.notify();
  const accessTokenTtlSeconds = deps.accessTokenTtlSeconds ?? 900;
  const sessions = new SessionService(prisma, keys, limiter, clock, accessTokenTtlSeconds, eventsWritten);
  const background = new BackgroundMail();
  const resets = new PasswordResetService(
    prisma,
    limiter,
    mailer,
    background,
    deps.publicUrl,
    clock,
    deps.logger.child({ component: 'password-reset' }),
    eventsWritten,
  );
  const invites = new GroupInviteService(
    prisma,
    limiter,
    mailer,
    background,
    deps.publicUrl,
    clock,
    deps.logger.child({ component: 'invitations' }),
    eventsWritten,
  );
  const patientLogins = new PatientLoginService(
    prisma,
    sessions,
    limiter,
    mailer,
    background,
    clock,
    deps.logger.child({ component: 'patient-login' }),
  );

  const app = await createServiceApp({
    name: 'auth',
    description: 'Organizations, users, groups and invitations, logins and tokens, settings.',
    logger: deps.logger,
    internalAuthSecret: deps.internalAuthSecret,
    idempotency: { store: createIdempotencyStore(asTransactional(prisma)) },
    ...(deps.bodyLimit !== undefined ? { bodyLimit: deps.bodyLimit } : {}),
    // Ready with the database alone: the broker's and the consumers' state is shown, not gating (ADR 0024).
    readiness: { database: () => deps.database.ping() },
    reportOnly: { broker: () => deps.bus.healthy() },
    consumers: () => started,
  });

  addGauge(app, 'outbox_pending_events', 'Events committed but not yet published to the bus.', () => relay.pendingCount());
  registerUserRoutes(app, new UserService(prisma, sessions, limiter, clock, eventsWritten), sessions, resets);
  registerPasswordResetPageRoutes(app, resets);
  registerUserAdminRoutes(app, new UserAdminService(prisma, resets, clock, eventsWritten), invites);
  registerUserLookupRoutes(app, prisma);
  registerOrganizationRoutes(app, new OrganizationService(prisma, eventsWritten, clock), sessions, invites);
  registerTokenRoutes(app, sessions, keys);
  registerRevocationRoutes(app, prisma, clock, accessTokenTtlSeconds);
  const integrators = new IntegratorClientService(
    prisma,
    sessions,
    limiter,
    clock,
    eventsWritten,
    deps.integratorRateLimitMaxPerMinute ?? 6_000,
  );
  registerIntegratorClientRoutes(app, integrators);
  const schedulingRefs = new SchedulingRefs(
    prisma,
    createOwnerLookup({
      owner: 'scheduling',
      baseUrl: deps.schedulingUrl,
      internalAuthSecret: deps.internalAuthSecret,
      ...(deps.ownerLookupTimeoutMs !== undefined ? { timeoutMs: deps.ownerLookupTimeoutMs } : {}),
    }),
  );
  registerGroupRoutes(app, new GroupService(prisma, eventsWritten, schedulingRefs), invites);
  registerSettingRoutes(
    app,
    new SettingService(prisma, eventsWritten, schedulingRefs, (db, organization, ref, refId) =>
      ref === 'integrator' ? integrators.exists(db, organization, refId) : Promise.resolve(true),
    ),
  );
  registerZendeskRoutes(app, prisma, deps.zendeskSharedSecret, clock);
  registerActivityRoutes(app, new ActivityService(prisma, clock));
  registerLoginRoutes(app, sessions, patientLogins);
  registerWidgetRoutes(app, new WidgetService(prisma, sessions, limiter, clock, eventsWritten));
  const gatewayUrl = deps.gatewayUrl;
  const seeder = new DemoPracticeSeeder({ gatewayUrl: typeof gatewayUrl === 'function' ? gatewayUrl : () => gatewayUrl, clock });
  registerDemoUserRoutes(
    app,
    new DemoUserService(prisma, resets, sessions, limiter, seeder, eventsWritten),
    new DemoSampleLinks(deps.signingKeySecret, deps.publicUrl, clock),
  );
  await registerAvatarRoutes(app, new AvatarService(prisma, eventsWritten), deps.avatarMaxBytes ?? 1_000_000);

  let closing = false;
  let consumers: Promise<Array<Subscription | null>> = Promise.resolve([]);
  const started: Subscription[] = [];
  // Read models (the activity feed, patient accounts, scheduling records): subscriptions join their groups in the
  // background (ADR 0024); routes serve what has arrived so far.
  const startConsumer = async (groupId: string, bindings: EventBinding[], component: string): Promise<Subscription | null> => {
    const logger = deps.logger.child({ component });
    for (let attempt = 1; !closing; attempt += 1) {
      try {
        const subscription = await consumeEvents({
          bus: deps.bus,
          prisma: asTransactional(prisma),
          logger,
          groupId,
          bindings,
          ...(deps.maxEventAttempts !== undefined ? { maxAttempts: deps.maxEventAttempts } : {}),
        });
        started.push(subscription);
        return subscription;
      } catch (error) {
        logger.warn({ err: { message: (error as Error).message }, attempt }, 'consumer did not start; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * 2 ** attempt)).unref());
      }
    }
    return null;
  };

  let purgeTimer: NodeJS.Timeout | undefined;
  let keyTimer: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    // The first start creates the signing key here rather than in the first login.
    await keys.refresh();
    relay.start();
    consumers = Promise.all([
      startConsumer(ACTIVITY_CONSUMER, activityBindings(), 'activities'),
      startConsumer(PATIENT_ACCOUNT_CONSUMER, patientAccountBindings(), 'patient-accounts'),
      startConsumer(SCHEDULING_RECORD_CONSUMER, schedulingRecordBindings(), 'scheduling-records'),
    ]);
    purgeTimer = setInterval(() => {
      limiter.purge().catch((error: Error) => deps.logger.warn({ err: { message: error.message } }, 'rate limit purge failed'));
    }, 3_600_000);
    purgeTimer.unref();
    // Rotation (rare) is done here, off the request path, so no sign-in waits on it inside its transaction.
    keyTimer = setInterval(() => {
      keys.refresh().catch((error: Error) => deps.logger.warn({ err: { message: error.message } }, 'signing key refresh failed'));
    }, 60_000);
    keyTimer.unref();
  });
  // Runs after in-flight requests drained: finish mails, publish what is left, then disconnect.
  app.addHook('onClose', async () => {
    clearInterval(purgeTimer);
    clearInterval(keyTimer);
    closing = true;
    await Promise.all((await consumers).map((consumer) => consumer?.stop()));
    await background.drain();
    mailer.close();
    await relay.shutdown();
    await prisma.$disconnect();
  });
  return app;
}
