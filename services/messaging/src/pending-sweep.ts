import { randomUUID } from 'node:crypto';
import { messageFailedV1, messageSentV1, reminderSentV1 } from '@pep/contracts';
import { PeriodicTask, type Logger } from '@pep/service-kit';
import { reminderSent, type MessagingWork } from './events.js';
import type { PrismaClient, Reminder } from './generated/prisma/client.js';
import { SYSTEM_USER } from './reminder-planning.handlers.js';
import { messageUsage } from './segments.js';

/** Tuning of a {@link PendingSweep}. */
export interface PendingSweepOptions {
  /**
   * How long, by the service's clock, a message may stay `pending` before it is settled: longer than any vendor call
   * (the consent lock gives up after a minute) and than the dispatcher's claim lease, so only a send whose sender died
   * is ever settled, and a lapsed reminder is claimed again before its old message is.
   */
  settleAfterMs?: number;
  /**
   * The least real time (the database's clock, which stamps the rows) a message stays `pending` before it is settled,
   * whatever the service's clock says: a moved clock (tests, a sandbox) never settles a send still waiting for its vendor.
   */
  minRealAgeMs?: number;
  /** How often it sweeps in production; null to sweep only when {@link PendingSweep.runOnce} is called (tests). */
  intervalMs?: number | null;
  /** Messages settled per statement. */
  batchSize?: number;
}

/** Defaults of the sweep: ten minutes (twice the dispatcher's lease), two real minutes, once a minute. */
export const PENDING_SWEEP_DEFAULTS = { settleAfterMs: 10 * 60_000, minRealAgeMs: 2 * 60_000, intervalMs: 60_000, batchSize: 500 } as const;

/** The reason a message settled by the sweep without a word from its vendor carries (`skippedStatusReason`, `externalStatus.error`). */
export const OUTCOME_UNKNOWN_REASON = 'outcome-unknown';

/**
 * Reasons of a message recorded `undelivered` although the vendor may have taken it (its answer was lost, or its sender
 * died mid-send): a later delivery report from the vendor still moves it on.
 */
export const UNKNOWN_OUTCOME_REASONS = [OUTCOME_UNKNOWN_REASON, 'unreachable'];

/** Whether a message's `undelivered` is a guess, not the vendor's word (see {@link UNKNOWN_OUTCOME_REASONS}). */
export function outcomeUnknown(message: { status: string; skippedStatusReason: string | null }): boolean {
  return message.status === 'undelivered' && UNKNOWN_OUTCOME_REASONS.includes(message.skippedStatusReason ?? '');
}

interface Settled {
  id: string;
  organization: string;
  patient: string;
  channel: 'sms' | 'email' | 'voice';
  key: string | null;
  automated: boolean;
  appointment: string | null;
  reminder: string | null;
  offer: string | null;
  external_id: string | null;
  status: 'sent' | 'undelivered';
  /** Only to count the message's segments for its event; never logged. */
  text: string;
}

/**
 * Settles messages a crashed send left `pending` (the process died between writing the row and recording the vendor's
 * answer). Nothing is sent again: the vendor may have taken the text. One the vendor has since reported on (a status
 * callback gave its id), or whose reminder the patient answered, is recorded `sent`; one it never spoke of becomes
 * `undelivered` with reason `outcome-unknown` and `externalStatus {error: 'outcome-unknown'}`, which a later delivery
 * report still moves to delivered (the callback carries our message id). Each is settled once, with one event (`message.sent` or `message.failed`), whatever the
 * number of replicas sweeping: the rows are taken `FOR UPDATE SKIP LOCKED` and only while still `pending`.
 */
export class PendingSweep {
  private readonly settleAfterMs: number;
  private readonly minRealAgeMs: number;
  private readonly batchSize: number;
  private readonly task: PeriodicTask;

