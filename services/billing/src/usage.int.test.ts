import { randomUUID } from 'node:crypto';
import { createEvent, messageSentV1 } from '@pep/contracts';
import type { Identity } from '@pep/service-kit';
import { kafkaBrokers, startStripeFake, stripeEvent, waitFor, type StripeFake } from '@pep/testing';
import pg from 'pg';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, signedWebhook, startBilling, type BillingUnderTest } from '../test/harness.js';
import type { Plan } from './plans.js';
import { usageIdempotencyKey } from './usage-reporter.js';
import { usagePeriodOf } from './usage.service.js';

const METER = 'texting_units_test';
const plan = (id: string, meterEventName?: string): Plan => ({
  id,
  name: id,
  currency: 'usd',
  providerPrice: `price_${id.replaceAll('-', '_')}_provider`,
  providerUnitAmount: 4900,
  ...(meterEventName ? { texting: { price: `price_${id.replaceAll('-', '_')}_texting`, meterEventName, unitAmount: 2 } } : {}),
});
/** Two plans billing texting on their own meters, and one without texting. */
const PLANS = [plan('texting-a', 'texting_meter_a'), plan('texting-b', 'texting_meter_b'), plan('providers-only')];
const admin = (): Identity => ({ organization: randomUUID(), user: 'admin', roles: ['admin'] });

type Sent = { channel: 'sms' | 'voice' | 'email'; segments?: number; voiceMinutes?: number };

/** A `message.sent` as messaging publishes it; `id` and `message` let a test deliver one again or announce it twice. */
function messageSent(organization: string, sent: Sent, options: { message?: string; id?: string } = {}) {
  const message = options.message ?? randomUUID();
  return createEvent(messageSentV1, {
    source: '/services/messaging',
    organization,
    subject: message,
    data: {
      _id: message,
      patient: randomUUID(),
      channel: sent.channel,
      key: 'reminder',
      automated: true,
      appointment: null,
      reminder: null,
      offer: null,
      externalId: null,
      ...(sent.segments !== undefined ? { segments: sent.segments } : {}),
      ...(sent.voiceMinutes !== undefined ? { voiceMinutes: sent.voiceMinutes } : {}),
    },
    ...(options.id ? { id: options.id } : {}),
  });
}

async function publish(service: BillingUnderTest, ...events: ReturnType<typeof messageSent>[]) {
  await service.bus.publish(events.map((event) => ({ topic: messageSentV1.topic, key: event.data._id, value: JSON.stringify(event) })));
}

async function openAccount(service: BillingUnderTest, identity: Identity) {
  const response = await service.app.inject({ method: 'POST', url: '/api/billing', headers: await as(identity), payload: {} });
  expect(response.statusCode).toBe(200);
  return response.json() as { stripeCustomerId: string | null };
}

const meterEventsOf = (fake: StripeFake, customer: string) =>
  [...fake.meterEvents.values()].filter((event) => (event['payload'] as Record<string, string>)['stripe_customer_id'] === customer);

