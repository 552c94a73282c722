import { randomBytes } from 'node:crypto';
import {
  createTestDatabase,
  freePort,
  parseBrokerList,
  postgresAdminUrl,
  startDedicatedKafka,
  startSmtpSink,
  startTwilioFake,
  waitForKafka,
  type ControllableKafka,
  type SmtpSink,
  type TestDatabase,
  type TwilioFake,
} from '@pep/testing';
import pg from 'pg';
import { SERVICE_NAMES, ServiceProcess, type ServiceName } from './service-process.js';

/** The services that own a database (the gateway has none). */
export const DATABASE_OWNERS = ['auth', 'patients', 'scheduling', 'messaging', 'billing'] as const;
/** One of {@link DATABASE_OWNERS}. */
export type DatabaseOwner = (typeof DATABASE_OWNERS)[number];

/** Secrets the services share; keep them across runs that reuse databases (auth's signing keys are sealed with one). */
export interface RuntimeSecrets {
  internalAuthSecret: string;
  signingKeySecret: string;
  /** The development sink's webhook token (replies are signed with it), when texts go to the sink. */
  smsWebhookToken: string;
}

/** What {@link startDistributedRuntime} starts. */
export interface RuntimeOptions {
  /** `fresh`: new databases with unique names, dropped by stop() unless `keepDatabases`; otherwise databases `<prefix>_<service>`, created when missing and kept. */
  databases: 'fresh' | { prefix: string };
  /** Keep fresh databases after stop(), to look into what a run left behind. */
  keepDatabases?: boolean;
  /** `dedicated`: always a broker of our own (it can be stopped and restarted); `environment`: KAFKA_BROKERS when set, else our own. */
  kafka: 'dedicated' | 'environment';
  /** `sink`: texts go to messaging's development sink; `twilio-fake`: to a local Twilio stand-in that counts every send. */
  sms: 'sink' | 'twilio-fake';
  /** Lets the runtime move messaging's, scheduling's and patients' clocks (ADR 0009); never in production. */
  clockControl: boolean;
  secrets?: RuntimeSecrets;
  /** The gateway's port (the public URL Twilio signs); a free one when omitted. */
  gatewayPort?: number;
  /** Topic prefix, so runs on one broker never meet; none when omitted. */
  topicPrefix?: string;
  /** Extra environment per service (quotas, intervals, rate limits). */
  env?: Partial<Record<ServiceName, Record<string, string>>>;
  /** Where progress lines go. */
  log?: (line: string) => void;
}

/** The distributed runtime: each service its own process on its own database, Kafka between them, vendor fakes around. */
export interface DistributedRuntime {
  gatewayUrl: string;
  /** The URL Twilio's webhook signatures are made over (the gateway's). */
  publicUrl: string;
  services: Record<ServiceName, ServiceProcess>;
  databases: Record<DatabaseOwner, string>;
  brokers: string[];
  topicPrefix: string;
  secrets: RuntimeSecrets;
  /** The broker when this runtime started it (it can be stopped and restarted), else null. */
  kafka: ControllableKafka | null;
  /** The Twilio stand-in, with `sms: 'twilio-fake'`. */
  twilio: TwilioFake | null;
  smtp: SmtpSink;
  /** The token Twilio's webhooks are signed with: the fake's auth token or the sink's webhook token. */
  webhookToken: string;
  /** Kills one service with SIGKILL. */
  kill(name: ServiceName): Promise<void>;
  /** Starts a stopped or killed service again on its port, waits until it is ready and puts its clock back. */
  restart(name: ServiceName, timeoutMs?: number): Promise<void>;
  /** Moves the controllable clocks (messaging, scheduling, patients) to `instant`; restarted services get it back. */
  setClock(instant: Date): Promise<void>;
  /** The platform's time now (real time plus the clock offset). */
  now(): Date;
  /** Ends every connection a service holds to its database (what a Postgres restart does to it); returns how many. */
  terminateConnections(name: DatabaseOwner): Promise<number>;
  /** Stops every process and fake this runtime started, and drops fresh databases. Safe to call more than once. */
  stop(): Promise<void>;
}

const random = (bytes: number) => randomBytes(bytes).toString('hex');

