import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import * as auth from '@pep/auth';
import * as billing from '@pep/billing';
import { InProcessBus, type Bus } from '@pep/bus';
import { migrate, openDatabase, type Database } from '@pep/db';
import { buildApp as buildGateway } from '@pep/gateway';
import * as messaging from '@pep/messaging';
import * as patients from '@pep/patients';
import * as scheduling from '@pep/scheduling';
import { createLogger, type ControllableClock, type Logger, type ServiceApp } from '@pep/service-kit';
import { registerSandboxRoutes } from './sandbox.routes.js';
import { persistentClock, PLATFORM_FILE, SANDBOX_TOKEN_FILE } from './sandbox.js';

/** What {@link startPlatform} needs. */
export interface PlatformOptions {
  dataDir: string;
  host: string;
  port: number;
  /** Each service logs as itself (its own `service` field) at this level. */
  logLevel: string;
  /** Where every service writes its log lines; stdout when absent. Tests capture them here. */
  logDestination?: NodeJS.WritableStream | undefined;
  internalAuthSecret?: string | undefined;
  bodyLimit?: number;
  /** Requests per minute the gateway allows each caller (its default when absent); suites that sweep the whole API raise it. */
  rateLimitPerMinute?: number | undefined;
  /** Highest rate limit an organization's admin may give an integrator client (auth's default when absent). */
  integratorRateLimitMaxPerMinute?: number | undefined;
  /** The URL people reach the platform at, for links in e-mails and the SMS webhooks' signatures; defaults to the gateway's address. */
  publicUrl?: string | undefined;
  /**
   * Now, for scheduling, messaging and patients (reminders, offers, referrals and their expiry); tests move it. Auth keeps the real time:
   * its tokens are checked against it. When absent, a clock kept in the data folder that `npm run sandbox` moves forward.
   */
  clock?: (() => Date) | undefined;
  /** How often the reminder dispatcher looks for due reminders (messaging's default when absent). */
  dispatchIntervalMs?: number | undefined;
}

/** A running embedded platform. */
export interface RunningPlatform {
  /** The gateway's base URL. */
  url: string;
  /** Each service's own loopback URL, behind the gateway. */
  services: Record<string, string>;
  /** The URL the SMS webhooks are signed over (see {@link PlatformOptions.publicUrl}). */
  publicUrl: string;
  /** Where e-mails go instead of an SMTP server (one .eml file each). */
  mailDir: string;
  /** The file holding the token a developer signs patients' SMS replies with (scripts/sms-reply.mjs reads it). */
  smsWebhookTokenFile: string;
  /** The file holding the token that moves the sandbox clock (scripts/sandbox.mjs reads it); only without {@link PlatformOptions.clock}. */
  sandboxTokenFile: string | null;
  /** Stops the gateway first (no new requests), then each service, the bus and the databases. */
  stop(): Promise<void>;
}

/** What every embedded service is built from. */
interface Shared {
  logger: Logger;
  database: Database;
  bus: Bus;
  internalAuthSecret: string;
  bodyLimit?: number;
}

/** What the platform passes on to the services beyond {@link Shared}. */
interface Context {
  dataDir: string;
  publicUrl: string;
  clock: (() => Date) | undefined;
  dispatchIntervalMs: number | undefined;
  integratorRateLimitMaxPerMinute: number | undefined;
  /** Each service's loopback URL once it listens; services built earlier ask later ones through it (owner lookups). */
  upstreams: Record<string, string>;
  /** The gateway's loopback URL once it listens. */
  gatewayUrl?: string;
  /** Set when messaging is built: one round of its reminder dispatcher (the sandbox sends what is due with it). */
  sendDue?: () => Promise<number>;
  /** Set when messaging is built: when its next planned text is due. */
  nextDue?: () => Promise<Date | null>;
  /** The secret billing checks its Stripe webhook with here; only the sandbox's charge hook signs with it. */
  stripeWebhookSecret: string;
}

/** Where billing's sandbox webhook secret is kept in the data folder. */
const STRIPE_WEBHOOK_SECRET_FILE = 'stripe-webhook-secret';

/** Where the development sink's webhook token is kept in the data folder. */
export const SMS_WEBHOOK_TOKEN_FILE = 'sms-webhook-token';