  constructor(
    private readonly work: MessagingWork,
    private readonly clock: () => Date,
    private readonly logger: Logger,
    private readonly options: PendingSweepOptions = {},
  ) {
    this.settleAfterMs = options.settleAfterMs ?? PENDING_SWEEP_DEFAULTS.settleAfterMs;
    this.minRealAgeMs = options.minRealAgeMs ?? PENDING_SWEEP_DEFAULTS.minRealAgeMs;
    this.batchSize = options.batchSize ?? PENDING_SWEEP_DEFAULTS.batchSize;
    this.task = new PeriodicTask(
      () => this.sweep(),
      options.intervalMs === undefined ? PENDING_SWEEP_DEFAULTS.intervalMs : options.intervalMs,
      (error) => this.logger.error({ err: { message: error.message } }, 'settling pending messages failed'),
    );
  }

  /** Sweeps on its own every `intervalMs` (unless that is null). */
  start(): void {
    this.task.start();
  }

  /** Stops sweeping and waits for a sweep in flight. */
  stop(): Promise<void> {
    return this.task.stop();
  }

  /** Settles every message pending past the bounds; answers how many it settled. */
  runOnce(): Promise<number> {
    return this.task.runOnce();
  }

  private async sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const settled = await this.settleBatch();
      total += settled;
      if (settled < this.batchSize) return total;
    }
  }

  private async settleBatch(): Promise<number> {
    const now = this.clock();
    // A sweep has no request behind it: each settled message is traced by its reminder, or by itself.
    const settled = await this.work.run({ correlationId: randomUUID() }, async (tx, emit) => {
      const rows = await tx.$queryRawUnsafe<Settled[]>(
        `WITH stale AS (
           SELECT s."id", (s."external_id" IS NOT NULL
                           OR EXISTS (SELECT 1 FROM "message" r WHERE r."reminder" = s."reminder" AND r."type" = 'inbound' AND NOT r."deleted")) AS "taken"
           FROM "message" s
           WHERE s."status" = 'pending' AND s."created_at" <= $1::timestamptz AND s."created_at" <= now() - make_interval(secs => $2::double precision)
           ORDER BY s."created_at" LIMIT $3 FOR UPDATE OF s SKIP LOCKED)
         UPDATE "message" m SET
           "status" = (CASE WHEN stale."taken" THEN 'sent' ELSE 'undelivered' END)::"message_status",
           "skipped_status_reason" = CASE WHEN stale."taken" THEN NULL ELSE $4 END,
           "external_status" = CASE WHEN stale."taken" THEN m."external_status" ELSE jsonb_build_object('error', $4::text) END,
           "terminating_state_at" = CASE WHEN stale."taken" THEN m."terminating_state_at" ELSE $5::timestamptz END,
           "updated_by" = $6, "updated_at" = $5::timestamptz
         FROM stale WHERE m."id" = stale."id" AND m."status" = 'pending'
         RETURNING m."id", m."organization", m."patient", m."channel"::text AS "channel", m."key", m."automated", m."appointment", m."reminder",
                   m."offer", m."external_id", m."status"::text AS "status", m."text"`,
        new Date(now.getTime() - this.settleAfterMs).toISOString(),
        this.minRealAgeMs / 1_000,
        this.batchSize,
        OUTCOME_UNKNOWN_REASON,
        now.toISOString(),
        SYSTEM_USER,
      );
      for (const row of rows) {
        const context = { organization: row.organization, subject: row.id, cause: { correlationId: row.reminder ?? row.id } };
        const data = {
          _id: row.id,
          patient: row.patient,
          channel: row.channel,
          key: row.key,
          automated: row.automated,
          appointment: row.appointment,
          reminder: row.reminder,
          offer: row.offer,
          externalId: row.external_id,
        };
        if (row.status === 'sent') emit(messageSentV1, { ...context, data: { ...data, ...messageUsage(row.channel, row.text) } });
        else emit(messageFailedV1, { ...context, data: { ...data, reason: OUTCOME_UNKNOWN_REASON } });
      }
      return rows;
    });
    if (settled.length > 0) {
      const unknown = settled.filter((row) => row.status === 'undelivered').length;
      // Ids and counts only: the rows hold the text and the address.
      this.logger.warn(
        { settled: settled.length, outcomeUnknown: unknown, messageIds: settled.slice(0, 20).map((row) => row.id) },
        'messages left pending by a crashed send settled without sending again',
      );
    }
    return settled.length;
  }
}