describe('metered texting: usage from message.sent, reported to Stripe once per record', () => {
  let fake: StripeFake;
  let service: BillingUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    fake = await startStripeFake();
    service = await startBilling('billing-usage', await kafkaBrokers(), {
      stripe: fake,
      deps: { usageReports: { meterEventName: METER, intervalMs: 100, backoffMs: 300 }, plans: PLANS },
    });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
    await fake?.close();
  });

  const records = async (organization: string) =>
    (await sql.query('SELECT * FROM usage_record WHERE organization = $1 ORDER BY channel', [organization])).rows as Array<
      Record<string, unknown>
    >;
  const reports = async (organization: string) =>
    (await sql.query('SELECT * FROM usage_report WHERE organization = $1', [organization])).rows as Array<Record<string, unknown>>;

  it('counts each message once however often its event comes, reports it to the meter once, and shows the month', async () => {
    const clinic = admin();
    const { stripeCustomerId } = await openAccount(service, clinic);
    const sms = messageSent(clinic.organization, { channel: 'sms', segments: 3 });
    const call = messageSent(clinic.organization, { channel: 'voice', voiceMinutes: 1 });
    const email = messageSent(clinic.organization, { channel: 'email' });
    // Delivered again (the same event), and announced again under another event id (a producer's retry): one record.
    await publish(
      service,
      sms,
      call,
      email,
      sms,
      messageSent(clinic.organization, { channel: 'sms', segments: 3 }, { message: sms.data._id }),
    );
    await waitFor(
      async () => Number((await sql.query("SELECT count(*) AS n FROM inbox WHERE consumer = 'billing.usage'")).rows[0].n) >= 4,
      { timeoutMs: 60_000, message: 'every distinct event handled' },
    );
    const counted = await records(clinic.organization);
    expect(counted.map((row) => [row['channel'], row['quantity'], row['message']])).toEqual([
      ['sms', 3, sms.data._id],
      ['voice', 1, call.data._id],
    ]);

    await waitFor(async () => (await reports(clinic.organization)).every((report) => report['reported_at'] !== null), {
      timeoutMs: 30_000,
      message: 'both records reported',
    });
    const events = meterEventsOf(fake, stripeCustomerId!);
    // One meter event per record: its id as the identifier, its quantity, at the time the message was sent.
    expect(
      events
        .map((event) => [
          event['identifier'],
          event['event_name'],
          (event['payload'] as Record<string, string>)['value'],
          event['timestamp'],
        ])
        .sort(),
    ).toEqual(
      counted.map((row) => [row['id'], METER, String(row['quantity']), Math.floor((row['occurred_at'] as Date).getTime() / 1000)]).sort(),
    );

    const account = await service.app.inject({ method: 'GET', url: '/api/billing', headers: await as(clinic) });
    expect(account.json().usage).toEqual({ period: usagePeriodOf(new Date()), smsSegments: 3, voiceMinutes: 1 });
  });

  it('reports each message to the meter of the plan the organization had when it was sent, else the configured one', async () => {
    const clinic = admin();
    const { stripeCustomerId } = await openAccount(service, clinic);
    const headers = await as(clinic);
    const subscribe = async (planId: string) => {
      const response = await service.app.inject({ method: 'POST', url: '/api/billing/subscriptions', headers, payload: { plan: planId } });
      expect(response.statusCode).toBe(200);
      return response.json() as { stripeSubscriptionId: string };
    };
    // A plan change is a cancellation (here Stripe ending the subscription) and a new subscription.
    const end = async (stripeSubscriptionId: string) => {
      const now = Math.floor(Date.now() / 1000);
      const object = { ...fake.subscriptions.get(stripeSubscriptionId)!, status: 'canceled', canceled_at: now, ended_at: now };
      const ended = await service.app.inject(
        signedWebhook(stripeEvent('customer.subscription.deleted', object, { created: Math.floor(Date.now() / 1000) + 5 })),
      );
      expect(ended.json().outcome).toBe('applied');
    };
    const sendAndReport = async (segments: number) => {
      const sent = messageSent(clinic.organization, { channel: 'sms', segments });
      await publish(service, sent);
      const record = await waitFor(
        async () =>
          (await sql.query('SELECT id FROM usage_record WHERE message = $1', [sent.data._id])).rows[0] as { id: string } | undefined,
        { timeoutMs: 60_000, message: 'the text counted' },
      );
      return waitFor(() => fake.meterEvents.get(record.id), { timeoutMs: 30_000, message: 'the text reported' });
    };

    const a = await subscribe('texting-a');
    expect((await sendAndReport(1))['event_name']).toBe('texting_meter_a');
    await end(a.stripeSubscriptionId);
    const b = await subscribe('texting-b');
    expect((await sendAndReport(2))['event_name']).toBe('texting_meter_b');
    await end(b.stripeSubscriptionId);
    // Between plans (b ended, none yet): the ended plan's meter no longer bills, the configured one does.
    expect((await sendAndReport(4))['event_name']).toBe(METER);
    await subscribe('providers-only');
    expect((await sendAndReport(3))['event_name']).toBe(METER);
    expect(
      meterEventsOf(fake, stripeCustomerId!).map((event) => [event['event_name'], (event['payload'] as Record<string, string>)['value']]),
    ).toEqual([
      ['texting_meter_a', '1'],
      ['texting_meter_b', '2'],
      [METER, '4'],
      [METER, '3'],
    ]);
  });

  it('keeps one organization’s usage from another', async () => {
    const [clinic, other] = [admin(), admin()];
    await openAccount(service, clinic);
    await openAccount(service, other);
    await publish(service, messageSent(other.organization, { channel: 'sms', segments: 2 }));
    await waitFor(async () => (await records(other.organization)).length === 1, { timeoutMs: 60_000, message: 'the other’s usage' });
    const mine = await service.app.inject({ method: 'GET', url: '/api/billing', headers: await as(clinic) });
    expect(mine.json().usage).toMatchObject({ smsSegments: 0, voiceMinutes: 0 });
    const theirs = await service.app.inject({ method: 'GET', url: '/api/billing', headers: await as(other) });
    expect(theirs.json().usage).toMatchObject({ smsSegments: 2, voiceMinutes: 0 });
  });

  it('retries a report Stripe refused, with backoff, and counts it once when it goes through', async () => {
    const clinic = admin();
    const { stripeCustomerId } = await openAccount(service, clinic);
    fake.failNext.push({ status: 500, type: 'api_error', message: 'Stripe is having a bad day.' });
    fake.failNext.push({ status: 429, type: 'rate_limit_error', message: 'Too many requests.' });
    await publish(service, messageSent(clinic.organization, { channel: 'sms', segments: 2 }));
    const report = await waitFor(async () => (await reports(clinic.organization)).find((row) => row['reported_at'] !== null), {
      timeoutMs: 60_000,
      message: 'the report, after two failures',
    });
    const [record] = await records(clinic.organization);
    expect(report).toMatchObject({ usage_record_id: record!['id'], attempts: 3, last_error: null });
    const sends = fake.requests.filter(
      (request) => request.path === '/v1/billing/meter_events' && request.params['identifier'] === record!['id'],
    );
    expect(sends).toHaveLength(3);
    expect(sends.every((request) => request.idempotencyKey === usageIdempotencyKey(String(record!['id'])))).toBe(true);
    expect(meterEventsOf(fake, stripeCustomerId!).map((event) => (event['payload'] as Record<string, string>)['value'])).toEqual(['2']);
  });

  it('holds the reports of an organization without a Stripe customer, and sends them once it has one', async () => {
    const clinic = admin();
    await publish(service, messageSent(clinic.organization, { channel: 'voice' }));
    const [record] = await waitFor(
      async () => {
        const rows = await records(clinic.organization);
        return rows.length === 1 ? rows : null;
      },
      { timeoutMs: 60_000, message: 'the call counted' },
    );
    // An event written before messaging named minutes counts one.
    expect(record).toMatchObject({ channel: 'voice', quantity: 1 });
    const { stripeCustomerId } = await openAccount(service, clinic);
    await waitFor(async () => (await reports(clinic.organization))[0]?.['reported_at'], { timeoutMs: 30_000, message: 'reported' });
    expect(meterEventsOf(fake, stripeCustomerId!).map((event) => event['identifier'])).toEqual([record!['id']]);
  });

  it('after a restart mid-report, sends the same meter event again and Stripe counts it once', async () => {
    const clinic = admin();
    // A replica that reports once and then only after a long backoff: its retry never comes before it stops.
    const first = await startBilling('billing-usage-restart', await kafkaBrokers(), {
      stripe: fake,
      deps: { usageReports: { meterEventName: METER, intervalMs: 100, backoffMs: 3_600_000 } },
    });
    let second: BillingUnderTest | null = null;
    const db = new pg.Client({ connectionString: first.databaseUrl });
    await db.connect();
    try {
      const { stripeCustomerId } = await openAccount(first, clinic);
      // Stripe takes the meter event, and its answer is lost, twice (the SDK resends once on a closed connection): the
      // replica cannot know it was counted.
      fake.loseNextAnswers = 2;
      await publish(first, messageSent(clinic.organization, { channel: 'sms', segments: 4 }));
      const pending = await waitFor(
        async () =>
          (await db.query('SELECT * FROM usage_report WHERE organization = $1 AND last_error IS NOT NULL', [clinic.organization])).rows[0],
        { timeoutMs: 60_000, message: 'the attempt whose answer was lost' },
      );
      expect(pending['reported_at']).toBeNull();
      expect(meterEventsOf(fake, stripeCustomerId!)).toHaveLength(1);
      await first.stop();
      // As if the backoff had run out while nothing was running.
      await db.query('UPDATE usage_report SET next_attempt_at = now() WHERE usage_record_id = $1', [pending['usage_record_id']]);

      second = await startBilling('billing-usage-restart', await kafkaBrokers(), {
        stripe: fake,
        databaseUrl: first.databaseUrl,
        topicPrefix: first.topicPrefix,
        deps: { usageReports: { meterEventName: METER, intervalMs: 100 } },
      });
      await waitFor(
        async () =>
          (await db.query('SELECT reported_at FROM usage_report WHERE usage_record_id = $1', [pending['usage_record_id']])).rows[0]
            .reported_at,
        { timeoutMs: 30_000, message: 'reported after the restart' },
      );
      const sends = fake.requests.filter(
        (request) => request.path === '/v1/billing/meter_events' && request.params['identifier'] === pending['usage_record_id'],
      );
      expect(sends.map((request) => request.replayed)).toEqual([false, true, true]);
      expect(meterEventsOf(fake, stripeCustomerId!).map((event) => (event['payload'] as Record<string, string>)['value'])).toEqual(['4']);
    } finally {
      await db.end();
      await second?.stop();
      await first.close();
    }
  }, 180_000);

  it('takes Stripe refusing a known identifier (its idempotency key long expired) as already reported', async () => {
    const clinic = admin();
    await publish(service, messageSent(clinic.organization, { channel: 'sms', segments: 1 }));
    const [record] = await waitFor(
      async () => {
        const rows = await records(clinic.organization);
        return rows.length === 1 ? rows : null;
      },
      { timeoutMs: 60_000, message: 'the text counted' },
    );
    const { stripeCustomerId } = await openAccount(service, clinic);
    // The report reached Stripe once before, under a key Stripe no longer keeps: only the identifier is left to dedupe.
    const stripe = new Stripe(fake.secretKey, { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
    await stripe.billing.meterEvents.create({
      event_name: METER,
      identifier: String(record!['id']),
      payload: { stripe_customer_id: stripeCustomerId!, value: '1' },
    });
    await waitFor(async () => (await reports(clinic.organization))[0]?.['reported_at'], { timeoutMs: 30_000, message: 'reported' });
    expect(meterEventsOf(fake, stripeCustomerId!)).toHaveLength(1);
    // Refused once, taken as reported at once: no retry, no error kept.
    expect((await reports(clinic.organization))[0]).toMatchObject({ attempts: 1, last_error: null });
    const sends = fake.requests.filter(
      (request) => request.path === '/v1/billing/meter_events' && request.params['identifier'] === record!['id'],
    );
    expect(sends).toHaveLength(2);
  });
});

describe('metered texting in the sandbox', () => {
  let service: BillingUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    service = await startBilling('billing-usage-sandbox', await kafkaBrokers(), { stripe: null });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  it('counts usage locally and queues nothing for Stripe', async () => {
    const clinic = admin();
    await openAccount(service, clinic);
    await publish(
      service,
      messageSent(clinic.organization, { channel: 'sms', segments: 2 }),
      messageSent(clinic.organization, { channel: 'voice', voiceMinutes: 1 }),
    );
    await waitFor(
      async () =>
        Number((await sql.query('SELECT count(*) AS n FROM usage_record WHERE organization = $1', [clinic.organization])).rows[0].n) === 2,
      { timeoutMs: 60_000, message: 'both counted' },
    );
    expect((await sql.query('SELECT count(*) AS n FROM usage_report')).rows[0].n).toBe('0');
    const account = await service.app.inject({ method: 'GET', url: '/api/billing', headers: await as(clinic) });
    expect(account.json()).toMatchObject({ status: 'sandbox', usage: { smsSegments: 2, voiceMinutes: 1 } });
  });
});
