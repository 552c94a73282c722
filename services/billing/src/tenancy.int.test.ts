import { randomUUID } from 'node:crypto';
import { kafkaBrokers } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, orgA, orgB, platformAdmin, startBilling, type BillingUnderTest } from '../test/harness.js';

/** Every billing route that names an organization by id, with a reader of that organization allowed to call it. */
const ID_ROUTES = ['/api/billing/charges/last-status/:id', '/api/billing/:id/subscriptions'];

describe('billing: one organization never reaches another’s records', () => {
  let service: BillingUnderTest;

  beforeAll(async () => {
    service = await startBilling('billing-tenancy', await kafkaBrokers(), { stripe: null });
    for (const identity of [orgA, orgB]) {
      const headers = await as(identity);
      await service.app.inject({ method: 'POST', url: '/api/billing', headers, payload: {} });
      await service.app.inject({ method: 'POST', url: '/api/billing/subscriptions', headers, payload: { plan: 'standard' } });
    }
  });
  afterAll(async () => service?.close());

  const get = async (identity: typeof orgA, route: string, organization: string) => {
    const response = await service.app.inject({ method: 'GET', url: route.replace(':id', organization), headers: await as(identity) });
    return { status: response.statusCode, body: response.body, type: response.headers['content-type'] };
  };

  it.each(ID_ROUTES)('%s answers the own organization, 404 for another, and any to a platform admin', async (route) => {
    expect((await get(orgA, route, orgA.organization)).status).toBe(200);
    for (const roles of [['admin'], ['manager']]) {
      const across = await get({ ...orgA, roles }, route, orgB.organization);
      expect(across.status).toBe(404);
      expect(across.type).toMatch(/application\/problem\+json/);
    }
    // A platform admin may name any organization billing knows; one it does not answers 404 like another's.
    expect((await get(platformAdmin, route, orgB.organization)).status).toBe(200);
    expect((await get(platformAdmin, route, randomUUID())).status).toBe(404);
  });

  it('answers 404 alike for another organization and one that does not exist, so ids cannot be probed', async () => {
    for (const route of ID_ROUTES) {
      const other = await get(orgA, route, orgB.organization);
      const unknown = await get(orgA, route, randomUUID());
      expect([other.status, unknown.status]).toEqual([404, 404]);
      expect(JSON.parse(other.body).title).toBe(JSON.parse(unknown.body).title);
    }
  });
});
