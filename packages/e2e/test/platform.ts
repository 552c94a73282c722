import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, freePort, kafkaBrokers, uniqueTopicPrefix, type TestDatabase, type TwilioFake } from '@pep/testing';
import { startService, stopAll, type ServiceProcess } from './processes.js';

/** A service {@link startPlatform} runs behind the gateway. */
export type PlatformService = 'auth' | 'patients' | 'scheduling' | 'messaging';

/** What the platform is started with. */
export interface PlatformOptions {
  /** Names the topic prefix, the databases, the secrets and the mail folder, so that test files never share them. */
  label: string;
  /** Added to every process's environment, the gateway's included (e.g. `OTEL_*`). */
  env?: Record<string, string>;
  /** Added to one service's environment after everything else, so they win (e.g. a shorter interval of a job). */
  services?: Partial<Record<PlatformService | 'gateway', Record<string, string>>>;
  /** Where messaging sends texts and calls: the stand-in speaking Twilio's REST API, which the test starts and closes. */
  twilio: TwilioFake;
  /** The services whose clock the test moves through `PUT /internal/clock` (ADR 0009); the others run on real time. */
  clockControl?: readonly PlatformService[];
}

/** The platform running: each service in its own process on its own database, all on one Kafka topic prefix. */
export interface Platform {
  auth: ServiceProcess;
  patients: ServiceProcess;
  scheduling: ServiceProcess;
  messaging: ServiceProcess;
  gateway: ServiceProcess;
  /** Every process, in the order they started (the gateway last). */
  services: ServiceProcess[];
  /** The URL Twilio's webhooks and mailed links name: the gateway's. */
  publicUrl: string;
  /** The folder auth and messaging write mail into (`.eml` files). */
  mailDir: string;
  /** Stops every process (the gateway first), drops the databases and removes the mail folder. */
  stop(): Promise<void>;
}

/** A secret of the test file's own, 40 characters: more than the 32 the services ask for at least. */
const secret = (label: string, kind: string) => `${label}-${kind}-0123456789abcdefghijklmnopqrstuvwxyz`.slice(0, 40);

/**
 * Starts auth, patients, scheduling and messaging together, then the gateway in front of them, as the distributed
 * platform runs in production; resolves once every one has settled. A start that fails leaves nothing behind.
 */
export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const { label, twilio } = options;
  const databases: TestDatabase[] = [];
  const services: ServiceProcess[] = [];
  const mailDir = await mkdtemp(join(tmpdir(), `pep-e2e-${label}-mail-`));
  const stop = async () => {
    for (const service of [...services].reverse()) await service.stop();
    // Also those a failed start or test left running.
    await stopAll();
    for (const database of databases) await database.drop();
    await rm(mailDir, { recursive: true, force: true });
  };
  try {
    const common = {
      KAFKA_BROKERS: (await kafkaBrokers()).join(','),
      TOPIC_PREFIX: uniqueTopicPrefix(label),
      INTERNAL_AUTH_SECRET: secret(label, 'internal-secret'),
      ...options.env,
    };
    const databaseUrl: Partial<Record<PlatformService, string>> = {};
    for (const service of ['auth', 'patients', 'scheduling', 'messaging'] as const) {
      const created = await createTestDatabase(`${label}-${service}`);
      databases.push(created);
      databaseUrl[service] = created.url;
    }
    // Twilio signs the URL it calls, the gateway's: messaging has to know it before the gateway starts.
    const gatewayPort = await freePort();
    const publicUrl = `http://127.0.0.1:${gatewayPort}`;
    // Scheduling and messaging ask patients about a patient they have not heard of yet.
    const patientsPort = await freePort();
    // Auth and messaging ask scheduling about records their events have not brought yet.
    const schedulingPort = await freePort();
    // Scheduling asks auth whether a v1 booking's `user` is one of the organization's users.
    const authPort = await freePort();
    const owners = { PATIENTS_URL: `http://127.0.0.1:${patientsPort}`, SCHEDULING_URL: `http://127.0.0.1:${schedulingPort}` };
    const envOf = (service: PlatformService, own: Record<string, string>) => ({
      ...common,
      DATABASE_URL: databaseUrl[service]!,
      ...(options.clockControl?.includes(service) ? { NODE_ENV: 'test', CLOCK_CONTROL: 'true' } : {}),
      ...own,
      ...options.services?.[service],
    });
    const sms = {
      TWILIO_API_URL: twilio.url,
      TWILIO_ACCOUNT_SID: twilio.accountSid,
      TWILIO_AUTH_TOKEN: twilio.authToken,
      TWILIO_FROM: twilio.from,
    };
    const starting = [
      startService(
        'auth',
        envOf('auth', {
          SIGNING_KEY_SECRET: secret(label, 'signing-key-secret'),
          PUBLIC_URL: publicUrl,
          MAIL_DIR: mailDir,
          SCHEDULING_URL: owners.SCHEDULING_URL,
        }),
        { port: authPort },
      ),
      startService('patients', envOf('patients', {}), { port: patientsPort }),
      startService('scheduling', envOf('scheduling', { PATIENTS_URL: owners.PATIENTS_URL, AUTH_URL: `http://127.0.0.1:${authPort}` }), {
        port: schedulingPort,
      }),
      startService(
        'messaging',
        envOf('messaging', { PUBLIC_URL: publicUrl, ...sms, MAIL_DIR: mailDir, DISPATCH_INTERVAL_MS: '250', ...owners }),
      ),
    ];
    // Every start is waited for, so that none is still coming up when a failed one has the platform stopped.
    const settled = await Promise.allSettled(starting);
    for (const result of settled) if (result.status === 'fulfilled') services.push(result.value);
    const failed = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
    const [auth, patients, scheduling, messaging] = services as [ServiceProcess, ServiceProcess, ServiceProcess, ServiceProcess];
    const gateway = await startService(
      'gateway',
      {
        ...common,
        UPSTREAMS: `auth=${auth.url},patients=${patients.url},scheduling=${scheduling.url},messaging=${messaging.url}`,
        RATE_LIMIT_PER_MINUTE: '100000',
        ...options.services?.gateway,
      },
      { port: gatewayPort },
    );
    services.push(gateway);
    return { auth, patients, scheduling, messaging, gateway, services, publicUrl, mailDir, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
