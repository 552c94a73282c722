import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createEvent, organizationCreatedV1 } from '@pep/contracts';
import { assertNoSchemaDrift } from '@pep/schema-drift';
import type { Identity } from '@pep/service-kit';
import { kafkaBrokers, startStripeFake, waitFor, type StripeFake } from '@pep/testing';
import pg from 'pg';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, orgA, orgB, startBilling, type BillingUnderTest } from '../test/harness.js';
import { customerIdempotencyKey } from './account.service.js';

describe('billing accounts and their Stripe customers, against real Postgres, Kafka and the Stripe fake', () => {
  let fake: StripeFake;
  let service: BillingUnderTest;
  let sql: pg.Client;
  const logLines: string[] = [];

  beforeAll(async () => {
    fake = await startStripeFake();
    const logTo = new PassThrough();
    logTo.on('data', (chunk: Buffer) => logLines.push(chunk.toString('utf8')));
    service = await startBilling('billing-accounts', await kafkaBrokers(), { stripe: fake, logTo });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
    await fake?.close();
  });

  const call = async (identity: Identity, method: 'GET' | 'POST' | 'PUT', payload?: unknown) => {
    const response = await service.app.inject({
      method,
      url: '/api/billing',
      headers: await as(identity),
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
    return { status: response.statusCode, body: response.json(), type: response.headers['content-type'] };
  };
  const accountRow = async (organization: string) =>
    (await sql.query('SELECT * FROM billing_account WHERE organization = $1', [organization])).rows[0] as
      Record<string, unknown> | undefined;
  const customersOf = (organization: string) =>
    [...fake.customers.values()].filter((c) => (c['metadata'] as Record<string, string>)['organization'] === organization);
  const publishCreated = async (organization: string, name: string, id?: string) => {
    const event = createEvent(organizationCreatedV1, {
      source: '/services/auth',
      organization,
      subject: organization,
      data: { _id: organization, name, active: true },
      ...(id ? { id } : {}),
    });
    await service.bus.publish([{ topic: organizationCreatedV1.topic, key: organization, value: JSON.stringify(event) }]);
    return event;
  };

  it('has no drift between its migrations and schema.prisma', async () => {
    await assertNoSchemaDrift({ schemaPath: fileURLToPath(new URL('../prisma/schema.prisma', import.meta.url)), db: service.database });
  });

  it('opens the account and its Stripe customer when an organization signs up, once however often the event comes', async () => {
    const organization = randomUUID();
    const event = await publishCreated(organization, 'Lakeside Clinic');
    // Delivered again (the same event), and announced again under another id (a producer's retry): one customer still.
    await publishCreated(organization, 'Lakeside Clinic', event.id);
    await publishCreated(organization, 'Lakeside Clinic');
    await waitFor(async () => (await accountRow(organization))?.['stripe_customer_id'], { timeoutMs: 60_000, message: 'the account' });
    await waitFor(
      async () => Number((await sql.query("SELECT count(*) AS n FROM inbox WHERE consumer = 'billing.organizations'")).rows[0].n) >= 2,
      { timeoutMs: 30_000, message: 'both deliveries handled' },
    );
    const customers = customersOf(organization);
    expect(customers).toHaveLength(1);
    expect(customers[0]).toMatchObject({ object: 'customer', name: 'Lakeside Clinic' });
    const account = await accountRow(organization);
    expect(account).toMatchObject({ stripe_customer_id: customers[0]!.id, status: 'active' });
    const creations = fake.requests.filter(
      (r) => r.method === 'POST' && r.path === '/v1/customers' && r.idempotencyKey === customerIdempotencyKey(organization),
    );
    expect(creations.length).toBeGreaterThanOrEqual(1);
    expect(creations.filter((r) => !r.replayed)).toHaveLength(1);
  });

  it('retries a sign-up whose Stripe call failed, and reuses the customer an earlier attempt created', async () => {
    const organization = randomUUID();
    // An earlier attempt created the customer at Stripe, then its transaction rolled back (nothing stored here).
    const stripe = new Stripe(fake.secretKey, { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
    const earlier = await stripe.customers.create({ metadata: { organization } }, { idempotencyKey: customerIdempotencyKey(organization) });
    fake.failNext.push({ status: 500, type: 'api_error', message: 'Stripe is having a bad day.' });
    await publishCreated(organization, 'Hillside Clinic');
    await waitFor(async () => (await accountRow(organization))?.['stripe_customer_id'], { timeoutMs: 60_000, message: 'the account' });
    expect((await accountRow(organization))?.['stripe_customer_id']).toBe(earlier.id);
    expect(customersOf(organization)).toHaveLength(1);
    expect(fake.failNext).toHaveLength(0);
  });

  it('finds the customer an attempt made before Stripe forgot its idempotency key, and creates no second one', async () => {
    const organization = randomUUID();
    const stripe = new Stripe(fake.secretKey, { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
    const earlier = await stripe.customers.create({ metadata: { organization } }, { idempotencyKey: customerIdempotencyKey(organization) });
    // More than 24 hours later (the event dead-lettered, then replayed): Stripe keeps the key no longer.
    fake.expireIdempotencyKeys();
    await publishCreated(organization, 'Riverside Clinic');
    await waitFor(async () => (await accountRow(organization))?.['stripe_customer_id'], { timeoutMs: 60_000, message: 'the account' });
    expect((await accountRow(organization))?.['stripe_customer_id']).toBe(earlier.id);
    expect(customersOf(organization)).toHaveLength(1);
    expect(customersOf(organization)[0]).toMatchObject({ name: 'Riverside Clinic' });
    const searches = fake.requests.filter((r) => r.path === '/v1/customers/search' && String(r.params['query']).includes(organization));
    expect(searches.map((r) => r.params['query'])).toEqual([`metadata['organization']:'${organization}'`]);
  });

  it('meets a customer made moments ago, which Stripe’s search does not show yet, through the idempotency key', async () => {
    const newcomer: Identity = { organization: randomUUID(), user: 'user-s', roles: ['admin'] };
    const stripe = new Stripe(fake.secretKey, { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
    fake.searchDelayMs = 60_000;
    try {
      const earlier = await stripe.customers.create(
        { metadata: { organization: newcomer.organization } },
        { idempotencyKey: customerIdempotencyKey(newcomer.organization) },
      );
      const opened = await call(newcomer, 'POST', {});
      expect(opened.status).toBe(200);
      expect(opened.body.stripeCustomerId).toBe(earlier.id);
      expect(customersOf(newcomer.organization)).toHaveLength(1);
      const creations = fake.requests.filter(
        (r) => r.path === '/v1/customers' && r.idempotencyKey === customerIdempotencyKey(newcomer.organization),
      );
      expect(creations.map((r) => r.replayed)).toEqual([false, true]);
    } finally {
      fake.searchDelayMs = 0;
    }
  });

  it('answers 404 before an account exists, opens one with POST, and refuses a second POST with 409', async () => {
    expect((await call(orgA, 'GET')).status).toBe(404);
    const opened = await call(orgA, 'POST', { billingEmail: 'Billing@Example.com' });
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({ organization: orgA.organization, billingEmail: 'billing@example.com', status: 'active' });
    expect(opened.body.stripeCustomerId).toMatch(/^cus_/);
    expect(fake.customers.get(opened.body.stripeCustomerId)).toMatchObject({ email: 'billing@example.com' });
    expect((await call(orgA, 'GET')).body).toEqual(opened.body);
    const again = await call(orgA, 'POST', {});
    expect(again.status).toBe(409);
    expect(again.type).toMatch(/application\/problem\+json/);
  });

  it('changes the account on the Stripe customer too: e-mail, address, tax id and default payment method', async () => {
    const { body: opened } = await call(orgB, 'POST', {});
    const pm = fake.addPaymentMethod();
    const address = { line1: '1 Main St', city: 'Boston', state: 'MA', postalCode: '02110', country: 'US' };
    const changed = await call(orgB, 'PUT', {
      billingEmail: 'ap@clinic.example',
      address,
      taxId: { type: 'us_ein', value: '12-3456789' },
      defaultPaymentMethod: pm,
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      billingEmail: 'ap@clinic.example',
      address,
      taxId: { type: 'us_ein', value: '12-3456789' },
      defaultPaymentMethod: pm,
    });
    const customer = fake.customers.get(opened.stripeCustomerId)!;
    expect(customer).toMatchObject({
      email: 'ap@clinic.example',
      address: { line1: '1 Main St', city: 'Boston', state: 'MA', postal_code: '02110', country: 'US' },
      invoice_settings: { default_payment_method: pm },
    });
    expect(fake.paymentMethods.get(pm)?.['customer']).toBe(opened.stripeCustomerId);
    const taxIdCreations = fake.requests.filter((r) => r.path === `/v1/customers/${opened.stripeCustomerId}/tax_ids`);
    expect(taxIdCreations.map((r) => r.params)).toEqual([{ type: 'us_ein', value: '12-3456789' }]);

    // Clearing the e-mail clears it at Stripe; fields left out stay.
    const cleared = await call(orgB, 'PUT', { billingEmail: null });
    expect(cleared.body).toMatchObject({ billingEmail: null, address, defaultPaymentMethod: pm });
    expect(customer['email']).toBeNull();
  });

  it('refuses bad input with problem+json naming the field, and stores nothing', async () => {
    const before = await accountRow(orgA.organization);
    const requestsBefore = fake.requests.length;
    const badEmail = await call(orgA, 'PUT', { billingEmail: 'not-an-email' });
    expect(badEmail.status).toBe(400);
    expect(badEmail.type).toMatch(/application\/problem\+json/);
    expect(badEmail.body.errors.map((e: { field: string }) => e.field)).toContain('body.billingEmail');
    const notPm = await call(orgA, 'PUT', { defaultPaymentMethod: 'card_123' });
    expect(notPm.body.errors.map((e: { field: string }) => e.field)).toContain('body.defaultPaymentMethod');
    expect(fake.requests.length).toBe(requestsBefore);

    // A well-formed payment method id Stripe does not know: Stripe refuses it, nothing is stored.
    const unknownPm = await call(orgA, 'PUT', { defaultPaymentMethod: 'pm_doesnotexist', billingEmail: 'x@y.example' });
    expect(unknownPm.status).toBe(400);
    expect(unknownPm.body.errors).toEqual([{ field: 'body.defaultPaymentMethod', message: expect.stringContaining('resource_missing') }]);
    expect(await accountRow(orgA.organization)).toEqual(before);
  });

  it('refuses a body carrying a card number, in any field, without storing or logging it', async () => {
    const before = await accountRow(orgA.organization);
    const requestsBefore = fake.requests.length;
    const card = '4242 4242 4242 4242';
    const refused = await call(orgA, 'PUT', { address: { line1: card, city: 'Boston', postalCode: '02110', country: 'US' } });
    expect(refused.status).toBe(400);
    expect(refused.type).toMatch(/application\/problem\+json/);
    expect(refused.body.errors).toEqual([{ field: 'body.address.line1', message: 'looks like a card number' }]);
    expect(JSON.stringify(refused.body)).not.toContain('4242');
    // Where no field is expected at all, and as a bare number: still refused, and named.
    const unknownField = await call(orgA, 'POST', { cardNumber: 5555555555554444 });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.errors).toEqual([{ field: 'body.cardNumber', message: 'looks like a card number' }]);
    expect(fake.requests.length).toBe(requestsBefore);
    expect(await accountRow(orgA.organization)).toEqual(before);
    const logged = logLines.join('');
    expect(logged).toContain('"statusCode":400');
    expect(logged.replace(/\D/g, '')).not.toContain('4242424242424242');
    expect(logged.replace(/\D/g, '')).not.toContain('5555555555554444');
  });

  it('opens no account when Stripe refuses a field of the POST, and opens it with the same customer on retry', async () => {
    const newcomer: Identity = { organization: randomUUID(), user: 'user-c', roles: ['admin'] };
    const refused = await call(newcomer, 'POST', { defaultPaymentMethod: 'pm_doesnotexist' });
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0].field).toBe('body.defaultPaymentMethod');
    expect(await accountRow(newcomer.organization)).toBeUndefined();
    const pm = fake.addPaymentMethod();
    const opened = await call(newcomer, 'POST', { defaultPaymentMethod: pm, address: null });
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({ defaultPaymentMethod: pm, address: null });
    expect(customersOf(newcomer.organization)).toHaveLength(1);
    expect(opened.body.stripeCustomerId).toBe(customersOf(newcomer.organization)[0]!.id);
  });

  it('answers 502 when Stripe cannot take the change, and changes nothing', async () => {
    const before = await accountRow(orgA.organization);
    fake.failNext.push({ status: 500, type: 'api_error', message: 'Stripe is having a bad day.' });
    const failed = await call(orgA, 'PUT', { billingEmail: 'new@clinic.example' });
    expect(failed.status).toBe(502);
    expect(failed.body.type).toBe('/problems/stripe-unavailable');
    expect(await accountRow(orgA.organization)).toEqual(before);
  });

  it('lets administrators change the account and managers read it; staff neither', async () => {
    const manager = { ...orgA, roles: ['manager'] };
    const staff = { ...orgA, roles: ['staff'] };
    expect((await call(manager, 'GET')).status).toBe(200);
    expect((await call(manager, 'PUT', { billingEmail: 'm@clinic.example' })).status).toBe(403);
    expect((await call(staff, 'GET')).status).toBe(403);
    const anonymous = await service.app.inject({ method: 'GET', url: '/api/billing' });
    expect(anonymous.statusCode).toBe(401);
  });
});
