import { parseEvent, type EventEnvelope } from '@pep/contracts';
import type { Identity, ServiceApp } from '@pep/service-kit';
import { waitFor } from '@pep/testing';
import pg from 'pg';
import { as, type PatientsUnderTest } from './harness.js';

/** A JSON call to the service as a member of an organization. */
export async function call(app: ServiceApp, identity: Identity, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) {
  const response = await app.inject({
    method,
    url,
    headers: await as(identity),
    ...(payload !== undefined ? { payload: payload as object } : {}),
  });
  return { status: response.statusCode, body: response.body ? response.json() : undefined, headers: response.headers };
}

/** Creates a patient and answers its record; fails the test when refused. */
export async function createPatient(app: ServiceApp, identity: Identity, payload: Record<string, unknown>) {
  const response = await call(app, identity, 'POST', '/api/patients', payload);
  if (response.status !== 200) throw new Error(`create answered ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body as { _id: string } & Record<string, unknown>;
}

/** Every event the service publishes on its patient topic, as a separate consumer group sees them. */
export async function observeEvents(service: PatientsUnderTest, groupId: string) {
  const seen: EventEnvelope[] = [];
  const subscription = await service.bus.subscribe({
    groupId,
    topics: ['patients.patient'],
    handler: async (message) => {
      seen.push(parseEvent(message.value));
    },
  });
  return {
    seen,
    stop: () => subscription.stop(),
    /** Waits for an event of this type about this subject and answers it. */
    async next(type: string, subject: string, predicate: (event: EventEnvelope) => boolean = () => true): Promise<EventEnvelope> {
      let found: EventEnvelope | undefined;
      await waitFor(
        async () => {
          found = seen.find((event) => event.type === type && event.subject === subject && predicate(event));
          return found !== undefined;
        },
        { timeoutMs: 30_000, message: `${type} for ${subject}` },
      );
      return found!;
    },
  };
}

/** A connection to the service's database for checking what was (not) stored. */
export async function connect(service: PatientsUnderTest): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: service.databaseUrl });
  await client.connect();
  return client;
}
