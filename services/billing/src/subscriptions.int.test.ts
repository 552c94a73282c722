import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Subscription as BusSubscription } from '@pep/bus';
import { createEvent, parseEvent, providerCreatedV1, providerDeletedV1, providerUpdatedV1, type EventEnvelope } from '@pep/contracts';
import { assertNoSchemaDrift } from '@pep/schema-drift';
import type { Identity } from '@pep/service-kit';
import { kafkaBrokers, startStripeFake, stripeEvent, waitFor, type StripeFake } from '@pep/testing';
import pg from 'pg';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, orgA, orgB, platformAdmin, signedWebhook, startBilling, type BillingUnderTest } from '../test/harness.js';
import { DEFAULT_PLANS } from './plans.js';
import { subscriptionIdempotencyKey } from './subscription.service.js';

const unix = () => Math.floor(Date.now() / 1000);
const plan = DEFAULT_PLANS[0]!;

/** Publishes one of scheduling's provider events of `organization` as scheduling would; answers the envelope. */
async function publishProvider(
  service: BillingUnderTest,
  organization: string,
  kind: 'created' | 'updated' | 'deleted',
  provider: string,
  schedulable = true,
): Promise<EventEnvelope> {
  const snapshot = {
    _id: provider,
    name: 'Dana Doe',
    firstname: 'Dana',
    lastname: 'Doe',
    alternativeName: null,
    phonetic: null,
    schedulable,
    visible: true,
  };
  const source = '/services/scheduling';
  const event =
    kind === 'created'
      ? createEvent(providerCreatedV1, { source, organization, subject: provider, data: snapshot })
      : kind === 'updated'
        ? createEvent(providerUpdatedV1, { source, organization, subject: provider, data: { ...snapshot, changed: ['schedulable'] } })
        : createEvent(providerDeletedV1, { source, organization, subject: provider, data: { _id: provider } });
  await republish(service, event);
  return event;
}

const republish = (service: BillingUnderTest, event: EventEnvelope) =>
  service.bus.publish([{ topic: providerCreatedV1.topic, key: event.subject!, value: JSON.stringify(event) }]);

