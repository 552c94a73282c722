import { createEvent, reminderSentV1 } from '@pep/contracts';
import type { Logger } from '@pep/service-kit';
import { isDemoSample } from './demo-samples.js';
import { SOURCE } from './events.js';
import type { PrismaClient, Reminder } from './generated/prisma/client.js';
import { addressFor, type Channel, type Outbound } from './outbound.js';
import { OFFER_KEYS, OFFER_PARALLEL, OFFER_TEXT, OFFER_TEXTS } from './offer-handlers.js';
import { QuotaExceeded, type SendQuota } from './quota.js';
import { CANCELLATION_ACK, CONFIRMATION_ACK, SYSTEM_USER } from './reminder-planner.js';
import { isAllowed, nextAllowed } from './send-time.js';
import { messagingSettings } from './settings.js';
import { contextFor, render, variablesOf, wordingFor } from './templates.js';
import { planWaitlistInvite, WAITLIST_INVITE, WAITLIST_JOINED } from './waitlist-texts.js';

/** Tuning of a {@link ReminderDispatcher}. */
export interface DispatcherOptions {
  /** Reminders claimed (and sent concurrently) per round. */
  batchSize?: number;
  /**
   * How long a claim holds. A reminder claimed longer ago (its sender died mid-send) is claimed again: at most one
   * sender holds a reminder at a time, and one that crashed before recording its send may send it twice, never zero
   * times.
   */
  leaseMs?: number;
  /** Attempts before a reminder that keeps failing is given up. */
  maxAttempts?: number;
  /** Poll interval in production; null to send only when {@link ReminderDispatcher.runOnce} is called. */
  intervalMs?: number | null;
}

const RETRY_BASE_MS = 60_000;
// Texts that are about an appointment's cancellation, so they still go once it is cancelled.
const ABOUT_CANCELLED = new Set([CANCELLATION_ACK, WAITLIST_INVITE, WAITLIST_JOINED]);
// Counters of past quota windows are pruned at most this often per replica.
const PRUNE_EVERY_MS = 10 * 60_000;

/** What a held-back message is, for operators: the label of `messaging_quota_deferred_total`. */
function kindOf(reminder: Reminder): 'reminder' | 'offer' | 'acknowledgement' | 'planned' {
  const key = reminder.messageTemplate;
  if (key && OFFER_KEYS.has(key)) return 'offer';
  if (key === CONFIRMATION_ACK || (key !== null && ABOUT_CANCELLED.has(key))) return 'acknowledgement';
  // Staff's hand-planned reminders and demo messages are planned by a person, not by the platform.
  return reminder.createdBy === SYSTEM_USER ? 'reminder' : 'planned';
}

/**
 * Sends due reminders. Reminders are rows, so nothing is lost while the service is down: the first round after a
 * start sends what fell due meanwhile. Rounds claim due rows with `FOR UPDATE SKIP LOCKED` and mark them `queued` in
 * one short transaction, then send outside it; so replicas on one database never take the same reminder, and no
 * database connection waits on a vendor.
 */
