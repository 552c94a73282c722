import { outsideTraces } from '@pep/bus';
import { referralOutreachSentV1, reminderSentV1 } from '@pep/contracts';
import type { Logger } from '@pep/service-kit';
import { isDemoSample } from './demo-samples.js';
import { FEEDBACK_REQUEST } from './feedback.service.js';
import { reminderSent, type MessagingWork } from './events.js';
import type { PrismaClient, Reminder } from './generated/prisma/client.js';
import { ANSWERED_AFTER_LOST_ANSWER, OUTCOME_UNKNOWN } from './inbound.service.js';
import { addressFor, type Channel, type Outbound, type OutboundItem, type SendOutcome } from './outbound.js';
import { settleConfirmedClaims } from './pending-sweep.js';
import { OFFER_KEYS, OFFER_PARALLEL, OFFER_TEXT, OFFER_TEXTS } from './offers.handlers.js';
import { QuotaExceeded, type SendQuota } from './quota.js';
import { ownRows } from './references.js';
import { outreachFacility, referralOutreachSent, referralSkipReason } from './referral-outreach.service.js';
import { CANCELLATION_ACK, CONFIRMATION_ACK, SYSTEM_USER } from './reminder-planning.handlers.js';
import { isAllowed, nextAllowed, type AllowedHours } from './send-time.js';
import { settingsOf } from './settings.js';
import { chooseWording, loadTextExtras, render, variablesOf } from './templates.js';
import { planWaitlistInvite, WAITLIST_INVITE, WAITLIST_JOINED } from './waitlist-requested.handler.js';

/** Tuning of a {@link ReminderDispatcher}. */
export interface DispatcherOptions {
  /** Reminders claimed (in one statement) and sent concurrently per round. */
  batchSize?: number;
  /** Rounds one replica runs at once while a backlog lasts, so the database's work overlaps the vendor's latency. */
  lanes?: number;
  /**
   * How long a claim holds. A reminder claimed longer ago (its sender died mid-send) is claimed again: at most one
   * sender holds a reminder at a time, and one that crashed before recording its send may send it twice, never zero
   * times.
   */
  leaseMs?: number;
  /** Attempts before a reminder that keeps failing is given up. */
  maxAttempts?: number;
  /**
   * The longest the dispatcher sleeps with nothing due, in production; null to send only when
   * {@link ReminderDispatcher.runOnce} is called. New due work ({@link ReminderDispatcher.notify}) and the next
   * planned send time wake it sooner.
   */
  intervalMs?: number | null;
  /** A planned reminder later than this past its send time is stale: skipped if its appointment is within {@link minLeadMs} (ADR 0027). */
  staleAfterMs?: number;
  /** How near its appointment a stale reminder is no longer sent. */
  minLeadMs?: number;
  /** The least time between two texts to one patient; answers to the patient's own reply are not held (ADR 0027). */
  spacingMs?: number;
}

/**
 * Defaults of the staleness rule and the spacing of texts to one patient (ADR 0027), and of the batch: 250 a round
 * cost about a sixth less CPU per text than 100, the replica's and Postgres' together (ADR 0033).
 */
export const DISPATCH_DEFAULTS = { staleAfterMs: 2 * 3_600_000, minLeadMs: 2 * 3_600_000, spacingMs: 30_000, batchSize: 250 } as const;

const RETRY_BASE_MS = 60_000;
// How long a wake-up waits for more wake-ups to fold into the same round.
const WAKE_AFTER_MS = 20;
// Texts that are about an appointment's cancellation, so they still go once it is cancelled.
const ABOUT_CANCELLED = new Set([CANCELLATION_ACK, WAITLIST_INVITE, WAITLIST_JOINED]);
// Counters of past quota windows are pruned at most this often per replica.
const PRUNE_EVERY_MS = 10 * 60_000;

/** A reminder's new state when it is not sent this round. */
interface Settle {
  reminder: Reminder;
  status: 'scheduled' | 'skipped' | 'blocked' | 'sent';
  statusReason: string | null;
  /** Set when it waits for a time (undefined leaves `retryAt` as it is). */
  retryAt?: Date | null;
  /** The claim was a wait, not a failed attempt. */
  notAnAttempt?: boolean;
}

