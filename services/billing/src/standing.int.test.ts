import { parseEvent, type EventEnvelope } from '@pep/contracts';
import type { Subscription } from '@pep/bus';
import type { Identity } from '@pep/service-kit';
import { kafkaBrokers, startSmtpSink, startStripeFake, stripeEvent, stripeId, waitFor, type SmtpSink, type StripeFake } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, orgA, orgB, signedWebhook, startBilling, type BillingUnderTest } from '../test/harness.js';

const DAY_MS = 86_400_000;
const unix = () => Math.floor(Date.now() / 1000);

describe('access follows payment: grace, suspension and lift, with a moved clock, against real Postgres, Kafka, SMTP and the Stripe fake', () => {
  let fake: StripeFake;
  let smtp: SmtpSink;
  let service: BillingUnderTest;
  let subscription: Subscription;
  const published: EventEnvelope[] = [];
  const customers: Record<string, string> = {};
  // How far the service's clock runs ahead of the real one.
  let offsetMs = 0;
  const clock = () => new Date(Date.now() + offsetMs);

  beforeAll(async () => {
    fake = await startStripeFake();
    smtp = await startSmtpSink();
    service = await startBilling('billing-standing', await kafkaBrokers(), {
      stripe: fake,
      deps: {
        clock,
        grace: { days: 14, reminderDaysBefore: 3 },
        gracePollIntervalMs: 200,
        mailer: { from: 'billing@pep.test', smtpUrl: smtp.url },
      },
    });
    for (const identity of [orgA, orgB]) {
      const opened = await service.app.inject({
        method: 'POST',
        url: '/api/billing',
        headers: await as(identity),
        payload: { billingEmail: `billing-${identity.user}@clinic.test` },
      });
      expect(opened.statusCode).toBe(200);
      customers[identity.organization] = opened.json().stripeCustomerId;
    }
    subscription = await service.bus.subscribe({
      groupId: 'billing-standing-observer',
      topics: ['billing.access'],
      handler: async (message) => {
        published.push(parseEvent(message.value));
      },
    });
  }, 120_000);
  afterAll(async () => {
    await subscription?.stop();
    await service?.close();
    await smtp?.close();
    await fake?.close();
  });

  const charge = (organization: string, type: 'charge.succeeded' | 'charge.failed', created: number) =>
    stripeEvent(type, {
      id: stripeId('ch'),
      object: 'charge',
      amount: 4900,
      currency: 'usd',
      created,
      customer: customers[organization],
      status: type === 'charge.succeeded' ? 'succeeded' : 'failed',
      failure_code: type === 'charge.failed' ? 'card_declined' : null,
      failure_message: type === 'charge.failed' ? 'Your card was declined.' : null,
      metadata: {},
      livemode: false,
    });
  const deliver = async (event: unknown) => {
    const response = await service.app.inject(signedWebhook(event));
    expect(response.statusCode).toBe(200);
    return response.json().outcome as string;
  };
  const accessEvents = (organization: string) =>
    published.filter((e) => e.type === 'billing.access-changed' && e.organization === organization) as Array<
      EventEnvelope<{ _id: string; standing: string; graceEndsAt: string | null }>
    >;
  const account = async (identity: Identity) =>
    (await service.app.inject({ method: 'GET', url: '/api/billing', headers: await as(identity) })).json();
  const mailsTo = (identity: Identity) =>
    smtp.inbox.filter((mail) => mail.to && JSON.stringify(mail.to).includes(`billing-${identity.user}@`));

  it('opens a grace period on a failed payment, once however often Stripe delivers it, and mails the billing contact', async () => {
    const failed = charge(orgA.organization, 'charge.failed', unix() - 300);
    const startedAt = clock();
    expect(await deliver(failed)).toBe('applied');
    expect(await deliver(failed)).toBe('duplicate');
    const grace = await waitFor(() => accessEvents(orgA.organization)[0], { timeoutMs: 60_000, message: 'billing.access-changed (grace)' });
    expect(grace.data).toMatchObject({ _id: orgA.organization, standing: 'grace' });
    const endsIn = Date.parse(grace.data.graceEndsAt!) - startedAt.getTime();
    expect(endsIn).toBeGreaterThanOrEqual(14 * DAY_MS);
    expect(endsIn).toBeLessThan(14 * DAY_MS + 60_000);
    expect(await account(orgA)).toMatchObject({ standing: 'grace', graceEndsAt: grace.data.graceEndsAt });

    const notice = await waitFor(() => mailsTo(orgA)[0], { timeoutMs: 30_000, message: 'the grace notice' });
    expect(notice.subject).toMatch(/payment failed/i);
    expect(notice.text).toContain(grace.data.graceEndsAt!.slice(0, 10));
    expect(notice.text).toMatch(/update the payment method/);

    // A second failure during the grace period neither restarts nor extends it.
    expect(await deliver(charge(orgA.organization, 'charge.failed', unix() - 200))).toBe('applied');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(accessEvents(orgA.organization)).toHaveLength(1);
    expect(mailsTo(orgA)).toHaveLength(1);
    // The other organization is untouched.
    expect(await account(orgB)).toMatchObject({ standing: 'good-standing', graceEndsAt: null });
  });

  it('reminds the billing contact a few days before the end, then suspends when the grace period ends', async () => {
    offsetMs = 11.5 * DAY_MS;
    const reminder = await waitFor(() => mailsTo(orgA)[1], { timeoutMs: 30_000, message: 'the reminder' });
    expect(reminder.subject).toMatch(/read-only/);
    expect(accessEvents(orgA.organization)).toHaveLength(1);

    offsetMs = 14 * DAY_MS + 60_000;
    const suspended = await waitFor(() => accessEvents(orgA.organization)[1], { timeoutMs: 30_000, message: 'the suspension' });
    expect(suspended.data).toMatchObject({ _id: orgA.organization, standing: 'suspended' });
    expect(await account(orgA)).toMatchObject({ standing: 'suspended' });
    // Later ticks do not suspend it again, nor mail again.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(accessEvents(orgA.organization)).toHaveLength(2);
    expect(mailsTo(orgA)).toHaveLength(2);
  });

  it('lifts the suspension at once when a payment succeeds, and an older failure does not bring it back', async () => {
    expect(await deliver(charge(orgA.organization, 'charge.succeeded', unix() - 10))).toBe('applied');
    const lifted = await waitFor(() => accessEvents(orgA.organization)[2], { timeoutMs: 60_000, message: 'the lift' });
    expect(lifted.data).toEqual({ _id: orgA.organization, standing: 'good-standing', graceEndsAt: null });
    expect(await account(orgA)).toMatchObject({ standing: 'good-standing', graceEndsAt: null });

    // A failure of a charge made before the successful one arrives late: it is stored, but the standing stays.
    expect(await deliver(charge(orgA.organization, 'charge.failed', unix() - 100))).toBe('applied');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(accessEvents(orgA.organization)).toHaveLength(3);
    expect(await account(orgA)).toMatchObject({ standing: 'good-standing' });

    // A newer failure opens a new grace period, measured from the (moved) clock.
    expect(await deliver(charge(orgA.organization, 'charge.failed', unix()))).toBe('applied');
    const again = await waitFor(() => accessEvents(orgA.organization)[3], { timeoutMs: 60_000, message: 'a new grace period' });
    expect(again.data.standing).toBe('grace');
    expect(Date.parse(again.data.graceEndsAt!)).toBeGreaterThan(Date.now() + offsetMs + 13 * DAY_MS);
  });

  it('lets an invoice paid after a newer failed charge lift the grace period (timed by its payment, not its creation)', async () => {
    expect(await deliver(charge(orgB.organization, 'charge.failed', unix() - 100))).toBe('applied');
    await waitFor(() => accessEvents(orgB.organization)[0], { timeoutMs: 60_000, message: 'grace for the other organization' });
    // An invoice opened before that charge failed, paid now (from the customer's balance: no charge of its own).
    const invoice = stripeEvent('invoice.paid', {
      id: stripeId('in'),
      object: 'invoice',
      amount_due: 4900,
      amount_paid: 4900,
      currency: 'usd',
      created: unix() - 3_600,
      customer: customers[orgB.organization],
      status: 'paid',
      status_transitions: { paid_at: unix() },
      metadata: {},
      livemode: false,
    });
    expect(await deliver(invoice)).toBe('applied');
    const lifted = await waitFor(() => accessEvents(orgB.organization)[1], { timeoutMs: 60_000, message: 'the lift by the invoice' });
    expect(lifted.data).toMatchObject({ standing: 'good-standing' });
  });
});