/** New secrets for a runtime. */
export function newSecrets(): RuntimeSecrets {
  return { internalAuthSecret: random(32), signingKeySecret: random(32), smsWebhookToken: random(16) };
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: await postgresAdminUrl(), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A database named `name` on the admin server, created when missing; its URL. */
async function namedDatabase(name: string): Promise<string> {
  await withAdmin(async (client) => {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${quote(name)}`);
  });
  const url = new URL(await postgresAdminUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Starts the whole distributed runtime: databases (migrated by each service at start, as MIGRATE_ON_START does), a
 * Kafka broker, an SMTP sink, the Twilio stand-in or the development sink with its webhook token, then auth, patients,
 * scheduling, messaging and billing as their own processes, and the gateway in front once they are ready. Whatever was started
 * is stopped again when starting fails.
 */
export async function startDistributedRuntime(options: RuntimeOptions): Promise<DistributedRuntime> {
  const log = options.log ?? (() => undefined);
  const secrets = options.secrets ?? newSecrets();
  const cleanups: Array<() => Promise<void>> = [];
  const services = {} as Record<ServiceName, ServiceProcess>;
  const stopAll = async () => {
    await Promise.allSettled(Object.values(services).map((service) => service.stop()));
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    cleanups.length = 0;
  };
  try {
    const fresh: TestDatabase[] = [];
    cleanups.push(async () => {
      if (options.keepDatabases) return;
      for (const database of fresh) await database.drop().catch(() => undefined);
    });
    const databases = {} as Record<DatabaseOwner, string>;
    for (const owner of DATABASE_OWNERS) {
      if (options.databases === 'fresh') {
        const created = await createTestDatabase(`chaos-${owner}`);
        fresh.push(created);
        databases[owner] = created.url;
      } else {
        databases[owner] = await namedDatabase(`${options.databases.prefix}_${owner}`);
      }
    }
    log(
      `databases: ${Object.values(databases)
        .map((url) => new URL(url).pathname.slice(1))
        .join(', ')}`,
    );

    let kafka: ControllableKafka | null = null;
    let brokers = options.kafka === 'environment' ? parseBrokerList(process.env['KAFKA_BROKERS']) : undefined;
    if (brokers) {
      await waitForKafka(brokers, { timeoutMs: 30_000 });
      log(`Kafka: ${brokers.join(',')} (KAFKA_BROKERS)`);
    } else {
      log('Kafka: starting a local broker…');
      const started = await startDedicatedKafka();
      kafka = started;
      cleanups.push(() => started.destroy());
      brokers = started.brokers;
      log(`Kafka: ${brokers.join(',')}`);
    }

    const smtp = await startSmtpSink();
    cleanups.push(() => smtp.close());
    const twilio = options.sms === 'twilio-fake' ? await startTwilioFake() : null;
    if (twilio) cleanups.push(() => twilio.close());

    const ports = {} as Record<ServiceName, number>;
    const taken: number[] = [];
    for (const name of SERVICE_NAMES) {
      const port = name === 'gateway' && options.gatewayPort ? options.gatewayPort : await freePort(taken);
      ports[name] = port;
      taken.push(port);
    }
    const at = (name: ServiceName) => `http://127.0.0.1:${ports[name]}`;
    const publicUrl = at('gateway');
    const topicPrefix = options.topicPrefix ?? '';
    const common = {
      NODE_ENV: options.clockControl ? 'test' : 'development',
      KAFKA_BROKERS: brokers.join(','),
      TOPIC_PREFIX: topicPrefix,
      INTERNAL_AUTH_SECRET: secrets.internalAuthSecret,
    };
    const clock: Record<string, string> = options.clockControl ? { CLOCK_CONTROL: 'true' } : {};
    const sms: Record<string, string> = twilio
      ? { TWILIO_API_URL: twilio.url, TWILIO_ACCOUNT_SID: twilio.accountSid, TWILIO_AUTH_TOKEN: twilio.authToken, TWILIO_FROM: twilio.from }
      : { SMS_SINK_WEBHOOK_TOKEN: secrets.smsWebhookToken };
    const env: Record<ServiceName, Record<string, string>> = {
      auth: {
        ...common,
        DATABASE_URL: databases.auth,
        SIGNING_KEY_SECRET: secrets.signingKeySecret,
        PUBLIC_URL: publicUrl,
        SMTP_URL: smtp.url,
        SCHEDULING_URL: at('scheduling'),
        GATEWAY_URL: publicUrl,
      },
      patients: { ...common, ...clock, DATABASE_URL: databases.patients },
      scheduling: { ...common, ...clock, DATABASE_URL: databases.scheduling, PATIENTS_URL: at('patients'), AUTH_URL: at('auth') },
      messaging: {
        ...common,
        ...clock,
        ...sms,
        DATABASE_URL: databases.messaging,
        PUBLIC_URL: publicUrl,
        SMTP_URL: smtp.url,
        PATIENTS_URL: at('patients'),
        SCHEDULING_URL: at('scheduling'),
      },
      // No Stripe key: billing is a sandbox (accounts kept locally, Stripe never called).
      billing: { ...common, DATABASE_URL: databases.billing },
      gateway: {
        ...common,
        UPSTREAMS: DATABASE_OWNERS.map((owner) => `${owner}=${at(owner)}`).join(','),
      },
    };
    for (const name of SERVICE_NAMES) services[name] = new ServiceProcess(name, ports[name], { ...env[name], ...options.env?.[name] });
    log('starting auth, patients, scheduling, messaging, billing…');
    await Promise.all(DATABASE_OWNERS.map((owner) => services[owner].start()));
    await services.gateway.start();
    log(`gateway: ${publicUrl}`);

    let offsetMs = 0;
    const clocked: ServiceName[] = options.clockControl ? ['messaging', 'scheduling', 'patients'] : [];
    const putClock = async (name: ServiceName, instant: Date) => {
      const response = await fetch(`${services[name].url}/internal/clock`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ now: instant.toISOString() }),
        signal: AbortSignal.timeout(10_000),
      });
      if (response.status !== 200) throw new Error(`${name} refused the clock: ${response.status}`);
    };
    let stopping: Promise<void> | undefined;
    return {
      gatewayUrl: publicUrl,
      publicUrl,
      services,
      databases,
      brokers,
      topicPrefix,
      secrets,
      kafka,
      twilio,
      smtp,
      webhookToken: twilio ? twilio.authToken : secrets.smsWebhookToken,
      kill: (name) => services[name].kill(),
      async restart(name, timeoutMs = 120_000) {
        await services[name].start({ timeoutMs });
        if (clocked.includes(name) && offsetMs !== 0) await putClock(name, new Date(Date.now() + offsetMs));
      },
      async setClock(instant) {
        if (!options.clockControl) throw new Error('started without clock control');
        offsetMs = instant.getTime() - Date.now();
        for (const name of clocked) if (services[name].running) await putClock(name, instant);
      },
      now: () => new Date(Date.now() + offsetMs),
      async terminateConnections(name) {
        const database = new URL(databases[name]).pathname.slice(1);
        return withAdmin(async (client) => {
          const result = await client.query(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
            [database],
          );
          return result.rowCount ?? 0;
        });
      },
      stop: () => (stopping ??= stopAll()),
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
