import { randomUUID } from 'node:crypto';
import { KafkaBus, type Bus, type Subscription } from '@pep/bus';
import { createEvent, parseEvent, patientCreatedV1, settingsChangedV1, type EventEnvelope } from '@pep/contracts';
import { headersOf, startServiceUnderTest, TEST_INTERNAL_SECRET, type ServiceUnderTest } from '@pep/db/testing';
import { createLogger, verifyIdentity, type Identity, type ServiceApp } from '@pep/service-kit';
import { waitFor } from '@pep/testing';
import pg from 'pg';
import { buildApp } from '../src/app.js';
import { migrationsDir } from '../src/migrations.js';

/** The internal identity secret the tests sign callers with. */
export const SECRET = TEST_INTERNAL_SECRET;

/** A scheduling service on its own fresh Postgres database and topic prefix, on the given brokers. */
export type SchedulingUnderTest = ServiceUnderTest;

/** Options of {@link startScheduling}. */
export interface StartOptions {
  /** Connections of the service's pool; the concurrency test wants every booking in flight at once. */
  poolMax?: number;
  /** The service's clock (offers lapse by it). */
  now?: () => Date;
  /** How often the service looks for lapsed offers. */
  offerExpiryIntervalMs?: number;
  /**
   * Where the patients service listens. Left out, there is none: a patient the read model has not heard of answers 503,
   * so every test books patients it published ({@link knownPatients}) or created in a real patients service.
   */
  patientsUrl?: string | (() => string | undefined);
  /** Where the auth service listens; left out, a booking naming another user of the organization answers 503. */
  authUrl?: string | (() => string | undefined);
  ownerLookupTimeoutMs?: number;
}

/** How patients are made for each app, so fixtures given only an app can make them. */
const sources = new WeakMap<ServiceApp, PatientSource>();

/** Starts a scheduling service on a fresh database, migrated, with its relay and consumer running. */
export async function startScheduling(label: string, brokers: string[], options: StartOptions = {}): Promise<SchedulingUnderTest> {
  const service = await startServiceUnderTest({
    service: 'scheduling',
    label,
    brokers,
    migrationsDir,
    ...(options.poolMax !== undefined ? { poolMax: options.poolMax } : {}),
    build: (deps) =>
      buildApp({
        ...deps,
        patientsUrl: options.patientsUrl ?? (() => undefined),
        ...(options.authUrl !== undefined ? { authUrl: options.authUrl } : {}),
        ...(options.ownerLookupTimeoutMs !== undefined ? { ownerLookupTimeoutMs: options.ownerLookupTimeoutMs } : {}),
        ...(options.now ? { now: options.now } : {}),
        ...(options.offerExpiryIntervalMs !== undefined ? { offerExpiryIntervalMs: options.offerExpiryIntervalMs } : {}),
      }),
  });
  const sql = new pg.Pool({ connectionString: service.databaseUrl, max: 1 });
  service.onClose(() => sql.end());
  usePatientSource(
    service.app,
    announcingPatients(
      service.bus,
      async (ids) => (await sql.query('SELECT count(*)::int AS n FROM patient WHERE id = ANY($1::uuid[])', [ids])).rows[0].n as number,
    ),
  );
  return service;
}

/** Makes patients of an organization known to a service the way the patients service does; answers their ids. */
export type PatientSource = (organization: string, count: number) => Promise<string[]>;

/**
 * A patient source publishing patient.created on `bus`, then waiting until `known` (how many of the ids the read
 * model holds) counts them all.
 */
export function announcingPatients(bus: Bus, known: (ids: string[]) => Promise<number>): PatientSource {
  return async (organization, count) => {
    const ids = Array.from({ length: count }, () => randomUUID());
    await bus.publish(
      ids.map((id) => {
        const event = createEvent(patientCreatedV1, {
          source: '/services/patients',
          organization,
          subject: id,
          data: { _id: id, firstname: 'Pat', lastname: 'Ient', phone: null, email: null, dateOfBirth: null, doNotContact: false },
        });
        return { topic: patientCreatedV1.topic, key: id, value: JSON.stringify(event) };
      }),
    );
    await waitFor(async () => (await known(ids)) === count, { timeoutMs: 30_000, message: 'patient.created reaches the read model' });
    return ids;
  };
}

/** Lets {@link patientFor} make patients for an app not started by {@link startScheduling} (the embedded runtime's). */
export function usePatientSource(app: ServiceApp, source: PatientSource): void {
  sources.set(app, source);
}

/** Patients of an organization as the patients service announces them, once the read model holds them. */
export async function knownPatients(service: SchedulingUnderTest, organization: string, count = 1): Promise<string[]> {
  const source = sources.get(service.app);
  if (!source) throw new Error('no patient source for this app');
  return source(organization, count);
}

/** One patient of the organization, known to the read model. */
export async function knownPatient(service: SchedulingUnderTest, organization: string): Promise<string> {
  return (await knownPatients(service, organization, 1))[0]!;
}

/** A patient of the organization of the caller whose headers these are, in the service behind `app`. */
export async function patientFor(app: ServiceApp, headers: Record<string, string>): Promise<string> {
  const source = sources.get(app);
  const identity = await verifyIdentity(SECRET, headers['x-internal-identity']);
  if (!source || !identity) throw new Error('patientFor wants an app with a patient source and headers made by as()');
  return (await source(identity.organization, 1))[0]!;
}

/** Headers of a request made by this caller, as the gateway would send them. */
export const as: (identity: Identity) => Promise<Record<string, string>> = headersOf;

/** A fresh organization with callers of each kind scheduling distinguishes. */
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

/** Collects every event published on the given topics of a service under test. */
export async function observe(service: SchedulingUnderTest, brokers: string[], topics: string[]) {
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

/** Publishes auth's settings.changed for an organization-wide setting, as auth would. */
export async function publishOrganizationSettings(
  service: SchedulingUnderTest,
  organization: string,
  settings: Record<string, unknown>,
  options: { settingId?: string; time?: Date; deleted?: boolean; id?: string } = {},
): Promise<EventEnvelope> {
  const settingId = options.settingId ?? randomUUID();
  const event = createEvent(settingsChangedV1, {
    source: '/services/auth',
    organization,
    subject: settingId,
    ...(options.time ? { time: options.time } : {}),
    ...(options.id ? { id: options.id } : {}),
    data: {
      _id: settingId,
      organization,
      ref: 'organization',
      refId: organization,
      settings,
      unsubscribed: [],
      unsubscribedAll: false,
      deleted: options.deleted ?? false,
    },
  });
  await service.bus.publish([{ topic: settingsChangedV1.topic, key: settingId, value: JSON.stringify(event) }]);
  return event;
}