/** Longer than the consent lock waits for vendors (60 s): a send whose row is older no longer waits for its vendor. */
const SENDER_MAY_WAIT_MS = 61_000;

/** What a claimed reminder's earlier message says of it: the vendor took it (sent, delivered, or reported on while pending). */
interface Confirmed {
  reminder: string;
  id: string;
  status: string;
  channel: 'sms' | 'email' | 'voice';
}

/**
 * Of reminders claimed again after a claim lapsed (its sender died mid-send), settles those whose text the vendor is
 * known to have taken: a message of the reminder recorded sent or delivered, or still `pending` but reported on by the
 * vendor (a status callback gave its id) or answered by the patient. They become `sent` (`delivered` if the vendor said so) with that message and
 * their `reminder.sent` event, and are not sent again. One whose message is pending and younger than a vendor call may
 * last is left claimed for a later round (its sender may be alive; only a moved clock lapses a claim that fast). Answers
 * the reminders left to send. A lapsed reminder whose old message the vendor never spoke of is sent again (a claim may
 * send twice, never zero times); the sweep later settles the old message as outcome-unknown.
 */
export async function settleConfirmedClaims(
  prisma: PrismaClient,
  work: MessagingWork,
  claimed: Reminder[],
  now: Date,
): Promise<Reminder[]> {
  // Only a reminder claimed before can have a message already; a first claim costs no query.
  const again = claimed.filter((reminder) => reminder.attempts > 1);
  if (again.length === 0) return claimed;
  const latest = await prisma.$queryRawUnsafe<Array<Confirmed & { external_id: string | null; young: boolean; answered: boolean }>>(
    `SELECT DISTINCT ON (m."reminder") m."reminder", m."id", m."status"::text AS "status", m."channel"::text AS "channel", m."external_id",
            m."created_at" > now() - make_interval(secs => $2::double precision) AS "young",
            EXISTS (SELECT 1 FROM "message" r WHERE r."reminder" = m."reminder" AND r."type" = 'inbound' AND NOT r."deleted") AS "answered"
     FROM "message" m
     WHERE m."reminder" = ANY($1::uuid[]) AND m."type" = 'outbound' AND NOT m."deleted" AND m."status" IN ('sent', 'delivered', 'opened', 'pending')
     ORDER BY m."reminder", m."created_at" DESC`,
    again.map((reminder) => reminder.id),
    SENDER_MAY_WAIT_MS / 1_000,
  );
  // The vendor has it: recorded so, reported on while pending, or answered by the patient (ADR 0029).
  const known = latest.filter((row) => row.status !== 'pending' || row.external_id !== null || row.answered);
  // Pending, and younger in real time than a vendor call may last: its sender may still be waiting for the vendor
  // (only a moved service clock lapses a claim that fast). Left claimed; a later claim finds what that sender records.
  const waiting = new Set(
    latest.filter((row) => row.status === 'pending' && row.external_id === null && !row.answered && row.young).map((row) => row.reminder),
  );
  if (known.length === 0 && waiting.size === 0) return claimed;
  const byReminder = new Map(known.map((row) => [row.reminder, row]));
  // Each reminder.sent is traced by its reminder, as its send would have been.
  await work.run({ correlationId: known[0]?.reminder ?? randomUUID() }, async (tx, emit) => {
    for (const reminder of claimed) {
      const message = byReminder.get(reminder.id);
      if (!message) continue;
      // Only while this round's claim holds: another round may have taken it since.
      const { count } = await tx.reminder.updateMany({
        where: { id: reminder.id, status: 'queued', claimedAt: reminder.claimedAt },
        data: {
          status: message.status === 'delivered' ? 'delivered' : 'sent',
          statusReason: null,
          sentAt: reminder.sentAt ?? now,
          message: message.id,
          channel: message.channel,
          retryAt: null,
          updatedBy: SYSTEM_USER,
        },
      });
      if (count === 0) continue;
      emit(reminderSentV1, reminderSent(reminder, message.id, message.channel, reminder.sentAt ?? now));
    }
  });
  // Never sent again, even when another round took the claim meanwhile: the vendor has it.
  return claimed.filter((reminder) => !byReminder.has(reminder.id) && !waiting.has(reminder.id));
}
