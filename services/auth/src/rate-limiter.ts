import { createHash } from 'node:crypto';
import { HttpProblem } from '@pep/service-kit';
import type { PrismaClient } from './generated/prisma/client.js';

/** A limit: at most `limit` counted events per `windowSeconds` for one subject. */
export interface RateRule {
  name: string;
  limit: number;
  windowSeconds: number;
}

/** The limits this service enforces. */
export const RULES = {
  loginPerAccount: { name: 'login-account', limit: 5, windowSeconds: 15 * 60 },
  loginPerAddress: { name: 'login-address', limit: 20, windowSeconds: 15 * 60 },
  forgotPerAccount: { name: 'forgot-account', limit: 5, windowSeconds: 60 * 60 },
  forgotPerAddress: { name: 'forgot-address', limit: 20, windowSeconds: 15 * 60 },
  resetPerAddress: { name: 'reset-address', limit: 20, windowSeconds: 15 * 60 },
  signupPerAddress: { name: 'signup-address', limit: 20, windowSeconds: 60 * 60 },
  integratorLoginPerClient: { name: 'integrator-login-client', limit: 5, windowSeconds: 15 * 60 },
  integratorLoginPerAddress: { name: 'integrator-login-address', limit: 20, windowSeconds: 15 * 60 },
  acceptInvitePerAddress: { name: 'accept-invite-address', limit: 20, windowSeconds: 15 * 60 },
  patientCodePerAccount: { name: 'patient-code-account', limit: 5, windowSeconds: 60 * 60 },
  patientLoginPerAccount: { name: 'patient-login-account', limit: 5, windowSeconds: 15 * 60 },
  patientLoginPerAddress: { name: 'patient-login-address', limit: 20, windowSeconds: 15 * 60 },
  // A widget key is public and every visitor's browser logs in with it, so every login counts, not only failures.
  widgetLoginPerAddress: { name: 'widget-login-address', limit: 60, windowSeconds: 15 * 60 },
  // Every sample is a paid text to the salesperson's phone; a loop in sales tooling should not run up the bill.
  demoMessagePerAccount: { name: 'demo-message-account', limit: 30, windowSeconds: 60 * 60 },
} satisfies Record<string, RateRule>;

interface CounterRow {
  count: number;
  window_start: Date;
}

/**
 * Fixed-window counters in Postgres, so every replica sees the same counts. Subjects (e-mails, addresses)
 * are stored only as hashes.
 */
export class RateLimiter {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly clock: () => Date,
  ) {}

  /** Throws a 429 problem (with the seconds to wait) when the subject has used up the rule's window. */
  async check(rule: RateRule, subject: string): Promise<void> {
    const rows = await this.prisma.$queryRawUnsafe<CounterRow[]>(
      'SELECT "count", "window_start" FROM "rate_limit" WHERE "key" = $1',
      keyOf(rule, subject),
    );
    const row = rows[0];
    if (row) this.refuseWhenExceeded(rule, row, row.count >= rule.limit);
  }

  /** Counts one event, atomically across replicas; throws a 429 problem when this event went over the limit. */
  async hit(rule: RateRule, subject: string): Promise<void> {
    const now = this.clock();
    const rows = await this.prisma.$queryRawUnsafe<CounterRow[]>(
      `INSERT INTO "rate_limit" ("key", "window_start", "count") VALUES ($1, $2::timestamptz, 1)
       ON CONFLICT ("key") DO UPDATE SET
         "count" = CASE WHEN "rate_limit"."window_start" <= $2::timestamptz - make_interval(secs => $3::float8) THEN 1 ELSE "rate_limit"."count" + 1 END,
         "window_start" = CASE WHEN "rate_limit"."window_start" <= $2::timestamptz - make_interval(secs => $3::float8) THEN $2::timestamptz ELSE "rate_limit"."window_start" END
       RETURNING "count", "window_start"`,
      keyOf(rule, subject),
      now,
      rule.windowSeconds,
    );
    const row = rows[0];
    if (row) this.refuseWhenExceeded(rule, row, row.count > rule.limit);
  }

  /** Forgets a subject's count, e.g. the failed logins of an account that just logged in. */
  async reset(rule: RateRule, subject: string): Promise<void> {
    await this.prisma.$executeRawUnsafe('DELETE FROM "rate_limit" WHERE "key" = $1', keyOf(rule, subject));
  }

  /** Deletes counters whose window ended long ago. */
  async purge(olderThanSeconds = 86_400): Promise<void> {
    await this.prisma.$executeRawUnsafe(
      'DELETE FROM "rate_limit" WHERE "window_start" < $1::timestamptz',
      new Date(this.clock().getTime() - olderThanSeconds * 1000),
    );
  }

  private refuseWhenExceeded(rule: RateRule, row: CounterRow, exceeded: boolean): void {
    const endsAt = new Date(row.window_start).getTime() + rule.windowSeconds * 1000;
    const retryAfter = Math.ceil((endsAt - this.clock().getTime()) / 1000);
    if (exceeded && retryAfter > 0) {
      throw new HttpProblem(429, 'rate-limited', 'Too many attempts; try again later.', { retryAfter });
    }
  }
}

function keyOf(rule: RateRule, subject: string): string {
  return `${rule.name}:${createHash('sha256').update(subject).digest('base64url')}`;
}
