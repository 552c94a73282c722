import { randomUUID } from 'node:crypto';
import { PeriodicTask, type Logger } from '@pep/service-kit';
import Stripe from 'stripe';
import type { BillingWork } from './events.js';
import type { Plan } from './plans.js';

/** How the usage reporter runs. */
export interface UsageReporterOptions {
  /**
   * The Stripe meter's `event_name` usage is reported under when the organization's plan names none (no subscription
   * when the message was sent, a plan without texting, or one made at Stripe outside billing).
   */
  meterEventName: string;
  /** How often it looks for reports due; null to report only when {@link UsageReporter.runOnce} is called. */
  intervalMs?: number | null;
  /** Reports claimed per round. */
  batchSize?: number;
  /** How long a claimed report is left to its replica before another may send it again (longer than a Stripe call and its retries). */
  leaseMs?: number;
  /** The wait after a first failure, doubled after each further one up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/** Defaults of the reporter: every 10 s, 100 at a time, a 2-minute lease, backoff from 10 s to an hour. */
export const USAGE_REPORTER_DEFAULTS = {
  intervalMs: 10_000,
  batchSize: 100,
  leaseMs: 120_000,
  backoffMs: 10_000,
  maxBackoffMs: 3_600_000,
} as const;

/** The Stripe idempotency key of one usage record's meter event: a resend is answered with Stripe's first answer. */
export const usageIdempotencyKey = (usageRecord: string) => `billing-usage-${usageRecord}`;

interface Claimed {
  id: string;
  organization: string;
  quantity: number;
  occurred_at: Date;
  stripe_customer_id: string;
  attempts: number;
  /** The plan of the organization's subscription when the message was sent, if it had one. */
  plan: string | null;
}

/**
 * Whether Stripe refused the meter event because it has one with this identifier: it was reported before. Stripe answers
 * that synchronously with 400 `invalid_request_error`, no `code` or `param`, and the message "An event already exists
 * with identifier <id>." (observed against Stripe, quoted in langfuse/langfuse#16292; the API reference only promises
 * uniqueness "within a rolling period of at least 24 hours"), so the message is what tells it apart from other refusals.
 */
function alreadyAtStripe(error: unknown, identifier: string): boolean {
  return (
    error instanceof Stripe.errors.StripeInvalidRequestError &&
    // The SDK puts the request id before Stripe's message.
    error.message.includes(`An event already exists with identifier ${identifier}`)
  );
}

/**
 * Reports usage records to Stripe as meter events, each exactly once: it claims due reports (a lease, so replicas never
 * send one at the same time), sends each with `identifier` = the usage record id and an idempotency key derived from it,
 * and marks it reported after Stripe accepted it. A crash between Stripe's acceptance and the mark sends it again after
 * the lease, and Stripe answers the same key (or identifier) without counting it twice. A failure is retried with backoff.
 * Only reports of organizations with a Stripe customer are sent; the others wait for their account. Each goes to the meter
 * of the plan the organization was subscribed to when the message was sent.
 */
export class UsageReporter {
  private readonly options: Required<UsageReporterOptions>;
  private readonly task: PeriodicTask;

