import { randomUUID } from 'node:crypto';
import type { EventEnvelope, messageSentV1 } from '@pep/contracts';
import type { z } from 'zod';
import type { BillingWork, Tx } from './events.js';
import type { PrismaClient } from './generated/prisma/client.js';

/** The calendar month (UTC) a moment counts in, `YYYY-MM`: usage is aggregated per organization and month. */
export function usagePeriodOf(at: Date): string {
  return `${at.getUTCFullYear()}-${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** An organization's counted usage of one period, as `GET /api/billing` answers it. */
export interface UsageView {
  period: string;
  smsSegments: number;
  voiceMinutes: number;
}

/**
 * Metered texting: each SMS segment and voice minute messaging sent, one record per message, and (when Stripe is
 * configured) a report of it waiting for the usage reporter. In the sandbox usage is only counted here.
 */
export class UsageService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: BillingWork,
    /** Whether usage is reported to Stripe (false in the sandbox). */
    private readonly reportsToStripe: boolean,
    private readonly clock: () => Date,
  ) {}

  /**
   * Records what a sent message costs, in the handler's inbox transaction. A message counted already (the event
   * delivered again, or announced twice) adds nothing; an e-mail is not usage. An event written before messaging named
   * segments or minutes counts as one.
   */
  async record(event: EventEnvelope<z.output<typeof messageSentV1.data>>, correlationId: string): Promise<void> {
    const { data } = event;
    if (data.channel === 'email') return;
    const quantity = (data.channel === 'sms' ? data.segments : data.voiceMinutes) ?? 1;
    const occurredAt = new Date(event.time);
    await this.work.run({ correlationId }, async (tx: Tx) => {
      const id = randomUUID();
      const { count } = await tx.usageRecord.createMany({
        data: [
          {
            id,
            organization: event.organization,
            message: data._id,
            channel: data.channel,
            quantity,
            period: usagePeriodOf(occurredAt),
            occurredAt,
          },
        ],
        skipDuplicates: true,
      });
      if (count === 1 && this.reportsToStripe)
        await tx.usageReport.create({ data: { usageRecordId: id, organization: event.organization } });
    });
  }

  /** The organization's usage of the current month (the service's clock). */
  async current(organization: string): Promise<UsageView> {
    const period = usagePeriodOf(this.clock());
    const sums = await this.prisma.usageRecord.groupBy({
      by: ['channel'],
      where: { organization, period },
      _sum: { quantity: true },
    });
    const of = (channel: string) => sums.find((sum) => sum.channel === channel)?._sum.quantity ?? 0;
    return { period, smsSegments: of('sms'), voiceMinutes: of('voice') };
  }
}