/** The services the embedded platform runs, each with its migrations and how to build it. */
const SERVICES: Array<{
  name: 'auth' | 'billing' | 'messaging' | 'patients' | 'scheduling';
  migrationsDir: string;
  build: (shared: Shared, context: Context) => Promise<ServiceApp>;
}> = [
  {
    name: 'auth',
    migrationsDir: auth.migrationsDir,
    build: async (shared, context) =>
      auth.buildApp({
        ...shared,
        // Private signing keys are stored encrypted under this; it must never change for a data folder.
        signingKeySecret: await persistentSecret(join(context.dataDir, 'signing-key-secret')),
        publicUrl: context.publicUrl,
        mailer: { from: 'no-reply@localhost', directory: join(context.dataDir, 'mail') },
        // Scheduling is built after auth: until it listens, a provider or facility auth has not heard of answers 503.
        schedulingUrl: () => context.upstreams['scheduling'],
        // Demo practices are seeded through the public API, as a sales tool would (ADR 0023); the gateway listens last.
        gatewayUrl: () => context.gatewayUrl,
        ...(context.integratorRateLimitMaxPerMinute ? { integratorRateLimitMaxPerMinute: context.integratorRateLimitMaxPerMinute } : {}),
      }),
  },
  {
    name: 'patients',
    migrationsDir: patients.migrationsDir,
    // Referrals expire on the sandbox clock, with scheduling's offers and messaging's reminders.
    // Referral statuses shared with referring providers go to the mail folder, as the other services' mail does.
    build: (shared, context) =>
      patients.buildApp({
        ...shared,
        mailer: { from: 'referrals@localhost', directory: join(context.dataDir, 'mail') },
        ...(context.clock ? { clock: context.clock } : {}),
      }),
  },
  {
    name: 'scheduling',
    migrationsDir: scheduling.migrationsDir,
    build: (shared, context) =>
      scheduling.buildApp({
        ...shared,
        patientsUrl: () => context.upstreams['patients'],
        authUrl: () => context.upstreams['auth'],
        ...(context.clock ? { now: context.clock } : {}),
      }),
  },
  {
    name: 'messaging',
    migrationsDir: messaging.migrationsDir,
    // No vendor accounts on a laptop: SMS and voice go to the development sink GET /api/messages lists, mail to .eml
    // files. Replies are signed with a token kept in the data folder, so a developer can play the patient.
    build: async (shared, context) => {
      const built = await messaging.buildMessaging({
        ...shared,
        publicUrl: context.publicUrl,
        twilio: null,
        sinkWebhookToken: await persistentSecret(join(context.dataDir, SMS_WEBHOOK_TOKEN_FILE)),
        mailer: { from: 'no-reply@localhost', directory: join(context.dataDir, 'mail') },
        ...(context.clock ? { clock: context.clock } : {}),
        ...(context.dispatchIntervalMs !== undefined ? { dispatcher: { intervalMs: context.dispatchIntervalMs } } : {}),
        patientsUrl: () => context.upstreams['patients'],
        schedulingUrl: () => context.upstreams['scheduling'],
      });
      context.sendDue = () => built.dispatcher.runOnce();
      context.nextDue = () => built.dispatcher.nextDue();
      return built.app;
    },
  },
  {
    name: 'billing',
    migrationsDir: billing.migrationsDir,
    // A sandbox: no Stripe key on a laptop, so billing never calls Stripe. Accounts are kept locally (status `sandbox`, no
    // Stripe customer), payment method ids are stored as given. Its webhook secret is kept in the data folder and only the
    // sandbox's charge hook (POST /sandbox/billing/charge) signs with it, so charges take the webhook's own path. Grace
    // periods run on the sandbox clock, checked every few seconds; their mail goes to the mail folder.
    build: (shared, context) =>
      billing.buildApp({
        ...shared,
        stripe: null,
        stripeWebhookSecret: context.stripeWebhookSecret,
        mailer: { from: 'billing@localhost', directory: join(context.dataDir, 'mail') },
        gracePollIntervalMs: 2_000,
        ...(context.clock ? { clock: context.clock } : {}),
      }),
  },
];

