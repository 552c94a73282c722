import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { HttpProblem, type ControllableClock, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import { advanceClock, parseDuration, SANDBOX_TOKEN_FILE } from './sandbox.js';

/** What the sandbox routes act on. */
export interface SandboxOptions {
  dataDir: string;
  /** Scheduling's and messaging's clock; auth keeps real time, so access tokens stay valid across a move. */
  clock: ControllableClock;
  /** The token a caller must send in `x-sandbox-token` to change anything. */
  token: string;
  /** One round of messaging's reminder dispatcher; answers how many reminders it claimed. */
  sendDue: () => Promise<number>;
  /** When messaging's next planned text is due, or null when none is planned. */
  nextDue: () => Promise<Date | null>;
  /** Billing's loopback URL and its sandbox webhook secret, for the charge hook. */
  billing?: { url: string; webhookSecret: string };
}

/** The sandbox's test payment methods, named as Stripe's: one that is charged, one whose charge is declined. */
export const SANDBOX_PAYMENT_METHODS = { pm_card_visa: 'succeeded', pm_card_chargeDeclined: 'failed' } as const;

/** Header carrying the sandbox token. */
export const SANDBOX_TOKEN_HEADER = 'x-sandbox-token';

// A year is more than any reminder offset or offer lifetime; a typo like 1400d is refused instead of taking the clock there.
const MAX_ADVANCE_MS = 366 * 86_400_000;
// Each round sends a batch; enough rounds for anything a developer plans by hand, bounded so a request always ends.
const MAX_ROUNDS = 50;

const clockState = z.object({
  now: z.string().describe('What scheduling and messaging read as now.'),
  offsetMs: z.number().describe('How far that is ahead of real time.'),
});
const afterSending = clockState.extend({
  sent: z.number().int().describe('Reminders, offer texts and acknowledgements the dispatcher claimed and sent.'),
});
const afterNext = afterSending.extend({
  nextDue: z.string().nullable().describe('When the text moved to was due; null when nothing was planned (the clock stays).'),
});
const chargeBody = z
  .object({
    organization: z.uuid().describe('The organization whose payment this is.'),
    paymentMethod: z
      .enum(Object.keys(SANDBOX_PAYMENT_METHODS) as [keyof typeof SANDBOX_PAYMENT_METHODS])
      .describe('pm_card_visa succeeds, pm_card_chargeDeclined fails.'),
    amount: z.number().int().positive().max(100_000_000).default(4900).describe('In cents.'),
  })
  .strict();
const advanceBody = z
  .object({ advance: z.string().describe('How far to move the clock forward: minutes, hours or days, e.g. 90m, 14h, 2d.') })
  .strict();

/**
 * The embedded runtime's sandbox, on its gateway only (never in the distributed gateway or any service):
 * `GET /sandbox/clock`, `POST /sandbox/clock {advance}`, `POST /sandbox/next`, `POST /sandbox/send-due` and
 * `POST /sandbox/billing/charge {organization, paymentMethod}`. Outside `/api` and hidden from
 * the OpenAPI document; changes need the token from the data folder.
 */
export function registerSandboxRoutes(app: ServiceApp, options: SandboxOptions): void {
  const state = () => ({ now: options.clock().toISOString(), offsetMs: options.clock.offsetMs() });
  const requireToken = (sent: string | string[] | undefined) => {
    const expected = Buffer.from(options.token);
    const given = Buffer.from(typeof sent === 'string' ? sent : '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new HttpProblem(
        403,
        'sandbox-token',
        `Send ${SANDBOX_TOKEN_HEADER} with the token in the platform's data folder (${SANDBOX_TOKEN_FILE}); npm run sandbox does.`,
      );
    }
  };
  const sendAllDue = async () => {
    let sent = 0;
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      const claimed = await options.sendDue();
      sent += claimed;
      if (claimed === 0) break;
    }
    return sent;
  };

  app.get('/sandbox/clock', { schema: { hide: true, response: { 200: clockState } } }, async () => state());

  app.post('/sandbox/clock', { schema: { hide: true, body: advanceBody, response: { 200: afterSending } } }, async (request) => {
    requireToken(request.headers[SANDBOX_TOKEN_HEADER]);
    const byMs = parseDuration(request.body.advance);
    if (byMs === null || byMs <= 0 || byMs > MAX_ADVANCE_MS) {
      throw new HttpProblem(
        400,
        'validation',
        'advance must be a positive duration of at most 366 days in minutes, hours or days, e.g. 90m, 14h or 2d.',
        {
          errors: [{ field: 'advance', message: 'e.g. 90m, 14h or 2d; the clock only moves forward' }],
        },
      );
    }
    await advanceClock(options.dataDir, options.clock, byMs);
    return { ...state(), sent: await sendAllDue() };
  });

  // To the next planned text rather than by a fixed amount: it is inside the allowed hours, so what the developer does
  // next (an offer text, say) is not held by quiet hours either.
  app.post('/sandbox/next', { schema: { hide: true, response: { 200: afterNext } } }, async (request) => {
    requireToken(request.headers[SANDBOX_TOKEN_HEADER]);
    const due = await options.nextDue();
    const ahead = due ? due.getTime() - options.clock().getTime() : 0;
    if (ahead > MAX_ADVANCE_MS)
      throw new HttpProblem(409, 'too-far', `The next planned text is due at ${due!.toISOString()}, more than 366 days ahead.`);
    if (ahead > 0) await advanceClock(options.dataDir, options.clock, ahead);
    return { ...state(), sent: await sendAllDue(), nextDue: due?.toISOString() ?? null };
  });

  // A payment without Stripe: a charge event as Stripe would send it, signed with billing's sandbox secret and posted to
  // billing's own webhook, so grace, suspension and lift take the same path as in production. Created at the sandbox
  // clock's time (so it orders after what came before a clock move); signed at real time (the signature's tolerance).
  app.post('/sandbox/billing/charge', { schema: { hide: true, body: chargeBody } }, async (request, reply) => {
    requireToken(request.headers[SANDBOX_TOKEN_HEADER]);
    if (!options.billing) throw new HttpProblem(404, 'not-found', 'Billing does not run in this platform.');
    const { organization, paymentMethod, amount } = request.body;
    const outcome = SANDBOX_PAYMENT_METHODS[paymentMethod];
    const created = Math.floor(options.clock().getTime() / 1000);
    const charge = {
      id: `ch_sandbox_${randomUUID().replace(/-/g, '')}`,
      object: 'charge',
      amount,
      currency: 'usd',
      created,
      customer: null,
      payment_method: paymentMethod,
      status: outcome,
      failure_code: outcome === 'failed' ? 'card_declined' : null,
      failure_message: outcome === 'failed' ? 'Your card was declined (sandbox test payment method).' : null,
      metadata: { organization },
      livemode: false,
    };
    const event = {
      id: `evt_sandbox_${randomUUID().replace(/-/g, '')}`,
      object: 'event',
      type: `charge.${outcome}`,
      created,
      api_version: null,
      livemode: false,
      data: { object: charge },
    };
    const payload = JSON.stringify(event);
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = createHmac('sha256', options.billing.webhookSecret).update(`${timestamp}.${payload}`).digest('hex');
    const response = await fetch(`${options.billing.url}/api/callback/stripe/charges`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': `t=${timestamp},v1=${signature}` },
      body: payload,
    });
    reply.code(response.status);
    return { charge: charge.id, status: outcome, billing: await response.json() };
  });

  app.post('/sandbox/send-due', { schema: { hide: true, response: { 200: afterSending } } }, async (request) => {
    requireToken(request.headers[SANDBOX_TOKEN_HEADER]);
    return { ...state(), sent: await sendAllDue() };
  });
}
