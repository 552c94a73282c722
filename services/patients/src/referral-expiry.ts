import { randomUUID } from 'node:crypto';
import type { Emit } from '@pep/db';
import { PeriodicTask, type Logger } from '@pep/service-kit';
import type { PatientsWork } from './events.js';
import type { Referral } from './generated/prisma/client.js';
import { canMove, changeStatus, OPEN_STATUSES } from './referral-status.js';

/** Tuning of a {@link ReferralExpiry}. */
export interface ReferralExpiryOptions {
  /** How often it looks for lapsed referrals; null to look only when {@link ReferralExpiry.runOnce} is called (tests). */
  intervalMs?: number | null | undefined;
  /** Referrals expired per transaction. */
  batchSize?: number;
}

/** The open statuses a referral expires from (a status the state machine keeps from expiring is never picked, so it cannot wedge a round). */
const EXPIRING = OPEN_STATUSES.filter((status) => canMove(status, 'expired'));

/** Defaults of the expiry: once a minute, 200 referrals a transaction. */
export const REFERRAL_EXPIRY_DEFAULTS = { intervalMs: 60_000, batchSize: 200 } as const;

/**
 * Moves open referrals (pending, active, called, called-late, incomplete) whose expireAt has come, by the service's
 * clock, to `expired` through changeStatus, so each publishes its referral.status-changed and outreach stops. Safe in
 * several replicas: a batch takes its rows `FOR UPDATE SKIP LOCKED`, so replicas share the work instead of waiting on
 * each other, and changeStatus writes only over the status it read.
 */
export class ReferralExpiry {
  private readonly batchSize: number;
  private readonly task: PeriodicTask;

  constructor(
    private readonly work: PatientsWork,
    private readonly clock: () => Date,
    private readonly logger: Logger,
    options: ReferralExpiryOptions = {},
  ) {
    this.batchSize = options.batchSize ?? REFERRAL_EXPIRY_DEFAULTS.batchSize;
    this.task = new PeriodicTask(
      () => this.sweep(),
      options.intervalMs === undefined ? REFERRAL_EXPIRY_DEFAULTS.intervalMs : options.intervalMs,
      (error) => this.logger.error({ err: { message: error.message } }, 'expiring referrals failed'),
    );
  }

  /** Looks for lapsed referrals on its own every `intervalMs` (unless that is null). */
  start(): void {
    this.task.start();
  }

  /** Stops looking and waits for a round in flight. */
  stop(): Promise<void> {
    return this.task.stop();
  }

  /** Expires every referral due now; answers how many it expired. */
  runOnce(): Promise<number> {
    return this.task.runOnce();
  }

  private async sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const { taken, expired } = await this.expireBatch();
      total += expired;
      if (taken < this.batchSize) break;
    }
    // Counts only: which referrals expired is in their events.
    if (total > 0) this.logger.info({ expired: total }, 'referrals past their expireAt expired');
    return total;
  }

  private async expireBatch(): Promise<{ taken: number; expired: number }> {
    const now = this.clock();
    // A round has no request behind it: each referral's event is traced by the referral itself.
    return this.work.run({ correlationId: randomUUID() }, async (tx, emit) => {
      const due = await tx.$queryRawUnsafe<Array<{ id: string }>>(
        `SELECT "id"::text AS "id" FROM "referral"
          WHERE "status" = ANY($1::text[]) AND "expire_at" <= $2::timestamptz AND "deleted_at" IS NULL
          ORDER BY "expire_at", "id" LIMIT $3 FOR UPDATE SKIP LOCKED`,
        EXPIRING,
        now.toISOString(),
        this.batchSize,
      );
      if (due.length === 0) return { taken: 0, expired: 0 };
      const referrals: Referral[] = await tx.referral.findMany({ where: { id: { in: due.map((row) => row.id) } }, orderBy: { id: 'asc' } });
      for (const referral of referrals) {
        const own: Emit = (definition, context) => emit(definition, { ...context, cause: { correlationId: referral.id } });
        await changeStatus(tx, own, referral, { to: 'expired', by: null });
      }
      return { taken: due.length, expired: referrals.length };
    });
  }
}
