import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaBus, type Bus, type Subscription } from '@pep/bus';
import {
  appointmentCancelledV1,
  appointmentCreatedV1,
  appointmentRescheduledV1,
  createEvent,
  facilityCreatedV1,
  parseEvent,
  patientCreatedV1,
  patientUpdatedV1,
  providerCreatedV1,
  settingsChangedV1,
  type EventDefinition,
  type EventEnvelope,
} from '@pep/contracts';
import { headersOf, startServiceUnderTest, TEST_INTERNAL_SECRET, type ServiceUnderTest } from '@pep/db/testing';
import { createLogger, type Identity, type ServiceApp } from '@pep/service-kit';
import type { TwilioFake } from '@pep/testing';
import twilio from 'twilio';
import type { z } from 'zod';
import { buildMessaging, type Messaging } from '../src/app.js';
import type { DispatcherOptions, ReminderDispatcher } from '../src/dispatcher.js';
import { migrationsDir } from '../src/migrations.js';
import type { PendingSweep } from '../src/pending-sweep.js';
import type { QuotaLimits } from '../src/quota.js';
import type { MailerConfig } from '../src/vendors.js';

/** The internal identity secret the tests sign callers with. */
export const SECRET = TEST_INTERNAL_SECRET;
/** The public URL the service under test believes it has; Twilio signs callbacks to it. */
export const PUBLIC_URL = 'https://api.clinic.example';

/** A clock tests move by hand. */
export interface TestClock {
  now: Date;
  (): Date;
  set(at: string | Date): void;
}

/** A clock standing at `start` until moved. */
export function testClock(start: string): TestClock {
  const clock = (() => clock.now) as TestClock;
  clock.now = new Date(start);
  clock.set = (at) => {
    clock.now = new Date(at);
  };
  return clock;
}

/** A messaging service on a Postgres database, with its bus, dispatcher and clock. */
export interface MessagingUnderTest extends ServiceUnderTest<Messaging> {
  dispatcher: ReminderDispatcher;
  /** Settles messages a crashed send left pending; only runs when the test calls runOnce(). */
  sweep: PendingSweep;
  clock: TestClock;
  /** The owners' base URLs it asks. */
  owners: { patients: string; scheduling: string };
}

/** Options of {@link startMessaging}. */
export interface StartOptions {
  twilio?: TwilioFake | null;
  mailer?: MailerConfig;
  clock?: TestClock;
  /** Share another instance's database and topics (a second replica) instead of fresh ones. */
  replicaOf?: MessagingUnderTest;
  /** Share an existing database (a restart) with these topics. */
  databaseUrl?: string;
  topicPrefix?: string;
  /** Let the dispatcher poll on its own at this interval, as in production. */
  dispatchIntervalMs?: number;
  /** Send quota limits other than the defaults. */
  quota?: Partial<QuotaLimits>;
  /**
   * Dispatcher tuning. Tests hold the clock still and text one patient many times, so texts are not spaced unless a
   * test asks (`spacingMs`).
   */
  dispatcher?: DispatcherOptions;
  /** Where the service logs, when a test reads its log; otherwise TEST_LOG_LEVEL (default silent) on stdout. */
  logDestination?: NodeJS.WritableStream;
  /** The owners asked about ids the read models have not heard of (default: {@link UNREACHABLE}, so a miss answers 503). */
  owners?: { patients: string; scheduling: string };
  /** The Basic credentials Bandwidth's callbacks must carry (default none: loopback callers only). */
  bandwidthCallback?: { username: string; password: string };
}

/** A base URL nothing listens at: an owner that cannot be asked. */
export const UNREACHABLE = 'http://127.0.0.1:1';

/**
 * Starts a messaging service: a fresh database (or a shared one), migrated, relay and consumers running; the
 * dispatcher only sends when the test calls runOnce().
 */
