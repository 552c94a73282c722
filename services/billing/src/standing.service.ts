import { billingAccessChangedV1, type BillingStanding } from '@pep/contracts';
import type { Emit } from '@pep/db';
import type { Logger } from '@pep/service-kit';
import type { BillingWork, Tx } from './events.js';
import type { BillingAccount, PrismaClient } from './generated/prisma/client.js';
import { mailFailure, type Mailer } from '@pep/service-kit';

const DAY_MS = 86_400_000;

/** How long a grace period lasts and when its reminder goes out. */
export interface GraceSettings {
  /** Days from a failed payment until the organization is suspended (default 14). */
  days: number;
  /** Days before the grace period's end at which the last reminder is mailed (default 3). */
  reminderDaysBefore: number;
}

/** The grace periods a tick looks at, at most, so one slow tick cannot hold everything up. */
const BATCH = 100;

/**
 * Access follows payment. A failed payment opens a grace period (full access until it ends, a notice and a late
 * reminder to the billing contact); its end suspends the organization; a successful payment restores it at once. Each
 * change is published as `billing.access-changed`, which auth turns into the organization's billing suspension.
 */
export class StandingService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: BillingWork,
    private readonly settings: GraceSettings,
    private readonly clock: () => Date,
    private readonly mailer: Mailer | null,
    private readonly logger: Logger,
  ) {}

  /**
   * A payment of the organization failed (a charge or invoice created at `chargeAt`): a grace period starts unless one
   * is running or the organization is suspended already. An outcome older than the one the standing came from is ignored.
   */
  async paymentFailed(tx: Tx, emit: Emit, organization: string, chargeAt: Date): Promise<void> {
    const account = await this.locked(tx, organization);
    if (!account) return;
    // Within one second a success stays the deciding outcome (Stripe's times are whole seconds).
    if (account.standingChargeAt && chargeAt <= account.standingChargeAt) return;
    if (account.standing !== 'good-standing') {
      await tx.billingAccount.update({ where: { organization }, data: { standingChargeAt: chargeAt } });
      return;
    }
    const now = this.clock();
    const graceEndsAt = new Date(now.getTime() + this.settings.days * DAY_MS);
    await tx.billingAccount.update({
      where: { organization },
      data: {
        standing: 'grace',
        standingChargeAt: chargeAt,
        graceStartedAt: now,
        graceEndsAt,
        suspendedAt: null,
        graceNoticeSentAt: null,
        graceReminderSentAt: null,
      },
    });
    this.publish(emit, organization, 'grace', graceEndsAt, now);
  }

  /** A payment of the organization succeeded: the grace period or suspension ends at once (unless a newer payment failed). */
  async paymentSucceeded(tx: Tx, emit: Emit, organization: string, chargeAt: Date): Promise<void> {
    const account = await this.locked(tx, organization);
    if (!account) return;
    if (account.standingChargeAt && chargeAt < account.standingChargeAt) return;
    await tx.billingAccount.update({
      where: { organization },
      data: {
        standing: 'good-standing',
        standingChargeAt: chargeAt,
        graceStartedAt: null,
        graceEndsAt: null,
        suspendedAt: null,
        graceNoticeSentAt: null,
        graceReminderSentAt: null,
      },
    });
    if (account.standing !== 'good-standing') this.publish(emit, organization, 'good-standing', null, this.clock());
  }

  /**
   * One pass of the background poller: mails each grace period's notice and late reminder, and suspends the
   * organizations whose grace period has ended. Safe to run in several replicas at once: each step claims its row.
   */
  async tick(): Promise<{ noticed: number; reminded: number; suspended: number }> {
    const now = this.clock();
    const result = { noticed: 0, reminded: 0, suspended: 0 };
    const ended = await this.prisma.billingAccount.findMany({
      where: { standing: 'grace', graceEndsAt: { lte: now } },
      select: { organization: true },
      take: BATCH,
    });
    for (const { organization } of ended) if (await this.suspend(organization, now)) result.suspended++;

    const unnoticed = await this.prisma.billingAccount.findMany({
      where: { standing: 'grace', graceNoticeSentAt: null, graceEndsAt: { gt: now } },
      take: BATCH,
    });
    for (const account of unnoticed) if (await this.mail(account, 'notice', now)) result.noticed++;

    const reminderFrom = new Date(now.getTime() + this.settings.reminderDaysBefore * DAY_MS);
    const unreminded = await this.prisma.billingAccount.findMany({
      where: {
        standing: 'grace',
        graceReminderSentAt: null,
        graceNoticeSentAt: { not: null },
        graceEndsAt: { gt: now, lte: reminderFrom },
      },
      take: BATCH,
    });
    for (const account of unreminded) if (await this.mail(account, 'reminder', now)) result.reminded++;
    return result;
  }

  private async suspend(organization: string, now: Date): Promise<boolean> {
    return this.work.run({ correlationId: `billing-grace-${organization}` }, async (tx, emit) => {
      // Conditional, so a payment that arrived meanwhile, or another replica's tick, wins over this one.
      const changed = await tx.billingAccount.updateMany({
        where: { organization, standing: 'grace', graceEndsAt: { lte: now } },
        data: { standing: 'suspended', suspendedAt: now },
      });
      if (changed.count === 0) return false;
      const account = await tx.billingAccount.findUniqueOrThrow({ where: { organization } });
      this.publish(emit, organization, 'suspended', account.graceEndsAt, now);
      return true;
    });
  }

  /**
   * Claims the mail (so one replica sends it), sends it, and gives the claim back when sending failed, so the next tick
   * tries again. A crash between sending and the claim's commit cannot repeat it; one after the claim loses that mail.
   */
  private async mail(account: BillingAccount, kind: 'notice' | 'reminder', now: Date): Promise<boolean> {
    const field = kind === 'notice' ? 'graceNoticeSentAt' : 'graceReminderSentAt';
    const claimed = await this.prisma.billingAccount.updateMany({
      where: { organization: account.organization, standing: 'grace', graceStartedAt: account.graceStartedAt, [field]: null },
      data: { [field]: now },
    });
    if (claimed.count === 0) return false;
    const log = { organization: account.organization, mail: `grace-${kind}` };
    if (!account.billingEmail || !this.mailer) {
      this.logger.warn(
        log,
        account.billingEmail ? 'no mail transport configured: grace mail not sent' : 'no billing e-mail: grace mail not sent',
      );
      return false;
    }
    try {
      await this.mailer.send(graceMail(kind, account.billingEmail, account.graceEndsAt!));
      this.logger.info(log, 'grace mail sent');
      return true;
    } catch (error) {
      this.logger.warn({ ...log, err: mailFailure(error) }, 'grace mail not sent; retried on the next tick');
      await this.prisma.billingAccount.updateMany({ where: { organization: account.organization, [field]: now }, data: { [field]: null } });
      return false;
    }
  }

  private async locked(tx: Tx, organization: string): Promise<BillingAccount | null> {
    // Serializes a payment's outcome with the poller's suspension of the same organization.
    await tx.$queryRaw`SELECT organization FROM billing_account WHERE organization = ${organization}::uuid FOR UPDATE`;
    return tx.billingAccount.findUnique({ where: { organization } });
  }

  private publish(emit: Emit, organization: string, standing: BillingStanding, graceEndsAt: Date | null, now: Date): void {
    emit(billingAccessChangedV1, {
      organization,
      subject: organization,
      time: now,
      data: { _id: organization, standing, graceEndsAt: graceEndsAt?.toISOString() ?? null },
    });
  }
}

/** The notice at a grace period's start and the reminder before its end; no amounts or card details, only what to do. */
export function graceMail(kind: 'notice' | 'reminder', to: string, graceEndsAt: Date) {
  const day = graceEndsAt.toISOString().slice(0, 10);
  const fix =
    'To keep full access, pay the outstanding invoice or update the payment method in the billing settings ' +
    '(PUT /api/billing with a new default payment method); the payment is retried with it.';
  return kind === 'notice'
    ? {
        to,
        subject: 'A payment failed: please update your payment method',
        text: `A payment for your organization failed. Everything keeps working until ${day} (UTC). ${fix}\n\nAfter that date your organization can still read and export its data, but cannot change anything until the payment succeeds.`,
      }
    : {
        to,
        subject: `Reminder: your organization becomes read-only on ${day}`,
        text: `A payment for your organization is still outstanding. On ${day} (UTC) your organization becomes read-only. ${fix}`,
      };
}
