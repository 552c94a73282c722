import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appointmentTypeCreatedV1, createEvent, facilityCreatedV1, providerCreatedV1, type EventDefinition } from '@pep/contracts';
import { startServiceUnderTest, TEST_INTERNAL_SECRET, type ServiceUnderTest } from '@pep/db/testing';
import { signIdentity, type Logger, type ServiceApp } from '@pep/service-kit';
import { waitFor } from '@pep/testing';
import { decodeJwt } from 'jose';
import pg from 'pg';
import type { z } from 'zod';
import { buildApp, type AuthAppDeps } from '../src/app.js';
import { migrationsDir } from '../src/migrations.js';

export const SECRET = TEST_INTERNAL_SECRET;
export const SIGNING_SECRET = 'test-signing-key-secret-0123456789abcdef';
export const PUBLIC_URL = 'https://app.example.test';

/** A clock tests can move forward. */
export interface TestClock {
  now: () => Date;
  advance(ms: number): void;
}

/** An auth service on its own fresh Postgres database and topic prefix, with a clock tests move and a mail folder. */
export interface AuthUnderTest extends ServiceUnderTest<ServiceApp> {
  clock: TestClock;
  mailDir: string;
}

/** Options of {@link startAuth}. */
export interface StartOptions {
  mailer?: AuthAppDeps['mailer'];
  logger?: Logger;
  accessTokenTtlSeconds?: number;
  zendeskSharedSecret?: string;
  /** Scheduling's base URL (default {@link UNREACHABLE}: a provider or facility auth has not heard of answers 503). */
  schedulingUrl?: string;
}

/** A base URL nothing listens at: an owner that cannot be asked. */
export const UNREACHABLE = 'http://127.0.0.1:1';

export async function startAuth(label: string, brokers: string[], options: StartOptions = {}): Promise<AuthUnderTest> {
  const mailDir = await mkdtemp(join(tmpdir(), 'auth-mail-'));
  let offset = 0;
  const clock: TestClock = { now: () => new Date(Date.now() + offset), advance: (ms) => (offset += ms) };
  const service = await startServiceUnderTest({
    service: 'auth',
    label,
    brokers,
    migrationsDir,
    ...(options.logger ? { logger: options.logger } : {}),
    build: (deps) =>
      buildApp({
        ...deps,
        signingKeySecret: SIGNING_SECRET,
        publicUrl: PUBLIC_URL,
        mailer: options.mailer ?? { from: 'auth@example.test', directory: mailDir },
        clock: clock.now,
        schedulingUrl: options.schedulingUrl ?? UNREACHABLE,
        ownerLookupTimeoutMs: 1_000,
        ...(options.accessTokenTtlSeconds !== undefined ? { accessTokenTtlSeconds: options.accessTokenTtlSeconds } : {}),
        ...(options.zendeskSharedSecret !== undefined ? { zendeskSharedSecret: options.zendeskSharedSecret } : {}),
      }),
  }).catch(async (error: unknown) => {
    await rm(mailDir, { recursive: true, force: true });
    throw error;
  });
  service.onClose(() => rm(mailDir, { recursive: true, force: true }));
  return Object.assign(service, { clock, mailDir });
}

/** A record of another service as it announces it on the bus (key = subject). */
function announced<TSchema extends z.ZodType>(
  definition: EventDefinition<string, TSchema>,
  organization: string,
  subject: string,
  data: z.input<TSchema>,
) {
  const event = createEvent(definition, { source: '/services/scheduling', organization, subject, data });
  return { topic: definition.topic, key: subject, value: JSON.stringify(event) };
}

/**
 * Publishes on the service's bus, trying again while the broker is still electing leaders for topics the service's
 * consumers created a moment ago (auth starts them in the background).
 */
export async function publishSoon(service: AuthUnderTest, records: Array<{ topic: string; key: string; value: string }>): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await service.bus.publish(records);
    } catch (error) {
      if (attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/**
 * A provider, a facility and an appointment type of the organization, announced on the bus as scheduling announces
 * them; resolves once auth's read model holds all three.
 */
export async function schedulingCatalog(service: AuthUnderTest, organization: string) {
  const ids = { provider: randomUUID(), facility: randomUUID(), appointmentType: randomUUID() };
  const none = { alternativeName: null, phonetic: null };
  const place = { address: null, city: null, state: null, postcode: null, country: null, phone: null };
  await publishSoon(service, [
    announced(providerCreatedV1, organization, ids.provider, {
      _id: ids.provider,
      name: 'Grace Hopper',
      firstname: 'Grace',
      lastname: 'Hopper',
      ...none,
      schedulable: true,
      visible: true,
    }),
    announced(facilityCreatedV1, organization, ids.facility, {
      _id: ids.facility,
      name: 'Main Street Clinic',
      ...none,
      ...place,
      timeZone: 'America/New_York',
      visible: true,
    }),
    announced(appointmentTypeCreatedV1, organization, ids.appointmentType, {
      _id: ids.appointmentType,
      name: 'Check-up',
      alternativeName: null,
      duration: 30,
      visible: true,
    }),
  ]);
  const sql = new pg.Client({ connectionString: service.databaseUrl });
  await sql.connect();
  try {
    await waitFor(
      async () => (await sql.query('SELECT 1 FROM scheduling_record WHERE id = ANY($1::uuid[])', [Object.values(ids)])).rows.length === 3,
      {
        timeoutMs: 30_000,
        message: 'scheduling records kept',
      },
    );
  } finally {
    await sql.end();
  }
  return ids;
}

/** Headers the gateway would send for a caller holding this access token: the signed identity, plus the token itself. */
export async function bearer(token: string): Promise<Record<string, string>> {
  const claims = decodeJwt(token);
  const identity = { organization: String(claims['org']), user: String(claims.sub), roles: claims['roles'] as string[] };
  return { 'x-internal-identity': await signIdentity(SECRET, identity), authorization: `Bearer ${token}` };
}

let counter = 0;

/** A unique signup body. */
export function newSignup(overrides: Record<string, unknown> = {}) {
  counter += 1;
  const tag = `${Date.now().toString(36)}${counter}`;
  return {
    email: `owner-${tag}@clinic.example`,
    password: 'correct horse battery staple',
    firstname: 'Olivia',
    lastname: 'Owner',
    organizationName: `Clinic ${tag}`,
    ...overrides,
  };
}

/** Signs up an organization and answers the signup response. */
export async function signup(app: ServiceApp, overrides: Record<string, unknown> = {}) {
  const body = newSignup(overrides);
  // Each signup from its own address, so files that set up many organizations stay under the per-address signup limit.
  const address = `198.18.${Math.floor(counter / 250) % 256}.${(counter % 250) + 1}`;
  const response = await app.inject({ method: 'POST', url: '/api/users/signup', payload: body, headers: { 'x-forwarded-for': address } });
  if (response.statusCode !== 200) throw new Error(`signup failed: ${response.statusCode} ${response.body}`);
  return { ...(response.json() as SignupResult), password: body.password, email: body.email };
}

/** What signup answers. */
export interface SignupResult {
  token: string;
  refreshToken: string;
  expiresAt: string;
  user: { _id: string; email: string; organization: string; roles: string[] } & Record<string, unknown>;
  organization: { _id: string; name: string } & Record<string, unknown>;
}