export async function startMessaging(label: string, brokers: string[], options: StartOptions = {}): Promise<MessagingUnderTest> {
  const databaseUrl = options.replicaOf?.databaseUrl ?? options.databaseUrl;
  const topicPrefix = options.replicaOf?.topicPrefix ?? options.topicPrefix;
  const clock = options.clock ?? options.replicaOf?.clock ?? testClock(new Date().toISOString());
  const fake = options.twilio ?? null;
  const owners = options.owners ?? options.replicaOf?.owners ?? { patients: UNREACHABLE, scheduling: UNREACHABLE };
  const start = () =>
    startServiceUnderTest({
      service: 'messaging',
      label,
      brokers,
      migrationsDir,
      ...(databaseUrl ? { databaseUrl } : {}),
      ...(topicPrefix ? { topicPrefix } : {}),
      ...(options.logDestination
        ? { logger: createLogger({ service: 'messaging', level: 'info', destination: options.logDestination }) }
        : {}),
      build: (deps) =>
        buildMessaging({
          ...deps,
          publicUrl: PUBLIC_URL,
          twilio: fake ? { accountSid: fake.accountSid, authToken: fake.authToken, from: fake.from, apiUrl: fake.url } : null,
          mailer: options.mailer ?? { from: 'clinic@example.test', directory: join(tmpdir(), `messaging-test-mail-${randomUUID()}`) },
          ...(options.bandwidthCallback ? { bandwidthCallback: options.bandwidthCallback } : {}),
          clock,
          dispatcher: { spacingMs: 0, ...options.dispatcher, intervalMs: options.dispatchIntervalMs ?? null },
          ...(options.quota ? { quota: options.quota } : {}),
          patientsUrl: owners.patients,
          schedulingUrl: owners.scheduling,
          ownerLookupTimeoutMs: 1_000,
        }),
    });
  // A broker busy creating other files' topics sometimes fails a topic creation (the bus does not retry it yet);
  // one more start is what a restarted pod would do.
  const started = await start().catch(async (error: unknown) => {
    if (!/topic|partition/i.test((error as Error).message)) throw error;
    return start();
  });
  return { ...started, dispatcher: started.built.dispatcher, sweep: started.built.sweep, clock, owners };
}

/** Headers of a request made by this caller, as the gateway would send them. */
export const as: (identity: Identity) => Promise<Record<string, string>> = headersOf;

/** A fresh organization with callers of each kind messaging distinguishes. */
export function organization() {
  const id = randomUUID();
  const caller = (roles: string[]): Identity => ({ organization: id, user: randomUUID(), roles });
  return {
    id,
    admin: caller(['admin']),
    staff: caller(['staff']),
    provider: caller(['provider']),
    integrator: caller(['integrator']),
    patient: caller(['patient']),
  };
}

/** Publishes an event of another service as that service would (key = subject). */
export async function publish<TSchema extends z.ZodType>(
  bus: Bus,
  definition: EventDefinition<string, TSchema>,
  organization: string,
  subject: string,
  data: z.input<TSchema>,
  source = '/services/test',
): Promise<EventEnvelope> {
  const event = createEvent(definition, { source, organization, subject, data });
  await bus.publish([{ topic: definition.topic, key: subject, value: JSON.stringify(event) }]);
  return event;
}

/** What a patient looks like in patients' events. */
export function patientData(overrides: Partial<z.input<typeof patientCreatedV1.data>> = {}) {
  return {
    _id: randomUUID(),
    firstname: 'Ada',
    lastname: 'Lovelace',
    phone: '+15551230001',
    email: null,
    dateOfBirth: null,
    doNotContact: false,
    language: 'en',
    ...overrides,
  };
}

/** A patient, facility and provider of an organization, published as their owners would. */
export async function world(
  bus: Bus,
  organization: string,
  options: { patient?: Partial<z.input<typeof patientCreatedV1.data>>; timeZone?: string } = {},
) {
  const patient = patientData(options.patient);
  const facility = {
    _id: randomUUID(),
    name: 'Main Street Clinic',
    alternativeName: null,
    phonetic: null,
    address: null,
    city: null,
    state: null,
    postcode: null,
    country: null,
    phone: null,
    timeZone: options.timeZone ?? 'America/New_York',
    visible: true,
  };
  const provider = {
    _id: randomUUID(),
    name: 'Grace Hopper',
    firstname: 'Grace',
    lastname: 'Hopper',
    alternativeName: null,
    phonetic: null,
    schedulable: true,
    visible: true,
  };
  await publish(bus, patientCreatedV1, organization, patient._id, patient, '/services/patients');
  await publish(bus, facilityCreatedV1, organization, facility._id, facility, '/services/scheduling');
  await publish(bus, providerCreatedV1, organization, provider._id, provider, '/services/scheduling');
  return { patient, facility, provider };
}