/**
 * Starts every service in this process, each on its own PGlite database and HTTP port on
 * loopback, all sharing one in-process bus, behind the gateway: the same code as production,
 * with only the transports swapped.
 */
export async function startPlatform(options: PlatformOptions): Promise<RunningPlatform> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const secret = options.internalAuthSecret ?? (await persistentSecret(join(dataDir, 'internal-auth-secret')));
  const loggerFor = (service: string) =>
    createLogger({ service, level: options.logLevel, ...(options.logDestination ? { destination: options.logDestination } : {}) });
  const bus = new InProcessBus({ dataDir: join(dataDir, 'bus'), logger: loggerFor('bus') });
  const publicUrl = options.publicUrl ?? `http://localhost:${options.port}`;
  const databases: Database[] = [];
  const apps: ServiceApp[] = [];
  const upstreams: Record<string, string> = {};
  // Tests bring their own clock; otherwise the developer's sandbox clock, which only moves when told to.
  const sandboxClock: ControllableClock | null = options.clock ? null : await persistentClock(dataDir);
  const clock = options.clock ?? sandboxClock!;
  const context: Context = {
    dataDir,
    publicUrl,
    clock,
    dispatchIntervalMs: options.dispatchIntervalMs,
    integratorRateLimitMaxPerMinute: options.integratorRateLimitMaxPerMinute,
    upstreams,
    stripeWebhookSecret: `whsec_${await persistentSecret(join(dataDir, STRIPE_WEBHOOK_SECRET_FILE))}`,
  };

  try {
    for (const service of SERVICES) {
      const logger = loggerFor(service.name);
      const database = await openDatabase({ kind: 'pglite', dataDir: join(dataDir, service.name) }, { logger });
      databases.push(database);
      await migrate(database, { migrationsDir: service.migrationsDir, logger });
      const app = await service.build(
        { logger, database, bus, internalAuthSecret: secret, ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}) },
        context,
      );
      apps.push(app);
      upstreams[service.name] = await app.listen({ host: '127.0.0.1', port: 0 });
    }

    const gateway = await buildGateway({
      logger: loggerFor('gateway'),
      upstreams,
      internalAuthSecret: secret,
      ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
      ...(options.rateLimitPerMinute ? { rateLimitPerMinute: options.rateLimitPerMinute } : {}),
      // One gateway here, so one stable consumer group: after a restart it resumes where it stopped.
      revocations: { bus, authUrl: upstreams['auth']!, replicaId: 'embedded' },
    });
    apps.unshift(gateway);
    if (sandboxClock) {
      registerSandboxRoutes(gateway, {
        dataDir,
        clock: sandboxClock,
        token: await persistentSecret(join(dataDir, SANDBOX_TOKEN_FILE)),
        sendDue: context.sendDue!,
        nextDue: context.nextDue!,
        billing: { url: upstreams['billing']!, webhookSecret: context.stripeWebhookSecret },
      });
    }
    const url = await gateway.listen({ host: options.host, port: options.port });
    context.gatewayUrl = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
    // The developer's scripts find the platform here, whatever port it took (npm run reply signs over publicUrl).
    const platformFile = join(dataDir, PLATFORM_FILE);
    await writeFile(platformFile, `${JSON.stringify({ url, publicUrl, pid: process.pid }, null, 2)}\n`);
    return {
      url,
      services: upstreams,
      publicUrl,
      mailDir: join(dataDir, 'mail'),
      smsWebhookTokenFile: join(dataDir, SMS_WEBHOOK_TOKEN_FILE),
      sandboxTokenFile: sandboxClock ? join(dataDir, SANDBOX_TOKEN_FILE) : null,
      stop: async () => {
        await rm(platformFile, { force: true });
        await stopAll(apps, bus, databases);
      },
    };
  } catch (error) {
    await stopAll(apps, bus, databases);
    throw error;
  }
}

async function stopAll(apps: ServiceApp[], bus: Bus, databases: Database[]): Promise<void> {
  for (const app of apps) await app.close();
  await bus.close();
  for (const database of databases) await database.close();
}

async function persistentSecret(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    const secret = randomBytes(32).toString('base64url');
    await writeFile(path, `${secret}\n`, { mode: 0o600 });
    return secret;
  }
}
