import { createEvent, organizationDeletedV1 } from '@pep/contracts';
import { createLogger } from '@pep/service-kit';
import { kafkaBrokers, waitFor } from '@pep/testing';
import { KafkaBus } from '@pep/bus';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';

describe('scheduling service: a deleted organization can neither write nor read', () => {
  let service: SchedulingUnderTest;
  let auth: KafkaBus;
  let sql: pg.Client;

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    service = await startScheduling('revoked-organization', brokers);
    auth = new KafkaBus({
      brokers,
      clientId: 'test-auth',
      topicPrefix: service.topicPrefix,
      logger: createLogger({ service: 'auth', level: 'silent' }),
    });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await auth?.close();
    await service?.close();
  });

  it('answers 401 to the deleted organization once auth’s organization.deleted has arrived, and stores nothing', async () => {
    const org = organization();
    const other = organization();
    const create = async (caller = org.admin) =>
      service.app.inject({
        method: 'POST',
        url: '/api/providers',
        headers: await as(caller),
        payload: { firstname: 'Grace', lastname: 'Hopper' },
      });
    expect((await create()).statusCode).toBe(200);

    const deleted = createEvent(organizationDeletedV1, {
      source: '/services/auth',
      organization: org.id,
      subject: org.id,
      data: { _id: org.id },
    });
    await auth.publish([{ topic: organizationDeletedV1.topic, key: org.id, value: JSON.stringify(deleted) }]);
    await waitFor(async () => (await sql.query('SELECT 1 FROM inbox WHERE event_id = $1', [deleted.id])).rowCount === 1, {
      timeoutMs: 20_000,
    });

    const refused = await create();
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect((await service.app.inject({ url: '/api/providers', headers: await as(org.admin) })).statusCode).toBe(401);
    expect((await sql.query('SELECT count(*)::int AS n FROM provider WHERE organization = $1', [org.id])).rows[0].n).toBe(1);
    expect((await create(other.admin)).statusCode).toBe(200);
  });
});