/** A reminder ready to go: rendered, addressed. */
interface Ready {
  reminder: Reminder;
  item: OutboundItem;
}

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
 * start sends what fell due meanwhile. A round claims due rows with `FOR UPDATE SKIP LOCKED` and marks them `queued`
 * in one statement, loads what they need in a few bulk queries, settles those not to be sent in one statement, and
 * sends the rest through {@link Outbound.sendMany} (a handful of transactions per batch, vendor calls concurrent, the
 * consent lock held around them). Replicas on one database never take the same reminder, and no connection waits on a
 * vendor except the batch's one consent lock.
 *
 * It sleeps until the earliest planned send time (at most `intervalMs`), and {@link notify} wakes it at once for work
 * due now (an offer text, an acknowledgement), as the outbox relay is woken after a commit.
 */
export class ReminderDispatcher {
  private readonly batchSize: number;
  private readonly lanes: number;
  private readonly leaseMs: number;
  private readonly maxAttempts: number;
  private readonly staleAfterMs: number;
  private readonly minLeadMs: number;
  private readonly spacingMs: number;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<number> | null = null;
  private readonly running = new Set<Promise<void>>();
  private nudged = false;
  private waking = false;
  private stopped = true;
  private prunedAt = 0;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: MessagingWork,
    private readonly outbound: Outbound,
    private readonly quota: SendQuota,
    private readonly clock: () => Date,
    private readonly logger: Logger,
    private readonly options: DispatcherOptions = {},
  ) {
    this.batchSize = options.batchSize ?? DISPATCH_DEFAULTS.batchSize;
    this.lanes = Math.max(1, options.lanes ?? 2);
    this.leaseMs = options.leaseMs ?? 5 * 60_000;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.staleAfterMs = options.staleAfterMs ?? DISPATCH_DEFAULTS.staleAfterMs;
    this.minLeadMs = options.minLeadMs ?? DISPATCH_DEFAULTS.minLeadMs;
    this.spacingMs = options.spacingMs ?? DISPATCH_DEFAULTS.spacingMs;
  }

  /** Starts sending on its own (unless polling is off). */
  start(): void {
    if (this.options.intervalMs === null) return;
    this.stopped = false;
    this.pump(1);
  }

  /** Stops and waits for the rounds in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.all([...this.running, this.round?.catch(() => undefined)]);
  }

  /**
   * Work may be due now (a reminder, offer text or acknowledgement was just committed): a round starts at once, or
   * right after the one in flight. Cheap to call often: calls while rounds run fold into one more round.
   */
  notify(): void {
    if (this.stopped) return;
    this.nudged = true;
    // A flood of wake-ups (a replay planning thousands of appointments) folds into one round per few milliseconds.
    if (this.running.size === 0 && !this.waking) {
      this.waking = true;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.pump(1), WAKE_AFTER_MS);
    }
  }

  /** One round: claims up to a batch of due reminders and sends them; answers how many it claimed. */
  runOnce(): Promise<number> {
    // Calls of runOnce never overlap; a caller during a round waits for it.
    this.round ??= this.claimAndSend().finally(() => {
      this.round = null;
    });
    return this.round;
  }

  /** When the next round will have something to send: the earliest send (or retry) time still planned, or null when none is. */
  async nextDue(): Promise<Date | null> {
    // Two index range scans (status and send time; status and retry time), never a pass over every planned reminder.
    const [row] = await this.prisma.$queryRawUnsafe<Array<{ at: Date | null }>>(
      `SELECT LEAST(
         (SELECT min("send_at") FROM "reminder" WHERE "status" = 'scheduled' AND NOT "deleted" AND "retry_at" IS NULL),
         (SELECT min(GREATEST("send_at", "retry_at")) FROM "reminder" WHERE "status" = 'scheduled' AND NOT "deleted" AND "retry_at" IS NOT NULL)) AS "at"`,
    );
    return row?.at ? new Date(row.at) : null;
  }

  /**
   * Seconds the oldest reminder due now has waited to go, counted from when it was last allowed to (its send time, or
   * the end of a hold): one held back by design (quiet hours, spacing, the send quota, a retry's backoff) has a retry
   * time still ahead and does not count until that passes. 0 when nothing due waits. Index range scans as in nextDue().
   */
  async dispatchDelaySeconds(): Promise<number> {
    const [row] = await this.prisma.$queryRawUnsafe<Array<{ delay: number | string | null }>>(
      `SELECT EXTRACT(EPOCH FROM $1::timestamptz - LEAST(
         (SELECT min("send_at") FROM "reminder" WHERE "status" = 'scheduled' AND NOT "deleted" AND "retry_at" IS NULL AND "send_at" <= $1::timestamptz),
         (SELECT min(GREATEST("send_at", "retry_at")) FROM "reminder"
           WHERE "status" = 'scheduled' AND NOT "deleted" AND "retry_at" IS NOT NULL AND "retry_at" <= $1::timestamptz AND "send_at" <= $1::timestamptz),
         (SELECT min(GREATEST("send_at", coalesce("retry_at", "send_at"))) FROM "reminder" WHERE "status" = 'queued' AND NOT "deleted")))::float8 AS "delay"`,
      this.clock(),
    );
    return Math.max(0, Number(row?.delay ?? 0));
  }

  /** Runs up to `lanes` rounds at once until the backlog is gone, then sleeps until the next send time. */
  private pump(lanes: number): void {
    this.waking = false;
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.running.size < Math.min(lanes, this.lanes)) {
      // A round serves every due reminder, whoever woke it: never under the trace of the handler that did.
      const lane: Promise<void> = outsideTraces(() => this.lane()).finally(() => {
        this.running.delete(lane);
        if (this.running.size === 0) void this.sleep();
      });
      this.running.add(lane);
    }
  }

  private async lane(): Promise<void> {
    while (!this.stopped) {
      this.nudged = false;
      let claimed: number;
      try {
        // A full batch means more is due: the other lanes join in while this one sends.
        claimed = await this.claimAndSend((count) => {
          if (count >= this.batchSize) this.pump(this.lanes);
        });
      } catch (error) {
        this.logger.error({ err: { message: (error as Error).message } }, 'reminder round failed');
        return;
      }
      if (claimed < this.batchSize && !this.nudged) return;
    }
  }

  private async sleep(): Promise<void> {
    if (this.stopped) return;
    const longest = this.options.intervalMs ?? 5_000;
    let wait = longest;
    try {
      const next = await this.nextDue();
      if (next) wait = Math.min(longest, Math.max(0, next.getTime() - this.clock().getTime()));
    } catch (error) {
      this.logger.error({ err: { message: (error as Error).message } }, 'reading the next send time failed');
    }
    if (this.stopped || this.running.size > 0 || this.waking) return;
    if (this.nudged) return this.pump(1);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.pump(1), wait);
  }

  private async claimAndSend(claimedNow?: (count: number) => void): Promise<number> {
    const now = this.clock();
    const claimed = await this.claim(now);
    claimedNow?.(claimed.length);
    if (claimed.length > 0) {
      // Left queued on a failure here: the lease runs out and a later round takes them again.
      await this.dispatch(claimed, now).catch((error: unknown) => {
        this.logger.error({ err: { message: (error as Error).message }, reminders: claimed.length }, 'reminders not sent');
      });
    }
    if (now.getTime() - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prunedAt = now.getTime();
      // Housekeeping after the sends, so a failure here never holds a reminder back.
      await this.quota
        .prune()
        .catch((error: unknown) => this.logger.error({ err: { message: (error as Error).message } }, 'pruning send quota counters failed'));
    }
    return claimed.length;
  }

  /** Claims up to a batch of due reminders (and lapsed claims) in one statement, marking them queued under this round's stamp. */
  private async claim(now: Date): Promise<Reminder[]> {
    // Due: its send time and any retry time have come. Each part is a range scan of the (status, send_at) index that
    // stops at now, so a claim costs what is due, not what is planned for the coming weeks.
    return this.prisma.$queryRawUnsafe<Reminder[]>(
      `WITH lapsed AS (
         SELECT "id" FROM "reminder" WHERE "status" = 'queued' AND NOT "deleted" AND "claimed_at" <= $2::timestamptz
         LIMIT $3 FOR UPDATE SKIP LOCKED),
       due AS (
         SELECT "id" FROM "reminder"
         WHERE "status" = 'scheduled' AND NOT "deleted" AND "send_at" <= $1::timestamptz AND ("retry_at" IS NULL OR "retry_at" <= $1::timestamptz)
         ORDER BY "send_at" LIMIT $3 FOR UPDATE SKIP LOCKED),
       claim AS (SELECT "id" FROM lapsed UNION ALL SELECT "id" FROM due LIMIT $3)
       UPDATE "reminder" r SET "status" = 'queued', "claimed_at" = $1::timestamptz, "attempts" = r."attempts" + 1, "updated_at" = now()
       FROM claim WHERE r."id" = claim."id"
       RETURNING ${REMINDER_COLUMNS}`,
      now.toISOString(),
      new Date(now.getTime() - this.leaseMs).toISOString(),
      this.batchSize,
    );
  }

  /** Decides each claimed reminder's fate from bulk-loaded read models, settles those not sent, and sends the rest. */
  private async dispatch(all: Reminder[], now: Date): Promise<void> {
    // A lapsed claim whose text the vendor took (its sender died before recording it) is settled, not sent again.
    const claimed = await settleConfirmedClaims(this.prisma, this.work, all, now);
    const loaded = await this.load(claimed, now);
    const settles: Settle[] = [];
    const ready: Ready[] = [];
    // A patient's texts of this round count toward the spacing of the next one.
    const lastSent = new Map(loaded.lastSent);
    for (const reminder of [...claimed].sort((a, b) => a.sendAt.getTime() - b.sendAt.getTime())) {
      const verdict = this.decide(reminder, loaded, lastSent, now);
      if ('status' in verdict) settles.push(verdict);
      else ready.push(verdict);
    }
    await this.settleMany(settles);
    if (ready.length === 0) return;
    try {
      await this.sendAll(ready, now);
    } catch (error) {
      if (!(error instanceof QuotaExceeded) || ready.length === 1) {
        if (error instanceof QuotaExceeded) return this.defer(ready[0]!.reminder, error);
        throw error;
      }
      // The batch would pass a limit: one by one, so those within it go and the rest wait for the window.
      await Promise.all(
        ready.map((one) =>
          this.sendAll([one], now).catch((single: unknown) => {
            if (single instanceof QuotaExceeded) return this.defer(one.reminder, single);
            this.logger.error({ err: { message: (single as Error).message }, reminderId: one.reminder.id }, 'reminder not sent');
          }),
        ),
      );
    }
  }

  /** Everything the batch's decisions and texts need, in one query per table. */
  private async load(claimed: Reminder[], now: Date) {
    const ids = <T>(pick: (reminder: Reminder) => T | null) => [
      ...new Set(claimed.map(pick).filter((value): value is T => value !== null)),
    ];
    const organizations = ids((reminder) => reminder.organization);
    const referralIds = ids((reminder) => reminder.referral);
    const [appointments, contacts, offers, settings, latestDue, lastSent, answered, referrals, rebooked] = await Promise.all([
      this.prisma.appointment.findMany({ where: { id: { in: ids((reminder) => reminder.appointment) } } }),
      this.prisma.patientContact.findMany({ where: { id: { in: ids((reminder) => reminder.patient) } } }),
      this.prisma.offer.findMany({ where: { id: { in: ids((reminder) => reminder.offer) } } }),
      this.prisma.organizationSetting.findMany({ where: { organization: { in: organizations } } }),
      this.latestDuePlanned(claimed.filter(isPlanned), now),
      this.lastTexts(claimed),
      this.answeredSinceLostAnswer(claimed),
      // Most batches hold no referral outreach: they skip the round trip.
      referralIds.length > 0 ? this.prisma.referral.findMany({ where: { id: { in: referralIds } } }) : Promise.resolve([]),
      this.rebookedSinceCancelled(claimed, now),
    ]);
    const slots = [...appointments, ...offers];
    const [facilities, providers, templates] = await Promise.all([
      this.prisma.facility.findMany({
        where: { id: { in: [...new Set([...ids((reminder) => reminder.facility), ...slots.map((slot) => slot.facility)])] } },
      }),
      this.prisma.provider.findMany({ where: { id: { in: [...new Set(slots.map((slot) => slot.provider))] } } }),
      this.prisma.messageTemplate.findMany({
        where: {
          organization: { in: organizations },
          key: { in: [...new Set(claimed.map((reminder) => reminder.messageTemplate ?? 'reminder'))] },
          deleted: false,
        },
      }),
    ]);
    const extras = await loadTextExtras(this.prisma, organizations, [
      ...claimed.map((reminder) => reminder.text),
      ...templates.flatMap((row) => [row.text, row.subject]),
    ]);
    const settingsByOrganization = new Map(settings.map((row) => [row.organization, settingsOf(row)]));
    // A round has one `now`: whether it is within allowed hours is the same for every reminder of a zone and window.
    const allowed = new Map<string, boolean>();
    return {
      allowedNow: (timeZone: string, hours: AllowedHours) => {
        const key = `${timeZone}|${hours.start}|${hours.end}`;
        if (!allowed.has(key)) allowed.set(key, isAllowed(now, timeZone, hours));
        return allowed.get(key)!;
      },
      appointment: ownRows(appointments),
      contact: ownRows(contacts),
      offer: ownRows(offers),
      referral: ownRows(referrals),
      facility: ownRows(facilities),
      provider: ownRows(providers),
      settings: (organization: string) => settingsByOrganization.get(organization) ?? settingsOf(null),
      organization: extras.organization,
      bookingLink: extras.bookingLink,
      wording: (organization: string, key: string, language: string) =>
        chooseWording(
          templates.filter(
            (row) => row.organization === organization && row.key === key && (row.language === language || row.language === 'en'),
          ),
          key,
          language,
        ),
      latestDue,
      lastSent,
      answered,
      rebooked,
    };
  }

  /**
   * Of the claimed follow-ups of a cancellation, those whose patient has booked again since (a live appointment ahead):
   * checked again at sending, because the booking's event may have reached messaging after the follow-up was planned.
   */
  private async rebookedSinceCancelled(claimed: Reminder[], now: Date): Promise<Set<string>> {
    const followups = claimed.filter((reminder) => reminder.followupRule !== null && reminder.appointment !== null);
    if (followups.length === 0) return new Set();
    const rules = await this.prisma.followupRule.findMany({
      where: { id: { in: [...new Set(followups.map((reminder) => reminder.followupRule!))] }, trigger: 'cancelled' },
      select: { id: true },
    });
    const ofCancellation = followups.filter((reminder) => rules.some((rule) => rule.id === reminder.followupRule));
    if (ofCancellation.length === 0) return new Set();
    const ahead = await this.prisma.appointment.findMany({
      where: {
        OR: ofCancellation.map((reminder) => ({
          organization: reminder.organization,
          patient: reminder.patient,
          id: { not: reminder.appointment! },
        })),
        deleted: false,
        status: { not: 'cancelled' },
        date: { gt: now },
      },
      select: { organization: true, patient: true },
    });
    const booked = new Set(ahead.map((row) => `${row.organization}|${row.patient}`));
    return new Set(
      ofCancellation.filter((reminder) => booked.has(`${reminder.organization}|${reminder.patient}`)).map((reminder) => reminder.id),
    );
  }

  /**
   * Of the claimed reminders whose last vendor call's outcome is unknown, those the patient has answered since: the reply
   * proves the text arrived. The reply marks such a reminder sent itself unless a round had already claimed it for its
   * retry, as this one has (ADR 0029).
   */
  private async answeredSinceLostAnswer(claimed: Reminder[]): Promise<Set<string>> {
    const unknown = claimed.filter((reminder) => OUTCOME_UNKNOWN.includes(reminder.statusReason ?? '')).map((reminder) => reminder.id);
    if (unknown.length === 0) return new Set();
    const replies = await this.prisma.message.findMany({
      where: { type: 'inbound', reminder: { in: unknown }, deleted: false },
      select: { reminder: true },
    });
    return new Set(replies.map((reply) => reply.reminder!));
  }

  /** Per appointment, the latest send time among its planned reminders that are due (or being sent) now. */
  private async latestDuePlanned(planned: Reminder[], now: Date): Promise<Map<string, number>> {
    if (planned.length === 0) return new Map();
    const pairs = [...new Map(planned.map((reminder) => [reminder.appointment!, reminder])).values()];
    // By (organization, appointment), the index's order: one index probe per appointment.
    const rows = await this.prisma.$queryRawUnsafe<Array<{ appointment: string; at: Date | null }>>(
      `SELECT k.appointment, (SELECT max(r."send_at") FROM "reminder" r
                              WHERE r."organization" = k.organization AND r."appointment" = k.appointment AND NOT r."deleted"
                                AND r."status" IN ('scheduled', 'queued') AND r."created_by" = $3 AND r."message_template" IS NULL
                                AND r."offset_hours" IS NOT NULL AND r."send_at" <= $4::timestamptz) AS "at"
       FROM unnest($1::uuid[], $2::uuid[]) AS k(organization, appointment)`,
      pairs.map((reminder) => reminder.organization),
      pairs.map((reminder) => reminder.appointment),
      SYSTEM_USER,
      now.toISOString(),
    );
    return new Map(rows.filter((row) => row.at).map((row) => [row.appointment, new Date(row.at!).getTime()]));
  }

  /**
   * Per patient of the batch, when the dispatcher last texted them: sent, or being sent by another round right now
   * (claimed and not yet recorded). By the service's clock, which stamps both.
   */
  private async lastTexts(claimed: Reminder[]): Promise<Map<string, number>> {
    const pairs = [...new Map(claimed.map((reminder) => [`${reminder.organization}|${reminder.patient}`, reminder])).values()];
    const rows = await this.prisma.$queryRawUnsafe<Array<{ patient: string; at: Date | null }>>(
      `SELECT k.patient, (SELECT max(CASE WHEN r."status" = 'queued' THEN r."claimed_at" ELSE r."sent_at" END) FROM "reminder" r
                          WHERE r."organization" = k.organization AND r."patient" = k.patient AND NOT (r."id" = ANY($3::uuid[]))
                            AND (r."sent_at" IS NOT NULL OR r."status" = 'queued')) AS "at"
       FROM unnest($1::uuid[], $2::uuid[]) AS k(organization, patient)`,
      pairs.map((reminder) => reminder.organization),
      pairs.map((reminder) => reminder.patient),
      claimed.map((reminder) => reminder.id),
    );
    return new Map(rows.filter((row) => row.at).map((row) => [row.patient, new Date(row.at!).getTime()]));
  }

  /** What becomes of one claimed reminder: a new state, or a text ready to send. */
  private decide(
    reminder: Reminder,
    loaded: Awaited<ReturnType<ReminderDispatcher['load']>>,
    lastSent: Map<string, number>,
    now: Date,
  ): Settle | Ready {
    const { organization } = reminder;
    const skip = (statusReason: string): Settle => ({ reminder, status: 'skipped', statusReason });
    if (loaded.answered.has(reminder.id)) return { reminder, status: 'sent', statusReason: ANSWERED_AFTER_LOST_ANSWER, retryAt: null };
    const appointment = loaded.appointment(reminder.appointment, organization);
    const contact = loaded.contact(reminder.patient, organization);
    const cancelled = appointment !== null && (appointment.deleted || appointment.status === 'cancelled');
    // A follow-up may be about the cancellation itself (never about a deleted appointment).
    const followup = reminder.type === 'followup';
    if (cancelled && !ABOUT_CANCELLED.has(reminder.messageTemplate ?? '') && !(followup && !appointment.deleted))
      return skip('appointment-cancelled');
    if (loaded.rebooked.has(reminder.id)) return skip('rebooked');
    // A survey, its answers and follow-ups are about a visit that has passed.
    if (appointment && appointment.date <= now && reminder.type !== 'feedback' && !followup) return skip('appointment-passed');
    const offer = loaded.offer(reminder.offer, organization);
    // An offer texted after it lapsed or was taken would invite a YES that can only be refused.
    if (OFFER_TEXTS.includes(reminder.messageTemplate ?? '') && (!offer || offer.status !== 'in-progress' || offer.expireAt <= now))
      return skip('offer-closed');
    // Referral outreach goes only while its referral still waits to be scheduled.
    const referralSkip = referralSkipReason(reminder, loaded.referral(reminder.referral, organization), contact, now);
    if (referralSkip) return skip(referralSkip);
    if (isPlanned(reminder) && appointment) {
      // Two reminders of one appointment due at once (after an outage): the patient gets the latest one only.
      if ((loaded.latestDue.get(appointment.id) ?? 0) > reminder.sendAt.getTime()) return skip('superseded');
      // Late, and the appointment is near: a reminder now would arrive as noise, or ask for an answer too late to act on.
      if (now.getTime() - reminder.sendAt.getTime() > this.staleAfterMs && appointment.date.getTime() - now.getTime() < this.minLeadMs)
        return skip('stale');
    }
    if (!contact) {
      // Patients' events may trail scheduling's: wait for the contact a few times before giving up.
      if (reminder.attempts >= this.maxAttempts) return skip('patient-unknown');
      return { reminder, status: 'scheduled', statusReason: 'patient-unknown', retryAt: new Date(now.getTime() + RETRY_BASE_MS) };
    }
    if (contact.deleted) return skip('patient-deleted');
    if (contact.doNotContact || contact.optedOutAt) return { reminder, status: 'blocked', statusReason: 'do-not-contact' };

    const settings = loaded.settings(organization);
    const facility = loaded.facility(reminder.facility, organization);
    const timeZone = facility?.timeZone ?? appointment?.timeZone ?? (reminder.referral ? (settings.timeZone ?? 'UTC') : null);
    // A reminder that fell due while the service was down, or was retried, still waits for the allowed hours.
    if (timeZone && !reminder.forcedTime && !loaded.allowedNow(timeZone, settings.allowed)) {
      return {
        reminder,
        status: 'scheduled',
        statusReason: null,
        retryAt: nextAllowed(now, timeZone, settings.allowed),
        notAnAttempt: true,
      };
    }

    const channel: Channel | null = reminder.channel ?? (contact.phone ? 'sms' : contact.email ? 'email' : null);
    const to = channel ? addressFor(channel, contact) : null;
    if (!channel || !to) return skip('no-contact-details');

    // Two texts to one patient keep a gap, so they arrive in order and read as two; an answer to the patient's own
    // message is not held back (they are waiting for it), the invitation that follows one is.
    const answer = reminder.forcedTime && reminder.messageTemplate !== WAITLIST_INVITE;
    const last = lastSent.get(contact.id);
    if (!answer && last !== undefined && now.getTime() - last < this.spacingMs) {
      return { reminder, status: 'scheduled', statusReason: 'spacing', retryAt: new Date(last + this.spacingMs), notAnAttempt: true };
    }
    lastSent.set(contact.id, now.getTime());

    const key = reminder.messageTemplate ?? 'reminder';
    const wording = loaded.wording(organization, key, contact.language);
    const slot = appointment ?? offer;
    const slotFacility = slot ? loaded.facility(slot.facility, organization) : null;
    const slotZone = slotFacility?.timeZone ?? slot?.timeZone ?? 'UTC';
    const variables = variablesOf(
      {
        patient: { firstname: contact.firstname, language: contact.language },
        provider: slot ? loaded.provider(slot.provider, organization) : null,
        // Referral outreach names the referral's facility and its phone, there being no slot.
        facility: reminder.referral ? outreachFacility(facility) : slotFacility,
        appointment: slot ? { date: slot.date, timeZone: slotZone } : null,
        offer: offer ? { expireAt: offer.expireAt, timeZone: slotZone } : null,
        organization: loaded.organization(organization),
        booking: { link: loaded.bookingLink(organization, slotFacility?.id ?? reminder.facility) },
        help: settings.helpText,
      },
      contact.language,
    );
    const text = render(reminder.text ?? wording?.text ?? '', variables);
    const subject = render(wording?.subject ?? 'Appointment reminder', variables);
    return {
      reminder,
      item: {
        to,
        request: {
          organization,
          patient: contact.id,
          channel,
          text,
          subject,
          language: contact.language,
          // A parallel offer's text is an offer all the same: replies, calls and e-mail links find it by that key.
          // A demo sample's text is its wording, not staff's, so the sample's name stays its key.
          // A survey's answer is rendered when planned (its review link names the survey), and keeps its key.
          key: reminder.text && !isDemoSample(key) && reminder.type !== 'feedback' ? null : key === OFFER_PARALLEL ? OFFER_TEXT : key,
          automated: true,
          appointment: reminder.appointment,
          reminder: reminder.id,
          offer: reminder.offer,
          createdBy: SYSTEM_USER,
          correlationId: reminder.id,
          traceparent: reminder.traceparent,
        },
      },
    };
  }

  /** Records, in one statement, what becomes of the reminders not sent this round, while this round's claims hold. */
  private async settleMany(settles: Settle[]): Promise<void> {
    if (settles.length === 0) return;
    await this.prisma.$executeRawUnsafe(
      `UPDATE "reminder" r SET "status" = k.status::"reminder_status", "status_reason" = k.reason,
         "retry_at" = CASE WHEN k.waits THEN k.retry_at ELSE r."retry_at" END, "attempts" = r."attempts" - k.refund,
         "sent_at" = CASE WHEN k.status = 'sent' THEN coalesce(r."sent_at", $9::timestamptz) ELSE r."sent_at" END,
         "updated_by" = $8, "updated_at" = now()
       FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::timestamptz[], $6::boolean[], $7::int[]) AS k(id, claimed_at, status, reason, retry_at, waits, refund)
       WHERE r."id" = k.id AND r."status" = 'queued' AND r."claimed_at" = k.claimed_at`,
      settles.map((settle) => settle.reminder.id),
      settles.map((settle) => settle.reminder.claimedAt!.toISOString()),
      settles.map((settle) => settle.status),
      settles.map((settle) => settle.statusReason),
      settles.map((settle) => settle.retryAt?.toISOString() ?? null),
      settles.map((settle) => settle.retryAt !== undefined),
      settles.map((settle) => (settle.notAnAttempt ? 1 : 0)),
      SYSTEM_USER,
      this.clock().toISOString(),
    );
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
      {
        reminderId: reminder.id,
        organization: reminder.organization,
        kind,
        limit,
        max: exceeded.limit.max,
        retryAt: exceeded.freesAt.toISOString(),
      },
      'send quota reached: message deferred until the window frees',
    );
    await this.settleMany([
      { reminder, status: 'scheduled', statusReason: `quota:${limit}`, retryAt: exceeded.freesAt, notAnAttempt: true },
    ]);
  }

  /** Sends the ready reminders as one batch and records each outcome while this round's claim holds. */
  private async sendAll(ready: Ready[], now: Date): Promise<void> {
    const reminders = new Map(ready.map((one) => [one.item, one.reminder]));
    let planned = false;
    await this.outbound.sendMany(
      ready.map((one) => one.item),
      async (tx, outcomes, emit) => {
        const sentAt = this.clock();
        const reminderOf = (outcome: SendOutcome) => reminders.get(outcome.item)!;
        const handed = outcomes.filter((outcome) => !outcome.failure && !outcome.withheld);
        const recorded = handed.length
          ? await tx.$queryRawUnsafe<Array<{ id: string }>>(
              `UPDATE "reminder" r SET "status" = 'sent', "status_reason" = NULL, "sent_at" = $4::timestamptz, "channel" = k.channel::"message_channel",
                 "message" = k.message, "retry_at" = NULL, "updated_by" = $5, "updated_at" = now()
               FROM unnest($1::uuid[], $2::text[], $3::uuid[]) AS k(id, channel, message)
               WHERE r."id" = k.id AND r."status" = 'queued' AND r."claimed_at" = $6::timestamptz
               RETURNING r."id"`,
              handed.map((outcome) => reminderOf(outcome).id),
              handed.map((outcome) => outcome.item.request.channel),
              handed.map((outcome) => outcome.id),
              sentAt.toISOString(),
              SYSTEM_USER,
              now.toISOString(),
            )
          : [];
        const sent = new Set(recorded.map((row) => row.id));
        for (const outcome of outcomes) {
          const reminder = reminderOf(outcome);
          const mine = { id: reminder.id, status: 'queued' as const, claimedAt: reminder.claimedAt };
          if (outcome.withheld) {
            // The patient opted out (or was deleted) after the round read their consent: nothing went.
            await tx.reminder.updateMany({
              where: mine,
              data: {
                status: outcome.withheld === 'do-not-contact' ? 'blocked' : 'skipped',
                statusReason: outcome.withheld,
                message: outcome.id,
                updatedBy: SYSTEM_USER,
              },
            });
          } else if (outcome.failure) {
            const giveUp = outcome.failure.permanent || reminder.attempts >= this.maxAttempts;
            await tx.reminder.updateMany({
              where: mine,
              data: giveUp
                ? { status: 'skipped', statusReason: `send-failed:${outcome.failure.reason}`, message: outcome.id, updatedBy: SYSTEM_USER }
                : {
                    status: 'scheduled',
                    statusReason: `retrying:${outcome.failure.reason}`,
                    retryAt: new Date(now.getTime() + RETRY_BASE_MS * 2 ** (reminder.attempts - 1)),
                    updatedBy: SYSTEM_USER,
                  },
            });
          } else if (sent.has(reminder.id)) {
            const channel = outcome.item.request.channel;
            if (reminder.messageTemplate === CANCELLATION_ACK && channel === 'sms') {
              await planWaitlistInvite(tx, reminder, sentAt);
              planned = true;
            }
            if (reminder.messageTemplate === FEEDBACK_REQUEST)
              await tx.feedbackResponse.updateMany({ where: { reminder: reminder.id, sentAt: null }, data: { sentAt } });
            emit(reminderSentV1, reminderSent(reminder, outcome.id, channel, sentAt));
            if (reminder.referral && channel !== 'email')
              emit(referralOutreachSentV1, referralOutreachSent(reminder, outcome.id, channel, sentAt));
          }
        }
      },
    );
    // The invitation after an acknowledgement is due at once.
    if (planned) this.notify();
  }
}

