import { signStripeWebhook, startStripeFake, stripeEvent, type StripeFake } from '@pep/testing';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStripeClient } from './stripe-client.js';

const secret = 'whsec_unit_test_secret';

describe("the Stripe fake's webhook signatures, checked by the stripe SDK", () => {
  const event = stripeEvent('charge.succeeded', { id: 'ch_1', object: 'charge', amount: 1000 });
  const payload = JSON.stringify(event);

  it('signs exactly as Stripe does: constructEvent accepts it and gives the event back', () => {
    const header = signStripeWebhook(payload, secret);
    expect(Stripe.webhooks.constructEvent(payload, header, secret)).toEqual(event);
    // The SDK's own test header is the same string for the same timestamp.
    const timestamp = Math.floor(Date.now() / 1000);
    expect(signStripeWebhook(payload, secret, timestamp)).toBe(Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp }));
  });

  it('is refused by the SDK with another secret, another body, or a timestamp older than the tolerance', () => {
    const header = signStripeWebhook(payload, secret);
    expect(() => Stripe.webhooks.constructEvent(payload, header, 'whsec_other')).toThrow(Stripe.errors.StripeSignatureVerificationError);
    expect(() => Stripe.webhooks.constructEvent(payload.replace('1000', '1'), header, secret)).toThrow(
      Stripe.errors.StripeSignatureVerificationError,
    );
    const stale = signStripeWebhook(payload, secret, Math.floor(Date.now() / 1000) - 301);
    expect(() => Stripe.webhooks.constructEvent(payload, stale, secret, 300)).toThrow(/tolerance/);
  });
});

describe('the Stripe fake, called by the stripe SDK', () => {
  let fake: StripeFake;
  let stripe: Stripe;

  beforeAll(async () => {
    fake = await startStripeFake();
    stripe = createStripeClient({ secretKey: fake.secretKey, apiBase: fake.url, maxNetworkRetries: 0 })!;
  });
  afterAll(async () => fake?.close());

  it('creates customers from form-encoded bodies, and replays an Idempotency-Key instead of creating twice', async () => {
    const first = await stripe.customers.create({ metadata: { organization: 'org-1' }, email: 'a@b.co' }, { idempotencyKey: 'k1' });
    const again = await stripe.customers.create({ metadata: { organization: 'org-1' }, email: 'a@b.co' }, { idempotencyKey: 'k1' });
    expect(first.id).toMatch(/^cus_[A-Za-z0-9]{24}$/);
    expect(first).toMatchObject({ object: 'customer', email: 'a@b.co', metadata: { organization: 'org-1' } });
    expect(again.id).toBe(first.id);
    expect(fake.customers.size).toBe(1);
    expect(fake.requests.at(-1)).toMatchObject({ idempotencyKey: 'k1', replayed: true });
    await expect(stripe.customers.create({ email: 'other@b.co' }, { idempotencyKey: 'k1' })).rejects.toMatchObject({
      type: 'StripeIdempotencyError',
    });
  });

  it("answers errors in Stripe's shape, which the SDK turns into its typed errors", async () => {
    await expect(stripe.customers.retrieve('cus_missing')).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      code: 'resource_missing',
      statusCode: 404,
    });
    fake.failNext.push({ status: 500, type: 'api_error', message: 'Stripe is having a bad day.' });
    await expect(stripe.customers.create({})).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);
    const wrongKey = createStripeClient({ secretKey: 'sk_test_wrong', apiBase: fake.url, maxNetworkRetries: 0 })!;
    await expect(wrongKey.customers.create({})).rejects.toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
  });

  it("searches customers by metadata in Stripe's search result shape, and refuses a query it does not support", async () => {
    const organization = `org-${Date.now()}`;
    const customer = await stripe.customers.create({ metadata: { organization } });
    await stripe.customers.create({ metadata: { organization: `${organization}-other` } });
    const found = await stripe.customers.search({ query: `metadata['organization']:'${organization}'` });
    expect(found).toMatchObject({ object: 'search_result', has_more: false, next_page: null, url: '/v1/customers/search' });
    expect(found.data.map((c) => c.id)).toEqual([customer.id]);
    expect((await stripe.customers.search({ query: `metadata["organization"]:"${organization}"` })).data).toHaveLength(1);
    await expect(stripe.customers.search({ query: `email:'a@b.co'` })).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      statusCode: 400,
      param: 'query',
    });
    // Stripe's search index lags behind its writes.
    fake.searchDelayMs = 60_000;
    const fresh = await stripe.customers.create({ metadata: { organization: `${organization}-fresh` } });
    expect((await stripe.customers.search({ query: `metadata['organization']:'${organization}-fresh'` })).data).toEqual([]);
    fake.searchDelayMs = 0;
    expect(fresh.id).toMatch(/^cus_/);
  });

  it('lists subscriptions newest first, without canceled ones unless status=all, and pages with starting_after', async () => {
    const customer = await stripe.customers.create({});
    const first = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_a', quantity: 1 }] });
    const second = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_a', quantity: 2 }] });
    await stripe.subscriptions.cancel(first.id);
    expect((await stripe.subscriptions.list({ customer: customer.id })).data.map((s) => s.id)).toEqual([second.id]);
    const all: string[] = [];
    for await (const subscription of stripe.subscriptions.list({ customer: customer.id, status: 'all', limit: 1 }))
      all.push(subscription.id);
    expect(all).toEqual([second.id, first.id]);
  });

  it('refuses an Idempotency-Key reused with other parameters, as Stripe does', async () => {
    const customer = await stripe.customers.create({});
    const params = { customer: customer.id, items: [{ price: 'price_a', quantity: 1 }] };
    await stripe.subscriptions.create(params, { idempotencyKey: 'sub-key' });
    await expect(
      stripe.subscriptions.create({ ...params, items: [{ price: 'price_a', quantity: 2 }] }, { idempotencyKey: 'sub-key' }),
    ).rejects.toMatchObject({ type: 'StripeIdempotencyError', statusCode: 400, message: expect.stringContaining('same parameters') });
  });

  it('refuses a meter event whose identifier it has, as Stripe answers it (no code or param, not to be retried)', async () => {
    const event = { event_name: 'units', identifier: `id-${Date.now()}`, payload: { stripe_customer_id: 'cus_1', value: '1' } };
    await stripe.billing.meterEvents.create(event);
    const refused = await stripe.billing.meterEvents.create(event).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(refused).toMatchObject({
      statusCode: 400,
      message: expect.stringContaining(`An event already exists with identifier ${event.identifier}.`),
      code: undefined,
      param: undefined,
    });
    expect((refused as Stripe.errors.StripeError).headers?.['stripe-should-retry']).toBe('false');
    expect(fake.meterEvents.size).toBe(1);
  });

  it('attaches a payment method and makes it the default; an unknown one is refused', async () => {
    const customer = await stripe.customers.create({});
    const pm = fake.addPaymentMethod();
    await stripe.paymentMethods.attach(pm, { customer: customer.id });
    const updated = await stripe.customers.update(customer.id, {
      invoice_settings: { default_payment_method: pm },
      address: { line1: '1 Main St', country: 'US' },
    });
    expect(updated.invoice_settings.default_payment_method).toBe(pm);
    expect(updated.address).toMatchObject({ line1: '1 Main St', country: 'US' });
    await expect(stripe.paymentMethods.attach('pm_unknown', { customer: customer.id })).rejects.toMatchObject({ code: 'resource_missing' });
  });
});
