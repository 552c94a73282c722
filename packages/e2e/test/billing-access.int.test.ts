import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTestDatabase,
  kafkaBrokers,
  signStripeWebhook,
  startSmtpSink,
  startStripeFake,
  stripeEvent,
  stripeId,
  uniqueTopicPrefix,
  waitFor,
  type SmtpSink,
  type StripeFake,
  type TestDatabase,
} from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, stopAll, type ServiceProcess } from './processes.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
type Body = Record<string, any>;

const DAY_MS = 86_400_000;
const WEBHOOK_PATH = '/api/callback/stripe/charges';
const unix = () => Math.floor(Date.now() / 1000);

// Access follows payment across the distributed runtime: auth, patients, billing and the gateway each in their own
// process and database, on the real Kafka broker, billing talking to the Stripe fake over HTTP with the real SDK, and
// Stripe's signed webhooks delivered to the gateway as Stripe delivers them. Billing runs on a movable clock so that the
// 14-day grace period ends when the test says; everything else runs on real time.
describe('distributed platform: subscribe → payment fails → grace → suspended (402) → paid → lifted', () => {
  const databases: TestDatabase[] = [];
  const services: ServiceProcess[] = [];
  const webhookSecret = `whsec_${randomBytes(24).toString('base64url')}`;
  let stripe: StripeFake;
  let smtp: SmtpSink;
  let mailDir: string;
  let billing: ServiceProcess;
  let gateway: ServiceProcess;

  beforeAll(async () => {
    stripe = await startStripeFake();
    smtp = await startSmtpSink();
    mailDir = await mkdtemp(join(tmpdir(), 'pep-e2e-billing-mail-'));
    const common = {
      KAFKA_BROKERS: (await kafkaBrokers()).join(','),
      TOPIC_PREFIX: uniqueTopicPrefix('e2e-billing'),
      INTERNAL_AUTH_SECRET: 'e2e-internal-secret-0123456789abcdefgh',
    };
    const database = async (label: string) => {
      const created = await createTestDatabase(label);
      databases.push(created);
      return created.url;
    };
    const started = await Promise.all([
      startService('auth', {
        ...common,
        DATABASE_URL: await database('e2e-billing-auth'),
        SIGNING_KEY_SECRET: 'e2e-signing-key-secret-0123456789abcdef',
        PUBLIC_URL: 'http://localhost:3000',
        MAIL_DIR: mailDir,
        // Scheduling is not deployed here; nothing in this test asks auth about providers or facilities.
        SCHEDULING_URL: 'http://127.0.0.1:1',
      }),
      startService('patients', { ...common, DATABASE_URL: await database('e2e-billing-patients') }),
      startService('billing', {
        ...common,
        DATABASE_URL: await database('e2e-billing-billing'),
        NODE_ENV: 'test',
        CLOCK_CONTROL: 'true',
        STRIPE_SECRET_KEY: stripe.secretKey,
        STRIPE_API_BASE: stripe.url,
        STRIPE_WEBHOOK_SECRET: webhookSecret,
        BILLING_PLANS: JSON.stringify([
          { id: 'clinic', name: 'Clinic', currency: 'usd', providerPrice: 'price_e2e_clinic_provider', providerUnitAmount: 4900 },
        ]),
        BILLING_GRACE_POLL_SECONDS: '1',
        SMTP_URL: smtp.url,
        MAIL_FROM: 'billing@pep.test',
      }),
    ]);
    services.push(...started);
    const [auth, patients] = started;
    billing = started[2]!;
    gateway = await startService('gateway', {
      ...common,
      UPSTREAMS: `auth=${auth!.url},patients=${patients!.url},billing=${billing.url}`,
      RATE_LIMIT_PER_MINUTE: '100000',
    });
    services.push(gateway);
  }, 180_000);

  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
    // Also those a failed start or test left running.
    await stopAll();
    for (const database of databases) await database.drop();
    await stripe?.close();
    await smtp?.close();
    if (mailDir) await rm(mailDir, { recursive: true, force: true });
  });

  let token = '';
  let organization = '';
  let customer = '';

  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${gateway.url}${path}`, {
      method,
      headers: { 'x-access-token': `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: (await response.json()) as Body, type: response.headers.get('content-type') };
  };
  const standing = async () => (await api('GET', '/api/billing')).body['standing'] as string | undefined;
  const newPatient = () => api('POST', '/api/patients', { firstname: 'Pat', lastname: 'Jones', phone: '(415) 555-2671' });
  const lastStatus = async () => (await api('GET', '/api/billing/charges/last-status')).body['status'] as string | null;
  const successCount = async () => (await api('GET', '/api/billing/charges/success-count')).body['count'] as number;

  /** Posts a Stripe event to the gateway as Stripe does: the JSON bytes, signed now with the endpoint's secret. */
  const deliver = async (event: unknown, options: { tamper?: (payload: string) => string } = {}) => {
    const payload = JSON.stringify(event);
    const signature = signStripeWebhook(payload, webhookSecret);
    const response = await fetch(`${gateway.url}${WEBHOOK_PATH}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'stripe-signature': signature,
        'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      },
      body: options.tamper ? options.tamper(payload) : payload,
    });
    return { status: response.status, body: (await response.json()) as Body, type: response.headers.get('content-type') };
  };

  /** The subscription's invoice as Stripe's invoice events carry it; Stripe retries the same invoice until it is paid. */
  const invoiceId = stripeId('in');
  const invoiceCreated = unix() - 120;
  const invoice = (paid: boolean, subscription: string) => ({
    id: invoiceId,
    object: 'invoice',
    customer,
    subscription,
    amount_due: 4900,
    amount_paid: paid ? 4900 : 0,
    amount_remaining: paid ? 0 : 4900,
    attempt_count: paid ? 2 : 1,
    billing_reason: 'subscription_create',
    created: invoiceCreated,
    currency: 'usd',
    livemode: false,
    metadata: {},
    paid,
    status: paid ? 'paid' : 'open',
  });

  /** A charge of the invoice's PaymentIntent, as `charge.succeeded|failed` carry it. */
  const charge = (status: 'succeeded' | 'failed', paymentIntent: string, created: number) => ({
    id: stripeId('ch'),
    object: 'charge',
    amount: 4900,
    currency: 'usd',
    created,
    customer,
    payment_intent: paymentIntent,
    status,
    failure_code: status === 'failed' ? 'card_declined' : null,
    failure_message: status === 'failed' ? 'Your card was declined.' : null,
    metadata: {},
    livemode: false,
  });

  it('walks the whole path, each step crossing the processes as in production', { timeout: 150_000 }, async () => {
    // Sign-up at auth; organization.created crosses Kafka to billing, which opens the Stripe customer at the fake.
    const signup = await api('POST', '/api/users/signup', {
      email: 'owner@paying-clinic.example',
      password: 'a long passphrase',
      firstname: 'Ada',
      lastname: 'Admin',
      organizationName: 'Paying Clinic',
    });
    expect(signup.status).toBe(200);
    token = signup.body['token'];
    organization = signup.body['organization']['_id'];
    const account = await waitFor(
      async () => {
        const answer = await api('GET', '/api/billing');
        return answer.status === 200 && answer.body['stripeCustomerId'] ? answer.body : null;
      },
      { timeoutMs: 30_000, message: 'organization.created travels from auth to billing, which creates the Stripe customer' },
    );
    expect(account).toMatchObject({ organization, status: 'active', standing: 'good-standing', graceEndsAt: null });
    customer = account['stripeCustomerId'];
    expect(stripe.customers.get(customer)?.['metadata']).toMatchObject({ organization });

    // A card made with Stripe.js (here, at the fake) becomes the customer's default payment method.
    const card = stripe.addPaymentMethod();
    const updated = await api('PUT', '/api/billing', { billingEmail: 'accounts@paying-clinic.example', defaultPaymentMethod: card });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(stripe.paymentMethods.get(card)?.['customer']).toBe(customer);
    expect(stripe.customers.get(customer)?.['invoice_settings']).toMatchObject({ default_payment_method: card });

    const subscribed = await api('POST', '/api/billing/subscriptions', { plan: 'clinic' });
    expect(subscribed.status, JSON.stringify(subscribed.body)).toBe(200);
    expect(subscribed.body).toMatchObject({ plan: 'clinic', status: 'active', sandbox: false });
    const subscription = [...stripe.subscriptions.values()].find((candidate) => candidate['customer'] === customer);
    expect(subscription?.['metadata']).toMatchObject({ organization, plan: 'clinic' });
    expect((await newPatient()).status).toBe(200);

    // The first invoice's payment fails, which Stripe reports as the declined charge and as the invoice: grace, with
    // full access and a notice to the billing contact.
    const declined = stripeEvent('charge.failed', charge('failed', stripeId('pi'), invoiceCreated + 5), { created: unix() - 61 });
    expect(await deliver(declined)).toMatchObject({ status: 200, body: { received: true, outcome: 'applied' } });
    const failed = stripeEvent('invoice.payment_failed', invoice(false, subscription!.id), { created: unix() - 60 });
    expect(await deliver(failed)).toMatchObject({ status: 200, body: { received: true, outcome: 'applied' } });
    await waitFor(async () => (await standing()) === 'grace', { timeoutMs: 30_000, message: 'charge.failed opens the grace period' });
    const graceEndsAt = Date.parse((await api('GET', '/api/billing')).body['graceEndsAt']);
    expect(graceEndsAt - Date.now()).toBeGreaterThan(13 * DAY_MS);
    expect(await lastStatus()).toBe('failed');
    expect((await newPatient()).status).toBe(200);
    const notice = await waitFor(() => smtp.inbox.find((mail) => JSON.stringify(mail.to).includes('accounts@paying-clinic.example')), {
      timeoutMs: 30_000,
      message: 'the grace notice mailed to the billing contact',
    });
    expect(notice.subject).toMatch(/payment failed/i);

    // Stripe's retry of the same delivery has no second effect.
    expect(await deliver(failed)).toMatchObject({ status: 200, body: { outcome: 'duplicate' } });
    expect(await standing()).toBe('grace');
    expect(Date.parse((await api('GET', '/api/billing')).body['graceEndsAt'])).toBe(graceEndsAt);

    // Billing's clock, and billing's alone, moves past the grace period; its poller suspends the organization, auth
    // marks it through Kafka, and the gateway refuses its writes.
    const moved = await fetch(`${billing.url}/internal/clock`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ now: new Date(Date.now() + 15 * DAY_MS).toISOString() }),
    });
    expect(moved.status).toBe(200);
    await waitFor(async () => (await standing()) === 'suspended', { timeoutMs: 30_000, message: 'the grace period ends: suspended' });
    const refused = await waitFor(
      async () => {
        const attempt = await newPatient();
        return attempt.status === 402 ? attempt : null;
      },
      { timeoutMs: 30_000, message: 'billing.access-changed → auth → organization.updated → the gateway answers writes with 402' },
    );
    expect(refused.type).toMatch(/^application\/problem\+json/);
    expect(refused.body).toMatchObject({ type: '/problems/payment-required', status: 402 });
    // Reads, and the billing routes that let the clinic pay, stay open.
    expect((await api('GET', '/api/patients')).status).toBe(200);
    expect((await api('GET', '/api/billing')).status).toBe(200);
    expect((await api('PUT', '/api/billing', { billingEmail: 'accounts@paying-clinic.example' })).status).toBe(200);

    // A forged payment: the body of an `invoice.paid` under the signature of another payload is refused, and lifts nothing.
    const forged = await deliver(stripeEvent('invoice.paid', invoice(true, subscription!.id)), {
      tamper: (payload) => payload.replace('"amount_paid":4900', '"amount_paid":4901'),
    });
    expect(forged.status).toBe(400);
    expect(forged.type).toMatch(/^application\/problem\+json/);
    expect(forged.body).toMatchObject({ type: '/problems/bad-signature' });
    const unsigned = await fetch(`${gateway.url}${WEBHOOK_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(stripeEvent('invoice.paid', invoice(true, subscription!.id))),
    });
    expect(unsigned.status).toBe(400);
    expect(await lastStatus()).toBe('failed');
    expect(await successCount()).toBe(0);
    expect(await standing()).toBe('suspended');

    // Stripe's retry of the invoice succeeds, reported as the new charge, the invoice payment that names it (the only
    // link between the two in this API version) and the paid invoice: lifted at once, through the same processes.
    const retry = stripeId('pi');
    const paidAt = unix();
    const succeeded = stripeEvent('charge.succeeded', charge('succeeded', retry, paidAt));
    const invoicePayment = stripeEvent('invoice_payment.paid', {
      id: stripeId('inpay'),
      object: 'invoice_payment',
      amount_paid: 4900,
      amount_requested: 4900,
      created: paidAt,
      currency: 'usd',
      invoice: invoiceId,
      is_default: true,
      livemode: false,
      payment: { type: 'payment_intent', payment_intent: retry },
      status: 'paid',
      status_transitions: { canceled_at: null, paid_at: paidAt },
    });
    const paid = stripeEvent('invoice.paid', invoice(true, subscription!.id));
    for (const event of [succeeded, invoicePayment, paid]) expect((await deliver(event)).status).toBe(200);
    await waitFor(async () => (await newPatient()).status === 200, {
      timeoutMs: 30_000,
      message: 'charge.succeeded lifts the suspension at billing, auth and the gateway',
    });
    expect(await standing()).toBe('good-standing');
    expect(await lastStatus()).toBe('succeeded');
    // One payment, though Stripe reported it as a charge and as an invoice.
    expect(await successCount()).toBe(1);

    // Delivered again, each has no second effect.
    for (const event of [succeeded, invoicePayment, paid]) {
      expect(await deliver(event)).toMatchObject({ status: 200, body: { outcome: 'duplicate' } });
    }
    expect(await successCount()).toBe(1);
    expect(await lastStatus()).toBe('succeeded');
    expect(await standing()).toBe('good-standing');
  });

  it('keeps the movable clock off the gateway: only billing itself answers it', async () => {
    expect((await fetch(`${billing.url}/internal/clock`)).status).toBe(200);
    expect((await fetch(`${gateway.url}/internal/clock`)).status).toBe(404);
  });
});
