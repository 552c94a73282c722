import '@pep/contracts';
import { createEventedService, TRANSACTION_OPTIONS, type EventedServiceDeps } from '@pep/db';
import { createOwnerLookup, runPeriodically, type ServiceApp } from '@pep/service-kit';
import { activityBindings } from './activity.handlers.js';
import { billingAccessBindings } from './billing-access.handlers.js';
import { registerActivityRoutes } from './activity.routes.js';
import { ActivityService } from './activity.service.js';
import { registerAvatarRoutes } from './avatar.routes.js';
import { AvatarService } from './avatar.service.js';
import { DemoPracticeSeeder } from './demo-practice.seeder.js';
import { DemoSampleLinks } from './demo-sample-links.js';
import { registerDemoUserRoutes } from './demo-user.routes.js';
import { DemoUserService } from './demo-user.service.js';
import type { Tx } from './events.js';
import { PrismaClient } from './generated/prisma/client.js';
import { GroupInviteService } from './group-invite.service.js';
import { registerGroupRoutes } from './group.routes.js';
import { GroupService } from './group.service.js';
import { registerIntegratorClientRoutes } from './integrator-client.routes.js';
import { IntegratorClientService } from './integrator-client.service.js';
import { registerLoginRoutes } from './login.routes.js';
import { createMailer, type Mailer, type MailerConfig } from '@pep/service-kit';
import { BackgroundMail } from './mailer.js';
import { registerOrganizationRoutes } from './organization.routes.js';
import { OrganizationService } from './organization.service.js';
import { registerPasswordResetPageRoutes } from './password-reset-page.routes.js';
import { PasswordResetService } from './password-reset.service.js';
import { patientAccountBindings } from './patient-account.handlers.js';
import { PatientLoginService } from './patient-login.service.js';
import { RateLimiter } from './rate-limiter.js';
import { registerRevocationRoutes } from './revocation.routes.js';
import { schedulingRecordBindings } from './scheduling-record.handlers.js';
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
import { topics } from './topics.js';

/** What the auth app is built from; main.ts and tests supply it. */
export interface AuthAppDeps extends EventedServiceDeps {
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
  /** Shared secret of Zendesk's JWT single sign-on; without it POST /api/tokens/zendesk answers 501. */
  zendeskSharedSecret?: string;
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

/** Builds the auth service: its routes, the read models it keeps from other services' events, signing keys and mail. */
export async function buildApp(deps: AuthAppDeps): Promise<ServiceApp> {
  const clock = deps.clock ?? (() => new Date());
  // Auth owns organizations and checks their state itself, so it keeps no organization-access read model.
  const { app, prisma, unitOfWork, consume, background, beforeClose } = await createEventedService<Tx, PrismaClient>({
    name: 'auth',
    topics,
    description: 'Organizations, users, groups and invitations, logins and tokens, settings.',
    deps,
    prisma: (adapter) => new PrismaClient({ adapter, transactionOptions: TRANSACTION_OPTIONS }),
    guardOrganizations: false,
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
  const accessTokenTtlSeconds = deps.accessTokenTtlSeconds ?? 900;
  const sessions = new SessionService(prisma, keys, limiter, clock, accessTokenTtlSeconds, unitOfWork);
  const mail = new BackgroundMail();
  const resets = new PasswordResetService(
    prisma,
    limiter,
    mailer,
    mail,
    deps.publicUrl,
    clock,
    deps.logger.child({ component: 'password-reset' }),
    unitOfWork,
  );
  const invites = new GroupInviteService(
    prisma,
    limiter,
    mailer,
    mail,
    deps.publicUrl,
    clock,
    deps.logger.child({ component: 'invitations' }),
    unitOfWork,
  );
  const patientLogins = new PatientLoginService(
    prisma,
    sessions,
    limiter,
    mailer,
    mail,
    clock,
    deps.logger.child({ component: 'patient-login' }),
  );

  registerUserRoutes(app, new UserService(prisma, sessions, limiter, clock, unitOfWork), sessions, resets);
  registerPasswordResetPageRoutes(app, resets);
  registerUserAdminRoutes(app, new UserAdminService(prisma, resets, clock, unitOfWork), invites);
  registerUserLookupRoutes(app, prisma);
  registerOrganizationRoutes(app, new OrganizationService(prisma, unitOfWork, clock), sessions, invites);
  registerTokenRoutes(app, sessions, keys);
  registerRevocationRoutes(app, prisma, clock, accessTokenTtlSeconds);
  const integrators = new IntegratorClientService(
    prisma,
    sessions,
    limiter,
    clock,
    unitOfWork,
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
  registerGroupRoutes(app, new GroupService(prisma, unitOfWork, schedulingRefs), invites);
  registerSettingRoutes(
    app,
    new SettingService(prisma, unitOfWork, schedulingRefs, (db, organization, ref, refId) =>
      ref === 'integrator' ? integrators.exists(db, organization, refId) : Promise.resolve(true),
    ),
  );
  registerZendeskRoutes(app, prisma, deps.zendeskSharedSecret, clock);
  registerActivityRoutes(app, new ActivityService(prisma, clock));
  registerLoginRoutes(app, sessions, patientLogins);
  registerWidgetRoutes(app, new WidgetService(prisma, sessions, limiter, clock, unitOfWork));
  const gatewayUrl = deps.gatewayUrl;
  const seeder = new DemoPracticeSeeder({ gatewayUrl: typeof gatewayUrl === 'function' ? gatewayUrl : () => gatewayUrl, clock });
  registerDemoUserRoutes(
    app,
    new DemoUserService(prisma, resets, sessions, limiter, seeder, unitOfWork),
    new DemoSampleLinks(deps.signingKeySecret, deps.publicUrl, clock),
  );
  await registerAvatarRoutes(app, new AvatarService(prisma, unitOfWork), deps.avatarMaxBytes ?? 1_000_000);

  // Read models: routes serve what has arrived so far. The group ids (auth.<purpose>) are also inbox names: never rename.
  consume('activities', activityBindings());
  consume('patient-accounts', patientAccountBindings());
  consume('scheduling-records', schedulingRecordBindings());
  consume('billing-access', billingAccessBindings(clock));

  background(async () => {
    // The first start creates the signing key here rather than in the first login; rotation (rare) is done off the
    // request path too, so no sign-in waits on it inside its transaction.
    await keys.refresh();
    return runPeriodically(
      () => keys.refresh(),
      60_000,
      (error) => deps.logger.warn({ err: { message: error.message } }, 'signing key refresh failed'),
    );
  });
  background(() =>
    runPeriodically(
      () => limiter.purge(),
      3_600_000,
      (error) => deps.logger.warn({ err: { message: error.message } }, 'rate limit purge failed'),
    ),
  );
  // Mail queued by requests that already answered goes out before the process ends.
  beforeClose(async () => {
    await mail.drain();
    mailer.close();
  });
  return app;
}
