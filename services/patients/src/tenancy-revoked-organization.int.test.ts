import { KafkaBus } from '@pep/bus';
import { createEvent, organizationCreatedV1, organizationDeletedV1, organizationUpdatedV1, type EventEnvelope } from '@pep/contracts';
import { createLogger, type Identity } from '@pep/service-kit';
import { kafkaBrokers, waitFor } from '@pep/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, connect, createPatient } from '../test/fixtures.js';
import { startPatients, type PatientsUnderTest } from '../test/harness.js';

const staffOf = (organization: string): Identity => ({ organization, user: crypto.randomUUID(), roles: ['admin'] });

describe('patients service: an organization auth deleted or suspended can neither write nor read', () => {
  let service: PatientsUnderTest;
  let auth: KafkaBus;
  let sql: pg.Client;

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    service = await startPatients('revoked-organization', brokers);
    // Auth's events, published on the service's topics as auth's outbox relay would.
    auth = new KafkaBus({
      brokers,
      clientId: 'test-auth',
      topicPrefix: service.topicPrefix,
      logger: createLogger({ service: 'auth', level: 'silent' }),
    });
    sql = await connect(service);
  });
  afterAll(async () => {
    await sql?.end();
    await auth?.close();
    await service?.close();
  });

  const publish = async (event: EventEnvelope) => {
    await auth.publish([{ topic: organizationCreatedV1.topic, key: event.subject, value: JSON.stringify(event) }]);
    await waitFor(async () => (await sql.query('SELECT 1 FROM inbox WHERE event_id = $1', [event.id])).rowCount === 1, {
      timeoutMs: 20_000,
    });
  };
  const organizationEvent = (
    definition: typeof organizationCreatedV1 | typeof organizationUpdatedV1 | typeof organizationDeletedV1,
    id: string,
    data: object,
  ) =>
    createEvent(definition as typeof organizationCreatedV1, {
      source: '/services/auth',
      organization: id,
      subject: id,
      data: { _id: id, ...data } as never,
    }) as EventEnvelope;
  const patientCount = async (organization: string) =>
    (await sql.query('SELECT count(*)::int AS n FROM patient WHERE organization = $1', [organization])).rows[0].n as number;

  it('refuses a deleted organization’s write with 401 and stores nothing, and refuses its reads', async () => {
    const organization = crypto.randomUUID();
    const staff = staffOf(organization);
    await publish(organizationEvent(organizationCreatedV1, organization, { name: 'Clinic', active: true }));
    const kept = await createPatient(service.app, staff, { firstname: 'Alice', lastname: 'Aardvark' });

    await publish(organizationEvent(organizationDeletedV1, organization, {}));
    const write = await call(service.app, staff, 'POST', '/api/patients', { firstname: 'Gina', lastname: 'Ghost' });
    expect(write.status).toBe(401);
    expect(write.headers['content-type']).toContain('application/problem+json');
    expect(write.body).toMatchObject({ status: 401, type: expect.stringContaining('organization-unavailable') });
    expect(await patientCount(organization)).toBe(1);
    expect((await call(service.app, staff, 'GET', `/api/patients/${kept._id}`)).status).toBe(401);
    expect((await call(service.app, staff, 'PUT', `/api/patients/${kept._id}`, { firstname: 'Changed' })).status).toBe(401);

    // A later update (or a redelivered one) cannot bring a deleted organization back.
    await publish(organizationEvent(organizationUpdatedV1, organization, { name: 'Clinic', active: true, changed: ['active'] }));
    expect((await call(service.app, staff, 'POST', '/api/patients', { firstname: 'Gina', lastname: 'Ghost' })).status).toBe(401);
  });

  it('refuses a suspended organization until auth reactivates it; other organizations are untouched', async () => {
    const organization = crypto.randomUUID();
    const other = crypto.randomUUID();
    const staff = staffOf(organization);
    await publish(organizationEvent(organizationUpdatedV1, organization, { name: 'Clinic', active: false, changed: ['active'] }));
    expect((await call(service.app, staff, 'POST', '/api/patients', { firstname: 'Sam', lastname: 'Suspended' })).status).toBe(401);
    expect(await patientCount(organization)).toBe(0);
    expect((await call(service.app, staffOf(other), 'POST', '/api/patients', { firstname: 'Olga', lastname: 'Other' })).status).toBe(200);

    await publish(organizationEvent(organizationUpdatedV1, organization, { name: 'Clinic', active: true, changed: ['active'] }));
    expect((await call(service.app, staff, 'POST', '/api/patients', { firstname: 'Sam', lastname: 'Suspended' })).status).toBe(200);
  });
});
