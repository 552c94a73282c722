import { organizationDeletedV1 } from '@pep/contracts';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, organization, publish, startMessaging, type MessagingUnderTest } from '../test/harness.js';

describe('messaging service: a deleted organization can neither write nor read', () => {
  let service: MessagingUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    service = await startMessaging('revoked-organization', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  it('answers 401 to the deleted organization once auth’s organization.deleted has arrived, and stores nothing', async () => {
    const org = organization();
    const other = organization();
    const create = async (caller = org.admin, key = 'reminder') =>
      service.app.inject({
        method: 'POST',
        url: '/api/messageTemplates',
        headers: await as(caller),
        payload: { key, text: 'Hello {{patient.firstname}}' },
      });
    expect((await create()).statusCode).toBe(200);

    const deleted = await publish(service.bus, organizationDeletedV1, org.id, org.id, { _id: org.id }, '/services/auth');
    await waitFor(async () => (await sql.query('SELECT 1 FROM inbox WHERE event_id = $1', [deleted.id])).rowCount === 1, {
      timeoutMs: 20_000,
    });

    const refused = await create(org.admin, 'welcome');
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect((await service.app.inject({ url: '/api/messageTemplates', headers: await as(org.admin) })).statusCode).toBe(401);
    expect((await sql.query('SELECT count(*)::int AS n FROM message_template WHERE organization = $1', [org.id])).rows[0].n).toBe(1);
    expect((await create(other.admin)).statusCode).toBe(200);
  });
});