/** Whether the platform planned the reminder from the organization's offsets (not an answer, an offer text or staff's own). */
function isPlanned(reminder: Reminder): boolean {
  return reminder.createdBy === SYSTEM_USER && reminder.messageTemplate === null && reminder.offsetHours !== null && reminder.text === null;
}

// The reminder's columns under the client's field names, for rows read with raw SQL.
const REMINDER_COLUMNS = [
  'id',
  'organization',
  'appointment',
  'patient',
  'provider',
  'facility',
  ['type', 'type::text'],
  ['channel', 'channel::text'],
  ['offsetHours', 'offset_hours'],
  ['sendAt', 'send_at'],
  ['sentAt', 'sent_at'],
  ['status', 'status::text'],
  ['statusReason', 'status_reason'],
  'offer',
  ['messageTemplate', 'message_template'],
  'text',
  'message',
  ['claimedAt', 'claimed_at'],
  ['retryAt', 'retry_at'],
  'attempts',
  ['forcedTime', 'forced_time'],
  'referral',
  ['referralAttempt', 'referral_attempt'],
  ['followupRule', 'followup_rule'],
  'traceparent',
  'deleted',
  ['createdBy', 'created_by'],
  ['updatedBy', 'updated_by'],
  ['createdAt', 'created_at'],
  ['updatedAt', 'updated_at'],
]
  .map((column) => (typeof column === 'string' ? `r."${column}"` : `r.${column[1]!.replace(/^(\w+)/, '"$1"')} AS "${column[0]}"`))
  .join(', ');
