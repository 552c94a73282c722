import { randomUUID } from 'node:crypto';
import { parseEvent, type EventEnvelope } from '@pep/contracts';
import type { Subscription } from '@pep/bus';
import type { Identity } from '@pep/service-kit';
import { kafkaBrokers, startStripeFake, stripeEvent, stripeId, waitFor, type StripeFake } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, orgA, orgB, platformAdmin, signedWebhook, startBilling, type BillingUnderTest } from '../test/harness.js';

const unix = () => Math.floor(Date.now() / 1000);

describe("Stripe's charge webhooks and the charge routes, against real Postgres, Kafka and the Stripe fake", () => {
  let fake: StripeFake;
  let service: BillingUnderTest;
  let sql: pg.Client;
  let subscription: Subscription;
  const published: EventEnvelope[] = [];
  const customers: Record<string, string> = {};
  // Seconds the service's clock runs ahead of the real one, for the signature's tolerance.
  let clockOffset = 0;

  beforeAll(async () => {
    fake = await startStripeFake();
    service = await startBilling('billing-charges', await kafkaBrokers(), { stripe: fake, now: () => unix() + clockOffset });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    for (const identity of [orgA, orgB]) {
      const opened = await service.app.inject({ method: 'POST', url: '/api/billing', headers: await as(identity), payload: {} });
      customers[identity.organization] = opened.json().stripeCustomerId;
    }
    subscription = await service.bus.subscribe({
      groupId: 'billing-charges-observer',
      topics: ['billing.charges'],
      handler: async (message) => {
        published.push(parseEvent(message.value));
      },
    });
  });
  afterAll(async () => {
    await subscription?.stop();
    await sql?.end();
    await service?.close();
    await fake?.close();
  });

  const charge = (organization: string, overrides: Record<string, unknown> = {}) => ({
    id: stripeId('ch'),
    object: 'charge',
    amount: 4900,
    currency: 'usd',
    created: unix() - 60,
    customer: customers[organization],
    status: 'succeeded',
    failure_code: null,
    failure_message: null,
    metadata: {},
    livemode: false,
    ...overrides,
  });
  const invoice = (organization: string, overrides: Record<string, unknown> = {}) => ({
    id: stripeId('in'),
    object: 'invoice',
    amount_due: 12000,
    amount_paid: 0,
    currency: 'usd',
    created: unix() - 3600,
    customer: customers[organization],
    status: 'open',
    metadata: {},
    livemode: false,
    ...overrides,
  });
  const deliver = async (event: unknown, options: { secret?: string; timestamp?: number } = {}) => {
    const response = await service.app.inject(signedWebhook(event, options));
    return { status: response.statusCode, body: response.json(), type: response.headers['content-type'] };
  };
  const get = async (identity: Identity, url: string) => {
    const response = await service.app.inject({ method: 'GET', url, headers: await as(identity) });
    return { status: response.statusCode, body: response.json() };
  };
  const stored = async () => {
    const { rows } = await sql.query(
      'SELECT (SELECT count(*) FROM stripe_event)::int AS events, (SELECT count(*) FROM charge)::int AS charges, (SELECT count(*) FROM outbox)::int AS outbox',
    );
    return rows[0] as { events: number; charges: number; outbox: number };
  };
  const chargeRow = async (stripeIdValue: string) =>
    (await sql.query('SELECT status, amount, failure_code, failure_message FROM charge WHERE stripe_id = $1', [stripeIdValue])).rows[0];

  it('stores a succeeded charge, publishes charge.succeeded, and answers it as the last status', async () => {
    const object = charge(orgA.organization);
    const delivered = await deliver(stripeEvent('charge.succeeded', object));
    expect(delivered).toMatchObject({ status: 200, body: { received: true, outcome: 'applied' } });
    const event = await waitFor(
      () => published.find((e) => e.type === 'charge.succeeded' && (e.data as { stripeId: string }).stripeId === object.id),
      {
        timeoutMs: 30_000,
        message: 'charge.succeeded',
      },
    );
    expect(event).toMatchObject({
      organization: orgA.organization,
      source: '/services/billing',
      data: { amount: 4900, currency: 'usd', source: 'charge' },
    });
    const last = await get(orgA, '/api/billing/charges/last-status');
    expect(last.body).toMatchObject({
      organization: orgA.organization,
      status: 'succeeded',
      charge: { stripeId: object.id, amount: 4900 },
    });
  });

  it('gives a webhook Stripe delivers twice one effect', async () => {
    const event = stripeEvent('charge.succeeded', charge(orgA.organization));
    expect((await deliver(event)).body.outcome).toBe('applied');
    const after = await stored();
    expect((await deliver(event)).body.outcome).toBe('duplicate');
    expect(await stored()).toEqual(after);
    const outboxRows = await sql.query("SELECT count(*)::int AS n FROM outbox WHERE envelope->'data'->>'stripeId' = $1", [
      (event['data'] as { object: { id: string } }).object.id,
    ]);
    expect(outboxRows.rows[0].n).toBe(1);
  });

  it('stores a failed charge with Stripe’s failure code and publishes charge.failed', async () => {
    const object = charge(orgB.organization, {
      status: 'failed',
      failure_code: 'card_declined',
      failure_message: 'Your card was declined.',
      created: unix(),
    });
    expect((await deliver(stripeEvent('charge.failed', object))).body.outcome).toBe('applied');
    expect(await chargeRow(object.id)).toEqual({
      status: 'failed',
      amount: 4900,
      failure_code: 'card_declined',
      failure_message: 'Your card was declined.',
    });
    await waitFor(() => published.find((e) => e.type === 'charge.failed' && (e.data as { stripeId: string }).stripeId === object.id), {
      timeoutMs: 30_000,
      message: 'charge.failed',
    });
    expect((await get(orgB, '/api/billing/charges/last-status')).body).toMatchObject({
      status: 'failed',
      charge: { failureCode: 'card_declined' },
    });
  });

  it('moves an invoice from failed to paid, and never back when the older failure arrives late', async () => {
    const failedAt = unix() - 120;
    const paidAt = unix() - 60;
    // In order: the failure, then the payment.
    const first = invoice(orgB.organization);
    await deliver(stripeEvent('invoice.payment_failed', first, { created: failedAt }));
    expect((await chargeRow(first.id)).status).toBe('failed');
    await deliver(stripeEvent('invoice.paid', { ...first, amount_paid: 12000, status: 'paid' }, { created: paidAt }));
    expect(await chargeRow(first.id)).toMatchObject({ status: 'succeeded', amount: 12000 });

    // Out of order: the payment arrives first; the older failure is recorded and changes nothing.
    const second = invoice(orgB.organization);
    await deliver(stripeEvent('invoice.paid', { ...second, amount_paid: 12000, status: 'paid' }, { created: paidAt }));
    const outboxBefore = (await stored()).outbox;
    const late = await deliver(stripeEvent('invoice.payment_failed', second, { created: failedAt }));
    expect(late).toMatchObject({ status: 200, body: { outcome: 'stale' } });
    expect(await chargeRow(second.id)).toMatchObject({ status: 'succeeded', amount: 12000 });
    expect((await stored()).outbox).toBe(outboxBefore);
  });

  it('refuses tampered, stale, wrongly signed and unsigned webhooks with 400 and stores nothing', async () => {
    const before = await stored();
    const event = stripeEvent('charge.succeeded', charge(orgA.organization));
    const signed = signedWebhook(event);
    const tampered = await service.app.inject({ ...signed, payload: signed.payload.replace('"amount":4900', '"amount":1') });
    const stale = await deliver(event, { timestamp: unix() - 301 });
    const wrongSecret = await deliver(event, { secret: 'whsec_someone_else' });
    const unsigned = await service.app.inject({
      method: 'POST',
      url: signed.url,
      headers: { 'content-type': 'application/json' },
      payload: signed.payload,
    });
    const garbage = await service.app.inject({ ...signed, headers: { ...signed.headers, 'stripe-signature': 't=1,v1=abc' } });
    for (const response of [tampered, unsigned, garbage]) {
      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(response.json().type).toBe('/problems/bad-signature');
    }
    expect(stale.status).toBe(400);
    // Signed just now, but received more than 300 s later by the service's clock.
    clockOffset = 301;
    const late = await service.app.inject(signedWebhook(event));
    clockOffset = 0;
    expect(late.statusCode).toBe(400);
    expect(wrongSecret.status).toBe(400);
    // Text Postgres cannot store is refused by the input guard, naming the field, before the signature is looked at.
    const nul = await service.app.inject({ ...signed, payload: JSON.stringify({ ...event, type: 'charge.\u0000succeeded' }) });
    expect(nul.statusCode).toBe(400);
    expect(nul.json().errors).toEqual([expect.objectContaining({ field: 'body.type' })]);
    expect(await stored()).toEqual(before);
  });

  it('answers 413 to a body over the limit, declared or streamed, and the connection serves the next request', async () => {
    const url = `${await service.app.listen({ host: '127.0.0.1', port: 0 })}/api/callback/stripe/charges`;
    const big = JSON.stringify({ padding: 'x'.repeat(20_000) });
    const declared = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    expect(declared.status).toBe(413);
    const streamed = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new Blob([big]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    const signed = signedWebhook(stripeEvent('charge.succeeded', charge(orgA.organization)));
    const next = await fetch(url, { method: 'POST', headers: signed.headers, body: signed.payload, signal: AbortSignal.timeout(10_000) });
    expect(next.status).toBe(200);
  });

  it('acknowledges subscription events and charges of customers it does not know, storing only the event id', async () => {
    const before = await stored();
    const subscriptionUpdated = await deliver(
      stripeEvent('customer.subscription.updated', {
        id: stripeId('sub'),
        object: 'subscription',
        customer: stripeId('cus'),
        status: 'active',
      }),
    );
    expect(subscriptionUpdated).toMatchObject({ status: 200, body: { outcome: 'unknown-customer' } });
    const stranger = await deliver(stripeEvent('charge.succeeded', charge(orgA.organization, { customer: stripeId('cus') })));
    expect(stranger).toMatchObject({ status: 200, body: { outcome: 'unknown-customer' } });
    expect(await stored()).toEqual({ ...before, events: before.events + 2 });
  });

  it('counts the organization’s succeeded charges', async () => {
    const { rows } = await sql.query("SELECT count(*)::int AS n FROM charge WHERE organization = $1 AND status = 'succeeded'", [
      orgB.organization,
    ]);
    expect(rows[0].n).toBeGreaterThan(0);
    expect((await get(orgB, '/api/billing/charges/success-count')).body).toEqual({ organization: orgB.organization, count: rows[0].n });
  });

  it('counts a payment Stripe reports as its charge and as its invoice once, and answers its charge as the last status', async () => {
    const clinic: Identity = { organization: randomUUID(), user: 'user-c', roles: ['admin'] };
    const opened = await service.app.inject({ method: 'POST', url: '/api/billing', headers: await as(clinic), payload: {} });
    customers[clinic.organization] = opened.json().stripeCustomerId;
    const paid = <T extends object>(object: T) => ({ ...object, amount_paid: 12000, status: 'paid' });

    // Before 2025's API versions the invoice names its PaymentIntent (and the charge its invoice).
    const legacyIntent = stripeId('pi');
    const legacyInvoice = paid(invoice(clinic.organization, { payment_intent: legacyIntent }));
    await deliver(stripeEvent('invoice.paid', legacyInvoice));
    await deliver(
      stripeEvent(
        'charge.succeeded',
        charge(clinic.organization, { payment_intent: legacyIntent, invoice: legacyInvoice.id, created: unix() - 600 }),
      ),
    );

    // Since then neither names the other: `invoice_payment.paid` links them, here after both and once more (Stripe's retry).
    const intent = stripeId('pi');
    const chargeOfInvoice = charge(clinic.organization, { payment_intent: intent, created: unix() - 30 });
    // Its invoice is the newest object of the organization: still the charge is its payment's row.
    const newInvoice = paid(invoice(clinic.organization, { created: unix() }));
    await deliver(stripeEvent('charge.succeeded', chargeOfInvoice));
    await deliver(stripeEvent('invoice.paid', newInvoice));
    const invoicePayment = stripeEvent('invoice_payment.paid', {
      id: stripeId('inpay'),
      object: 'invoice_payment',
      amount_paid: 12000,
      currency: 'usd',
      invoice: newInvoice.id,
      is_default: true,
      payment: { type: 'payment_intent', payment_intent: intent },
      status: 'paid',
      created: unix(),
    });
    expect((await deliver(invoicePayment)).body.outcome).toBe('applied');
    expect((await deliver(invoicePayment)).body.outcome).toBe('duplicate');

    // An invoice paid without a charge (from the customer's balance) is a payment of its own.
    await deliver(
      stripeEvent(
        'invoice.paid',
        paid(invoice(clinic.organization, { created: unix() - 7200, status_transitions: { paid_at: unix() - 7000 } })),
      ),
    );

    const { rows } = await sql.query("SELECT count(*)::int AS n FROM charge WHERE organization = $1 AND status = 'succeeded'", [
      clinic.organization,
    ]);
    expect(rows[0].n).toBe(5);
    expect((await get(clinic, '/api/billing/charges/success-count')).body).toEqual({ organization: clinic.organization, count: 3 });
    expect((await get(clinic, '/api/billing/charges/last-status')).body).toMatchObject({
      status: 'succeeded',
      charge: { stripeId: chargeOfInvoice.id, source: 'charge' },
    });
  });

  it('answers an organization’s last status by id to its own members and platform admins only (404 otherwise)', async () => {
    expect((await get(orgA, `/api/billing/charges/last-status/${orgA.organization}`)).body).toMatchObject({ status: 'succeeded' });
    const across = await get(orgA, `/api/billing/charges/last-status/${orgB.organization}`);
    expect(across.status).toBe(404);
    expect(JSON.stringify(across.body)).not.toContain('card_declined');
    expect((await get(platformAdmin, `/api/billing/charges/last-status/${orgB.organization}`)).body).toMatchObject({
      organization: orgB.organization,
      // Its newest charge (by Stripe's creation time) is the declined one; its invoices are an hour older.
      status: 'failed',
    });
    expect((await get(platformAdmin, `/api/billing/charges/last-status/${randomUUID()}`)).status).toBe(404);
    const malformed = await get(platformAdmin, '/api/billing/charges/last-status/not-an-id');
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors[0].field).toBe('params.id');
    // A platform admin without a reader's role in their own organization still sees nobody's own-organization routes.
    expect((await get(platformAdmin, '/api/billing/charges/last-status')).status).toBe(403);
  });
});