/** Changes a patient as patients would. */
export function updatePatient(
  bus: Bus,
  organization: string,
  patient: ReturnType<typeof patientData>,
  changes: Partial<ReturnType<typeof patientData>>,
) {
  const data = { ...patient, ...changes, changed: Object.keys(changes) };
  return publish(bus, patientUpdatedV1, organization, patient._id, data, '/services/patients');
}

/** An appointment snapshot as scheduling publishes it. */
export function appointmentData(records: Awaited<ReturnType<typeof world>>, date: string, overrides: Record<string, unknown> = {}) {
  return {
    _id: randomUUID(),
    patient: records.patient._id,
    provider: records.provider._id,
    facility: records.facility._id,
    type: randomUUID(),
    date,
    duration: 30,
    status: 'unconfirmed' as const,
    source: 'ui' as const,
    timeZone: records.facility.timeZone,
    ...overrides,
  };
}

/** Books, moves and cancels appointments as scheduling would. */
export const scheduling = {
  book: (bus: Bus, organization: string, appointment: ReturnType<typeof appointmentData>) =>
    publish(bus, appointmentCreatedV1, organization, appointment._id, appointment, '/services/scheduling'),
  move: (bus: Bus, organization: string, appointment: ReturnType<typeof appointmentData>, date: string) =>
    publish(
      bus,
      appointmentRescheduledV1,
      organization,
      appointment._id,
      {
        ...appointment,
        date,
        changed: ['date'],
        previous: {
          date: appointment.date,
          duration: appointment.duration,
          provider: appointment.provider,
          facility: appointment.facility,
          timeZone: appointment.timeZone,
        },
      },
      '/services/scheduling',
    ),
  cancel: (bus: Bus, organization: string, appointment: ReturnType<typeof appointmentData>) =>
    publish(bus, appointmentCancelledV1, organization, appointment._id, { ...appointment, status: 'cancelled' }, '/services/scheduling'),
};

/** Publishes auth's settings.changed for the organization. */
export function publishSettings(bus: Bus, organization: string, settings: Record<string, unknown>) {
  const id = randomUUID();
  return publish(
    bus,
    settingsChangedV1,
    organization,
    id,
    { _id: id, organization, ref: 'organization', refId: organization, settings, unsubscribed: [], unsubscribedAll: false, deleted: false },
    '/services/auth',
  );
}

/** Collects every event published on the given topics of a service under test. */
export async function observe(service: MessagingUnderTest, brokers: string[], topics: string[]) {
  const seen: EventEnvelope[] = [];
  const observer = new KafkaBus({
    brokers,
    clientId: `observer-${randomUUID()}`,
    topicPrefix: service.topicPrefix,
    logger: createLogger({ service: 'observer', level: 'silent' }),
  });
  const subscription: Subscription = await observer.subscribe({
    groupId: `test.observer.${randomUUID()}`,
    topics,
    handler: async (message) => {
      seen.push(parseEvent(message.value));
    },
  });
  return {
    seen,
    async stop() {
      await subscription.stop();
      await observer.close();
    },
  };
}

/** Posts a Twilio status callback as Twilio would: form-encoded and signed for the public URL. */
export function twilioCallback(
  app: ServiceApp,
  fake: TwilioFake,
  path: string,
  params: Record<string, string>,
  options: { tamper?: Record<string, string>; token?: string } = {},
) {
  const signature = twilio.getExpectedTwilioSignature(options.token ?? fake.authToken, `${PUBLIC_URL}${path}`, params);
  return app.inject({
    method: 'POST',
    url: path,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
    payload: new URLSearchParams({ ...params, ...options.tamper }).toString(),
  });
}
