import { randomUUID } from 'node:crypto';
import { createEvent, organizationCreatedV1 } from '@pep/contracts';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, orgA, startBilling, type BillingUnderTest } from '../test/harness.js';

describe('billing without a Stripe key (the sandbox)', () => {
  let service: BillingUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    service = await startBilling('billing-sandbox', await kafkaBrokers(), { stripe: null });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  it('opens a local account with no Stripe customer when an organization signs up', async () => {
    const organization = randomUUID();
    const event = createEvent(organizationCreatedV1, {
      source: '/services/auth',
      organization,
      subject: organization,
      data: { _id: organization, name: 'Sandbox Clinic', active: true },
    });
    await service.bus.publish([{ topic: organizationCreatedV1.topic, key: organization, value: JSON.stringify(event) }]);
    const account = await waitFor(
      async () =>
        (await sql.query('SELECT status, stripe_customer_id FROM billing_account WHERE organization = $1', [organization])).rows[0],
      { timeoutMs: 60_000, message: 'the sandbox account' },
    );
    expect(account).toEqual({ status: 'sandbox', stripe_customer_id: null });
  });

  it('keeps the account’s details locally, a payment method id included, and still refuses card numbers', async () => {
    const headers = await as(orgA);
    const opened = await service.app.inject({
      method: 'POST',
      url: '/api/billing',
      headers,
      payload: { billingEmail: 'ap@clinic.example' },
    });
    expect(opened.json()).toMatchObject({ status: 'sandbox', stripeCustomerId: null, billingEmail: 'ap@clinic.example' });
    const changed = await service.app.inject({
      method: 'PUT',
      url: '/api/billing',
      headers,
      payload: { defaultPaymentMethod: 'pm_card_visa' },
    });
    expect(changed.json()).toMatchObject({ status: 'sandbox', defaultPaymentMethod: 'pm_card_visa' });
    const card = await service.app.inject({ method: 'PUT', url: '/api/billing', headers, payload: { billingEmail: '4111111111111111' } });
    expect(card.statusCode).toBe(400);
    expect(card.json().errors).toEqual([{ field: 'body.billingEmail', message: 'looks like a card number' }]);
  });
});