export class ReminderDispatcher {
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly maxAttempts: number;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<number> | null = null;
  private stopped = true;
  private prunedAt = 0;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly outbound: Outbound,
    private readonly quota: SendQuota,
    private readonly clock: () => Date,
    private readonly logger: Logger,
    private readonly options: DispatcherOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 10;
    this.leaseMs = options.leaseMs ?? 5 * 60_000;
    this.maxAttempts = options.maxAttempts ?? 5;
  }

  /** Starts polling (unless polling is off). */
  start(): void {
    if (this.options.intervalMs === null) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops polling and waits for the round in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.round?.catch(() => undefined);
  }

  /** One round: claims up to a batch of due reminders and sends them; answers how many it claimed. */
  runOnce(): Promise<number> {
    // Rounds of one dispatcher never overlap; a caller during a round waits for it.
    this.round ??= this.claimAndSend().finally(() => {
      this.round = null;
    });
    return this.round;
  }

  /** When the next round will have something to send: the earliest send (or retry) time still planned, or null when none is. */
  async nextDue(): Promise<Date | null> {
    const [row] = await this.prisma.$queryRawUnsafe<Array<{ at: Date | null }>>(
      `SELECT min(COALESCE("retry_at", "send_at")) AS "at" FROM "reminder" WHERE NOT "deleted" AND "status" = 'scheduled'`,
    );
    return row?.at ? new Date(row.at) : null;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.runOnce().then(
        // A full batch means more may be due: go again at once.
        (claimed) => this.schedule(claimed >= this.batchSize ? 0 : (this.options.intervalMs ?? 5_000)),
        (error: unknown) => {
          this.logger.error({ err: { message: (error as Error).message } }, 'reminder round failed');
          this.schedule(this.options.intervalMs ?? 5_000);
        },
      );
    }, delayMs);
  }

  private async claimAndSend(): Promise<number> {
    const now = this.clock();
    const claimed = await this.prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRawUnsafe<Array<{ id: string }>>(
        `SELECT "id" FROM "reminder"
         WHERE NOT "deleted"
           AND (("status" = 'scheduled' AND COALESCE("retry_at", "send_at") <= $1::timestamptz)
             OR ("status" = 'queued' AND "claimed_at" <= $2::timestamptz))
         ORDER BY "send_at"
         LIMIT $3
         FOR UPDATE SKIP LOCKED`,
        now.toISOString(),
        new Date(now.getTime() - this.leaseMs).toISOString(),
        this.batchSize,
      );
      if (rows.length === 0) return [];
      const ids = rows.map((row) => row.id);
      await tx.reminder.updateMany({ where: { id: { in: ids } }, data: { status: 'queued', claimedAt: now, attempts: { increment: 1 } } });
      return tx.reminder.findMany({ where: { id: { in: ids } } });
    });
    await Promise.all(
      claimed.map((reminder) =>
        this.deliver(reminder, now).catch((error: unknown) => {
          // Left queued: the lease runs out and a later round takes it again.
          this.logger.error({ err: { message: (error as Error).message }, reminderId: reminder.id }, 'reminder not sent');
        }),
      ),
    );
    if (now.getTime() - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prunedAt = now.getTime();
      // Housekeeping after the sends, so a failure here never holds a reminder back.
      await this.quota.prune().catch((error: unknown) => this.logger.error({ err: { message: (error as Error).message } }, 'pruning send quota counters failed'));
    }
    return claimed.length;
  }

  /** Changes the reminder only while this round's claim holds. */
  private async settle(
    reminder: Reminder,
    data: { status: 'scheduled' | 'skipped' | 'blocked'; statusReason: string | null; retryAt?: Date | null; attempts?: { decrement: number } },
  ) {
    await this.prisma.reminder.updateMany({ where: { id: reminder.id, status: 'queued', claimedAt: reminder.claimedAt }, data: { ...data, updatedBy: SYSTEM_USER } });
  }

  private async deliver(reminder: Reminder, now: Date): Promise<void> {
    const { organization } = reminder;
    const [appointment, contact] = await Promise.all([
      reminder.appointment ? this.prisma.appointment.findFirst({ where: { id: reminder.appointment, organization } }) : null,
      this.prisma.patientContact.findFirst({ where: { id: reminder.patient, organization } }),
    ]);
    const cancelled = appointment !== null && (appointment.deleted || appointment.status === 'cancelled');
    if (cancelled && !ABOUT_CANCELLED.has(reminder.messageTemplate ?? '')) return this.settle(reminder, { status: 'skipped', statusReason: 'appointment-cancelled' });
    if (appointment && appointment.date <= now) return this.settle(reminder, { status: 'skipped', statusReason: 'appointment-passed' });
    if (OFFER_TEXTS.includes(reminder.messageTemplate ?? '')) {
      // An offer texted after it lapsed or was taken would invite a YES that can only be refused.
      const offer = reminder.offer ? await this.prisma.offer.findFirst({ where: { id: reminder.offer, organization } }) : null;
      if (!offer || offer.status !== 'in-progress' || offer.expireAt <= now) return this.settle(reminder, { status: 'skipped', statusReason: 'offer-closed' });
    }
    if (!contact) {
      // Patients' events may trail scheduling's: wait for the contact a few times before giving up.
      if (reminder.attempts >= this.maxAttempts) return this.settle(reminder, { status: 'skipped', statusReason: 'patient-unknown' });
      return this.settle(reminder, { status: 'scheduled', statusReason: 'patient-unknown', retryAt: new Date(now.getTime() + RETRY_BASE_MS) });
    }
    if (contact.deleted) return this.settle(reminder, { status: 'skipped', statusReason: 'patient-deleted' });
    if (contact.doNotContact || contact.optedOutAt) return this.settle(reminder, { status: 'blocked', statusReason: 'do-not-contact' });

    const settings = await messagingSettings(this.prisma, organization);
    const facility = reminder.facility ? await this.prisma.facility.findFirst({ where: { id: reminder.facility, organization } }) : null;
    const timeZone = facility?.timeZone ?? appointment?.timeZone ?? null;
    // A reminder that fell due while the service was down, or was retried, still waits for the allowed hours.
    if (timeZone && !reminder.forcedTime && !isAllowed(now, timeZone, settings.allowed)) {
      return this.settle(reminder, { status: 'scheduled', statusReason: null, retryAt: nextAllowed(now, timeZone, settings.allowed) });
    }

    const channel: Channel | null = reminder.channel ?? (contact.phone ? 'sms' : contact.email ? 'email' : null);
    const to = channel ? addressFor(channel, contact) : null;
    if (!channel || !to) return this.settle(reminder, { status: 'skipped', statusReason: 'no-contact-details' });

    const key = reminder.messageTemplate ?? 'reminder';
    const wording = await wordingFor(this.prisma, organization, key, contact.language);
    const variables = variablesOf(await contextFor(this.prisma, organization, { patient: contact.id, appointment: reminder.appointment, offer: reminder.offer, help: settings.helpText }), contact.language);
    const text = render(reminder.text ?? wording?.text ?? '', variables);
    const subject = render(wording?.subject ?? 'Appointment reminder', variables);

    try {
      await this.send(reminder, { channel, to, text, subject, key, language: contact.language, patient: contact.id }, now);
    } catch (error) {
      if (!(error instanceof QuotaExceeded)) throw error;
      await this.defer(reminder, error);
    }
  }

  /**
   * Holds back a message the send quota refused: it stays due, its next attempt moved to when the window frees, and
   * operators hear of it (a warning and `messaging_quota_deferred_total`). The wait is not a failed attempt.
   */
  private async defer(reminder: Reminder, exceeded: QuotaExceeded): Promise<void> {
    const kind = kindOf(reminder);
    const limit = `${exceeded.limit.scope}-${exceeded.limit.window}`;
    this.quota.deferred(kind, exceeded);
    this.logger.warn(
      { reminderId: reminder.id, organization: reminder.organization, kind, limit, max: exceeded.limit.max, retryAt: exceeded.freesAt.toISOString() },
      'send quota reached: message deferred until the window frees',
    );
    await this.settle(reminder, { status: 'scheduled', statusReason: `quota:${limit}`, retryAt: exceeded.freesAt, attempts: { decrement: 1 } });
  }

  /** Sends the reminder as rendered and records the outcome while this round's claim holds. */
  private async send(
    reminder: Reminder,
    rendered: { channel: Channel; to: string; text: string; subject: string; key: string; language: string; patient: string },
    now: Date,
  ): Promise<void> {
    const { organization } = reminder;
    const { channel, to, text, subject, key } = rendered;
    await this.outbound.send(
      {
        organization,
        patient: rendered.patient,
        channel,
        text,
        subject,
        language: rendered.language,
        // A parallel offer's text is an offer all the same: replies, calls and e-mail links find it by that key.
        // A demo sample's text is its wording, not staff's, so the sample's name stays its key.
        key: reminder.text && !isDemoSample(key) ? null : key === OFFER_PARALLEL ? OFFER_TEXT : key,
        automated: true,
        appointment: reminder.appointment,
        reminder: reminder.id,
        offer: reminder.offer,
        createdBy: SYSTEM_USER,
        correlationId: reminder.id,
      },
      to,
      async (tx, message, failure) => {
        const mine = { id: reminder.id, status: 'queued' as const, claimedAt: reminder.claimedAt };
        if (failure) {
          const giveUp = failure.permanent || reminder.attempts >= this.maxAttempts;
          await tx.reminder.updateMany({
            where: mine,
            data: giveUp
              ? { status: 'skipped', statusReason: `send-failed:${failure.reason}`, message: message.id, updatedBy: SYSTEM_USER }
              : { status: 'scheduled', statusReason: `retrying:${failure.reason}`, retryAt: new Date(now.getTime() + RETRY_BASE_MS * 2 ** (reminder.attempts - 1)), updatedBy: SYSTEM_USER },
          });
          return [];
        }
        const sentAt = this.clock();
        const sent = await tx.reminder.updateMany({ where: mine, data: { status: 'sent', statusReason: null, sentAt, channel, message: message.id, retryAt: null, updatedBy: SYSTEM_USER } });
        if (sent.count > 0 && reminder.messageTemplate === CANCELLATION_ACK && channel === 'sms') await planWaitlistInvite(tx, reminder, sentAt);
        return [
          createEvent(reminderSentV1, {
            source: SOURCE,
            organization,
            subject: reminder.id,
            correlationId: reminder.id,
            data: {
              _id: reminder.id,
              patient: reminder.patient,
              appointment: reminder.appointment,
              message: message.id,
              channel,
              sendAt: reminder.sendAt.toISOString(),
              sentAt: sentAt.toISOString(),
            },
          }),
        ];
      },
    );
  }
}