describe('subscriptions at Stripe, against real Postgres, Kafka and the Stripe fake', () => {
  let fake: StripeFake;
  let service: BillingUnderTest;
  let sql: pg.Client;
  let observer: BusSubscription;
  const published: EventEnvelope[] = [];

  beforeAll(async () => {
    fake = await startStripeFake();
    service = await startBilling('billing-subscriptions', await kafkaBrokers(), { stripe: fake });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    for (const identity of [orgA, orgB]) {
      await service.app.inject({ method: 'POST', url: '/api/billing', headers: await as(identity), payload: {} });
    }
    observer = await service.bus.subscribe({
      groupId: 'billing-subscriptions-observer',
      topics: ['billing.subscriptions'],
      handler: async (message) => {
        published.push(parseEvent(message.value));
      },
    });
  });
  afterAll(async () => {
    await observer?.stop();
    await sql?.end();
    await service?.close();
    await fake?.close();
  });

  const call = async (identity: Identity, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) => {
    const response = await service.app.inject({
      method,
      url,
      headers: await as(identity),
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
    return { status: response.statusCode, body: response.json(), type: response.headers['content-type'] };
  };
  const activeProviders = async (organization: string) =>
    Number((await sql.query('SELECT count(*) AS n FROM provider WHERE organization = $1 AND active', [organization])).rows[0].n);
  const subscriptionRow = async (organization: string) =>
    (await sql.query('SELECT * FROM subscription WHERE organization = $1 ORDER BY created_at DESC LIMIT 1', [organization])).rows[0] as
      Record<string, unknown> | undefined;
  const stripeSubscription = (id: string) =>
    fake.subscriptions.get(id) as unknown as Record<string, unknown> & { items: { data: Array<Record<string, unknown>> } };

  it('has no drift between its migrations and schema.prisma', async () => {
    await assertNoSchemaDrift({ schemaPath: fileURLToPath(new URL('../prisma/schema.prisma', import.meta.url)), db: service.database });
  });

  it('refuses an unknown plan naming the field, and stores and sends nothing', async () => {
    const requestsBefore = fake.requests.length;
    const unknown = await call(orgA, 'POST', '/api/billing/subscriptions', { plan: 'platinum' });
    expect(unknown.status).toBe(400);
    expect(unknown.type).toMatch(/application\/problem\+json/);
    expect(unknown.body.errors.map((e: { field: string }) => e.field)).toEqual(['body.plan']);
    const missing = await call(orgA, 'POST', '/api/billing/subscriptions', {});
    expect(missing.status).toBe(400);
    expect(missing.body.errors.map((e: { field: string }) => e.field)).toContain('body.plan');
    expect(fake.requests.length).toBe(requestsBefore);
    expect(await subscriptionRow(orgA.organization)).toBeUndefined();
  });

  it('subscribes per active provider with the metered texting price, once, and publishes subscription.changed', async () => {
    const providers = [randomUUID(), randomUUID(), randomUUID()];
    await publishProvider(service, orgA.organization, 'created', providers[0]!);
    await publishProvider(service, orgA.organization, 'created', providers[1]!);
    // Not schedulable: not billed.
    await publishProvider(service, orgA.organization, 'created', providers[2]!, false);
    await waitFor(
      async () =>
        (await activeProviders(orgA.organization)) === 2 &&
        (await sql.query('SELECT 1 FROM provider WHERE id = $1', [providers[2]])).rowCount === 1,
      {
        timeoutMs: 60_000,
        message: 'the providers',
      },
    );

    const subscribed = await call(orgA, 'POST', '/api/billing/subscriptions', { plan: plan.id });
    expect(subscribed.status).toBe(200);
    expect(subscribed.body).toMatchObject({
      organization: orgA.organization,
      plan: plan.id,
      status: 'active',
      quantity: 2,
      cancelAtPeriodEnd: false,
      sandbox: false,
    });
    const atStripe = stripeSubscription(subscribed.body.stripeSubscriptionId);
    expect(atStripe).toMatchObject({ metadata: { organization: orgA.organization, plan: plan.id } });
    expect(atStripe.items.data.map((item) => [(item['price'] as { id: string }).id, item['quantity']])).toEqual([
      [plan.providerPrice, 2],
      [plan.texting!.price, null],
    ]);
    const creation = fake.requests.find((r) => r.method === 'POST' && r.path === '/v1/subscriptions');
    expect(creation?.idempotencyKey).toContain(orgA.organization);
    expect(subscribed.body.currentPeriodEnd).toBe(new Date((atStripe.items.data[0]!['current_period_end'] as number) * 1000).toISOString());

    const again = await call(orgA, 'POST', '/api/billing/subscriptions', { plan: plan.id });
    expect(again.status).toBe(409);
    expect(again.type).toMatch(/application\/problem\+json/);
    expect(fake.subscriptions.size).toBe(1);
    await waitFor(() => published.find((e) => e.subject === subscribed.body._id), { timeoutMs: 30_000, message: 'subscription.changed' });
    expect(published.find((e) => e.subject === subscribed.body._id)).toMatchObject({
      type: 'subscription.changed',
      organization: orgA.organization,
      data: { plan: plan.id, status: 'active', quantity: 2, stripeSubscriptionId: atStripe.id },
    });
  });

  it('keeps the quantity at the active provider count, once per change however often an event comes', async () => {
    const { stripe_subscription_id: id } = (await subscriptionRow(orgA.organization))!;
    const providerItem = () => stripeSubscription(id as string).items.data[0]!;
    const added = await publishProvider(service, orgA.organization, 'created', randomUUID());
    await waitFor(() => providerItem()['quantity'] === 3, { timeoutMs: 60_000, message: 'quantity 3 at Stripe' });
    await waitFor(async () => (await subscriptionRow(orgA.organization))?.['quantity'] === 3, {
      timeoutMs: 30_000,
      message: 'quantity 3 here',
    });
    const itemUpdates = () => fake.requests.filter((r) => r.path === `/v1/subscription_items/${providerItem()['id']}` && !r.replayed);
    expect(itemUpdates().map((r) => r.params)).toEqual([{ quantity: '3' }]);

    // The same event again: its inbox record makes it nothing. Then a provider stops being schedulable, one is deleted.
    await republish(service, added);
    const [kept, gone] = (
      await sql.query('SELECT id FROM provider WHERE organization = $1 AND active ORDER BY id LIMIT 2', [orgA.organization])
    ).rows.map((row: { id: string }) => row.id);
    await publishProvider(service, orgA.organization, 'updated', kept!, false);
    await publishProvider(service, orgA.organization, 'deleted', gone!);
    await waitFor(() => providerItem()['quantity'] === 1, { timeoutMs: 60_000, message: 'quantity 1 at Stripe' });
    await waitFor(async () => (await subscriptionRow(orgA.organization))?.['quantity'] === 1, {
      timeoutMs: 30_000,
      message: 'quantity 1 here',
    });
    expect(itemUpdates().map((r) => r.params['quantity'])).not.toContain('4');
    expect(await activeProviders(orgA.organization)).toBe(1);
  });

  it('takes Stripe’s subscription events once and in order, and publishes the changes', async () => {
    const row = (await subscriptionRow(orgA.organization))!;
    const object = structuredClone(stripeSubscription(row['stripe_subscription_id'] as string));
    const later = unix() + 5;
    const pastDue = stripeEvent('customer.subscription.updated', { ...object, status: 'past_due' }, { created: later });
    const delivered = await service.app.inject(signedWebhook(pastDue));
    expect(delivered.json()).toMatchObject({ received: true, outcome: 'applied' });
    expect((await subscriptionRow(orgA.organization))?.['status']).toBe('past_due');
    expect((await service.app.inject(signedWebhook(pastDue))).json().outcome).toBe('duplicate');
    // An older event arriving late does not roll the state back.
    const older = stripeEvent('customer.subscription.updated', { ...object, status: 'active' }, { created: later - 60 });
    expect((await service.app.inject(signedWebhook(older))).json().outcome).toBe('stale');
    expect((await subscriptionRow(orgA.organization))?.['status']).toBe('past_due');
    await waitFor(() => published.find((e) => e.subject === row['id'] && (e.data as { status: string }).status === 'past_due'), {
      timeoutMs: 30_000,
      message: 'subscription.changed past_due',
    });
    const reactivated = stripeEvent('customer.subscription.updated', { ...object, status: 'active' }, { created: later + 1 });
    expect((await service.app.inject(signedWebhook(reactivated))).json().outcome).toBe('applied');
    expect((await subscriptionRow(orgA.organization))?.['status']).toBe('active');
  });

  it('cancels at the period end, once, and lists the organization’s subscriptions to its own members and platform admins', async () => {
    const canceled = await call(orgA, 'DELETE', '/api/billing/subscriptions');
    expect(canceled.status).toBe(200);
    expect(canceled.body).toMatchObject({ status: 'active', cancelAtPeriodEnd: true });
    expect(stripeSubscription(canceled.body.stripeSubscriptionId)).toMatchObject({ cancel_at_period_end: true, status: 'active' });
    const cancelCalls = () =>
      fake.requests.filter((r) => r.path === `/v1/subscriptions/${canceled.body.stripeSubscriptionId}` && r.method === 'POST');
    expect(cancelCalls()).toHaveLength(1);
    expect((await call(orgA, 'DELETE', '/api/billing/subscriptions')).body).toMatchObject({ cancelAtPeriodEnd: true });
    expect(cancelCalls()).toHaveLength(1);

    const listed = await call(orgA, 'GET', `/api/billing/${orgA.organization}/subscriptions`);
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual([expect.objectContaining({ _id: canceled.body._id, cancelAtPeriodEnd: true })]);
    const manager = { ...orgA, roles: ['manager'] };
    expect((await call(manager, 'GET', `/api/billing/${orgA.organization}/subscriptions`)).status).toBe(200);
    expect((await call(manager, 'DELETE', '/api/billing/subscriptions')).status).toBe(403);
    const across = await call(orgB, 'GET', `/api/billing/${orgA.organization}/subscriptions`);
    expect(across.status).toBe(404);
    expect(across.type).toMatch(/application\/problem\+json/);
    expect((await call(platformAdmin, 'GET', `/api/billing/${orgA.organization}/subscriptions`)).body).toHaveLength(1);
    expect((await call(platformAdmin, 'GET', `/api/billing/${randomUUID()}/subscriptions`)).status).toBe(404);
    expect((await call(orgB, 'GET', `/api/billing/${orgB.organization}/subscriptions`)).body).toEqual([]);
    expect((await call(orgB, 'DELETE', '/api/billing/subscriptions')).status).toBe(404);
    expect((await call(platformAdmin, 'GET', '/api/billing/not-an-id/subscriptions')).status).toBe(400);
  });

  it('ends the subscription on customer.subscription.deleted, after which the organization may subscribe again', async () => {
    const row = (await subscriptionRow(orgA.organization))!;
    const object = structuredClone(stripeSubscription(row['stripe_subscription_id'] as string));
    const ended = stripeEvent(
      'customer.subscription.deleted',
      { ...object, status: 'canceled', ended_at: unix() },
      { created: unix() + 10 },
    );
    expect((await service.app.inject(signedWebhook(ended))).json().outcome).toBe('applied');
    expect((await subscriptionRow(orgA.organization))?.['status']).toBe('canceled');
    await waitFor(() => published.find((e) => e.subject === row['id'] && (e.data as { status: string }).status === 'canceled'), {
      timeoutMs: 30_000,
      message: 'subscription.changed canceled',
    });
    const renewed = await call(orgA, 'POST', '/api/billing/subscriptions', { plan: plan.id });
    expect(renewed.status).toBe(200);
    expect(renewed.body.stripeSubscriptionId).not.toBe(row['stripe_subscription_id']);
    expect(renewed.body.quantity).toBe(1);
  });

  it('stores a subscription made at Stripe outside billing from its event', async () => {
    const customer = (await sql.query('SELECT stripe_customer_id FROM billing_account WHERE organization = $1', [orgB.organization]))
      .rows[0].stripe_customer_id as string;
    const object = {
      id: `sub_external${randomUUID().replaceAll('-', '').slice(0, 12)}`,
      object: 'subscription',
      customer,
      status: 'active',
      cancel_at_period_end: false,
      canceled_at: null,
      created: unix(),
      metadata: {},
      items: {
        object: 'list',
        data: [
          {
            id: 'si_external1',
            object: 'subscription_item',
            price: { id: 'price_other' },
            quantity: 7,
            current_period_end: unix() + 86_400,
          },
        ],
      },
    };
    expect((await service.app.inject(signedWebhook(stripeEvent('customer.subscription.updated', object)))).json().outcome).toBe('applied');
    expect(await subscriptionRow(orgB.organization)).toMatchObject({
      plan: 'external',
      status: 'active',
      quantity: 7,
      stripe_subscription_id: object.id,
    });
  });

  it('answers 502 and stores nothing when Stripe fails the subscribe', async () => {
    const newcomer: Identity = { organization: randomUUID(), user: 'user-n', roles: ['admin'] };
    await call(newcomer, 'POST', '/api/billing', {});
    fake.failNext.push({ status: 500, type: 'api_error', message: 'Stripe is having a bad day.' });
    const failed = await call(newcomer, 'POST', '/api/billing/subscriptions', { plan: plan.id });
    expect(failed.status).toBe(502);
    expect(await subscriptionRow(newcomer.organization)).toBeUndefined();
    const retried = await call(newcomer, 'POST', '/api/billing/subscriptions', { plan: plan.id });
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ quantity: 0, status: 'active' });
  });

  /** An organization with a Stripe customer, and a subscription an earlier attempt made at Stripe whose transaction failed. */
  const withUnstoredSubscription = async (planId: string) => {
    const newcomer: Identity = { organization: randomUUID(), user: 'user-o', roles: ['admin'] };
    const customer = (await call(newcomer, 'POST', '/api/billing', {})).body.stripeCustomerId as string;
    const stripe = new Stripe(fake.secretKey, { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
    const earlier = await stripe.subscriptions.create(
      {
        customer,
        items: [{ price: plan.providerPrice, quantity: 0 }, { price: plan.texting!.price }],
        metadata: { organization: newcomer.organization, plan: planId },
      },
      { idempotencyKey: subscriptionIdempotencyKey(newcomer.organization, 0, planId, 0) },
    );
    // A provider since: the retry's count, and so its idempotency key, differ from the first attempt's.
    await publishProvider(service, newcomer.organization, 'created', randomUUID());
    await waitFor(async () => (await activeProviders(newcomer.organization)) === 1, { timeoutMs: 60_000, message: 'the provider' });
    const ofCustomer = () => [...fake.subscriptions.values()].filter((subscription) => subscription['customer'] === customer);
    return { newcomer, earlier, ofCustomer };
  };

  it('adopts the subscription an earlier attempt left at Stripe, sets its quantity, and makes no second one', async () => {
    const { newcomer, earlier, ofCustomer } = await withUnstoredSubscription(plan.id);
    const retried = await call(newcomer, 'POST', '/api/billing/subscriptions', { plan: plan.id });
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ stripeSubscriptionId: earlier.id, quantity: 1, status: 'active' });
    expect(ofCustomer().map((subscription) => subscription.id)).toEqual([earlier.id]);
    expect(stripeSubscription(earlier.id).items.data[0]!['quantity']).toBe(1);
    const listed = fake.requests.filter(
      (r) => r.method === 'GET' && r.path === '/v1/subscriptions' && r.params['customer'] === earlier.customer,
    );
    expect(listed.map((r) => r.params['status'])).toEqual(['all']);
  });

  it('answers 409, storing and creating nothing, when the subscription an earlier attempt left at Stripe is of another plan', async () => {
    const { newcomer, earlier, ofCustomer } = await withUnstoredSubscription('premium');
    const refused = await call(newcomer, 'POST', '/api/billing/subscriptions', { plan: plan.id });
    expect(refused.status).toBe(409);
    expect(refused.type).toMatch(/application\/problem\+json/);
    expect(refused.body.detail).toContain("'premium'");
    expect(ofCustomer().map((subscription) => subscription.id)).toEqual([earlier.id]);
    expect(await subscriptionRow(newcomer.organization)).toBeUndefined();
  });
});