  constructor(
    private readonly work: BillingWork,
    private readonly stripe: Stripe,
    private readonly logger: Logger,
    options: UsageReporterOptions,
    /** The configured plans, whose `texting.meterEventName` each record is reported under. */
    private readonly plans: ReadonlyArray<Plan> = [],
  ) {
    this.options = {
      ...USAGE_REPORTER_DEFAULTS,
      ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)),
    } as Required<UsageReporterOptions>;
    this.task = new PeriodicTask(
      () => this.drain(),
      this.options.intervalMs,
      (error) => this.logger.error({ err: { message: error.message } }, 'reporting usage failed'),
    );
  }

  /** Reports on its own every `intervalMs` (unless that is null). */
  start(): void {
    this.task.start();
  }

  /** Stops reporting and waits for a round in flight. */
  stop(): Promise<void> {
    return this.task.stop();
  }

  /** Sends every report due now; answers how many Stripe accepted. */
  runOnce(): Promise<number> {
    return this.task.runOnce();
  }

  private async drain(): Promise<number> {
    let reported = 0;
    for (;;) {
      const claimed = await this.claim();
      for (const report of claimed) if (await this.send(report)) reported += 1;
      if (claimed.length < this.options.batchSize) return reported;
    }
  }

  private claim(): Promise<Claimed[]> {
    return this.work.run({ correlationId: randomUUID() }, (tx) =>
      tx.$queryRawUnsafe<Claimed[]>(
        `WITH due AS (
           SELECT r."usage_record_id" FROM "usage_report" r
           JOIN "billing_account" a ON a."organization" = r."organization" AND a."stripe_customer_id" IS NOT NULL
           WHERE r."reported_at" IS NULL AND r."next_attempt_at" <= now()
           ORDER BY r."next_attempt_at" LIMIT $1 FOR UPDATE OF r SKIP LOCKED)
         UPDATE "usage_report" r SET "next_attempt_at" = now() + make_interval(secs => $2::double precision), "attempts" = r."attempts" + 1
         FROM due, "usage_record" u, "billing_account" a
         WHERE r."usage_record_id" = due."usage_record_id" AND u."id" = r."usage_record_id" AND a."organization" = r."organization"
         RETURNING u."id", u."organization", u."quantity", u."occurred_at", a."stripe_customer_id", r."attempts",
           -- The subscription in force when the message was sent bills it: a plan changed since reports to its own meter,
           -- and usage after a cancellation goes to the default meter, not to the ended plan's.
           (SELECT s."plan" FROM "subscription" s WHERE s."organization" = r."organization" AND s."created_at" <= u."occurred_at"
              AND NOT (s."status" IN ('canceled', 'incomplete_expired') AND u."occurred_at" >= COALESCE(
                CASE WHEN s."cancel_at_period_end" THEN s."current_period_end" END, s."canceled_at", s."state_at"))
            ORDER BY s."created_at" DESC LIMIT 1) AS "plan"`,
        this.options.batchSize,
        this.options.leaseMs / 1_000,
      ),
    );
  }

  private async send(report: Claimed): Promise<boolean> {
    try {
      await this.stripe.billing.meterEvents.create(
        {
          event_name: this.meterOf(report.plan),
          identifier: report.id,
          timestamp: Math.floor(report.occurred_at.getTime() / 1_000),
          payload: { stripe_customer_id: report.stripe_customer_id, value: String(report.quantity) },
        },
        { idempotencyKey: usageIdempotencyKey(report.id) },
      );
    } catch (error) {
      if (!alreadyAtStripe(error, report.id)) {
        await this.failed(report, error);
        return false;
      }
    }
    await this.work.run({ correlationId: randomUUID() }, (tx) =>
      tx.usageReport.update({ where: { usageRecordId: report.id }, data: { reportedAt: new Date(), lastError: null } }),
    );
    return true;
  }

  /** The meter of the plan's texting price, else the configured one. */
  private meterOf(plan: string | null): string {
    return this.plans.find((candidate) => candidate.id === plan)?.texting?.meterEventName ?? this.options.meterEventName;
  }

  private async failed(report: Claimed, error: unknown): Promise<void> {
    const stripeError = error instanceof Stripe.errors.StripeError ? error : null;
    const reason = stripeError ? [stripeError.type, stripeError.code, stripeError.message].filter(Boolean).join(': ') : String(error);
    const wait = Math.min(this.options.backoffMs * 2 ** Math.max(0, report.attempts - 1), this.options.maxBackoffMs);
    await this.work.run({ correlationId: randomUUID() }, (tx) =>
      tx.$executeRawUnsafe(
        `UPDATE "usage_report" SET "next_attempt_at" = now() + make_interval(secs => $2::double precision), "last_error" = $3
         WHERE "usage_record_id" = $1::uuid AND "reported_at" IS NULL`,
        report.id,
        wait / 1_000,
        reason.slice(0, 500),
      ),
    );
    // Ids and Stripe's reason only; a meter event carries no PHI.
    this.logger.warn(
      { usageRecord: report.id, organization: report.organization, attempts: report.attempts, retryInMs: wait, reason },
      'reporting usage to Stripe failed; retried later',
    );
  }
}