describe('subscriptions in the sandbox (no Stripe key): the local ledger', () => {
  let service: BillingUnderTest;
  let now = new Date('2026-12-06T12:00:00Z');

  beforeAll(async () => {
    service = await startBilling('billing-subscriptions-sandbox', await kafkaBrokers(), { stripe: null, deps: { clock: () => now } });
  });
  afterAll(async () => service?.close());

  it('subscribes, cancels at the period end, and ends the subscription when that period is over', async () => {
    const headers = await as(orgA);
    const subscribe = () => service.app.inject({ method: 'POST', url: '/api/billing/subscriptions', headers, payload: { plan: plan.id } });
    expect((await subscribe()).statusCode).toBe(404);
    await service.app.inject({ method: 'POST', url: '/api/billing', headers, payload: {} });
    const subscribed = await subscribe();
    expect(subscribed.statusCode).toBe(200);
    expect(subscribed.json()).toMatchObject({
      sandbox: true,
      stripeSubscriptionId: null,
      status: 'active',
      currentPeriodEnd: '2027-01-06T12:00:00.000Z',
    });
    expect((await subscribe()).statusCode).toBe(409);
    const canceled = await service.app.inject({ method: 'DELETE', url: '/api/billing/subscriptions', headers });
    expect(canceled.json()).toMatchObject({ status: 'active', cancelAtPeriodEnd: true });
    now = new Date('2027-01-06T12:00:01Z');
    const listed = await service.app.inject({ method: 'GET', url: `/api/billing/${orgA.organization}/subscriptions`, headers });
    expect(listed.json()).toEqual([expect.objectContaining({ status: 'canceled', cancelAtPeriodEnd: true })]);
    const renewed = await subscribe();
    expect(renewed.statusCode).toBe(200);
    const all = await service.app.inject({ method: 'GET', url: `/api/billing/${orgA.organization}/subscriptions`, headers });
    expect(all.json().map((s: { status: string }) => s.status)).toEqual(['active', 'canceled']);
  });
});
