import { PeriodicTask, type Logger } from '@pep/service-kit';
import type { Broadcast, PrismaClient } from './generated/prisma/client.js';
import { addressFor, type Outbound, type OutboundItem, type SendOutcome } from './outbound.js';
import { QuotaExceeded, type SendQuota } from './quota.js';
import { ownRows } from './references.js';
import { SYSTEM_USER } from './reminder-planning.handlers.js';
import { audienceWhere, type AudienceFilter } from './broadcast.service.js';
import { isAllowed, nextAllowed } from './send-time.js';
import { settingsOf } from './settings.js';
import { loadTextExtras, render, variablesOf } from './templates.js';

/** Tuning of a {@link BroadcastSender}. */
export interface BroadcastSenderOptions {
  /** Recipients claimed and sent concurrently per batch. */
  batchSize?: number;
  /** How long a claim holds; a recipient claimed longer ago (its sender died) is claimed again, and sent only if nothing went. */
  leaseMs?: number;
  /** How often it looks for due broadcasts and recipients; null to send only when {@link BroadcastSender.runOnce} is called (tests). */
  intervalMs?: number | null;
  /** Attempts before a recipient whose sends keep failing is given up. */
  maxAttempts?: number;
}

/** Defaults of the sender: batches of 250 like the reminder dispatcher, a five-minute lease, a poll every 5 s. */
export const BROADCAST_SENDER_DEFAULTS = { batchSize: 250, leaseMs: 5 * 60_000, intervalMs: 5_000, maxAttempts: 5 } as const;

const HOUR_MS = 3_600_000;
const RETRY_BASE_MS = 60_000;
// Broadcasts started per round; the rest start on the next one.
const STARTS_PER_ROUND = 20;

/** A claimed recipient, with what its broadcast says. */
interface Claimed {
  id: string;
  broadcast: string;
  organization: string;
  patient: string;
  appointment: string | null;
  attempts: number;
  claimedAt: Date;
  /** The message of its last attempt whose outcome was recorded (a refusal to retry), if any. */
  message: string | null;
}

/** A recipient's new state when it is not sent this round. */
interface Settle {
  id: string;
  status: 'queued' | 'sent' | 'failed' | 'skipped' | 'blocked' | 'cancelled';
  reason: string | null;
  /** A held recipient waits until then; its claim is given back (it counts neither as an attempt nor toward the rate). */
  retryAt?: Date;
  message?: string | null;
}

/**
 * Sends broadcasts. A round starts the broadcasts due (their recipients written from the audience in the transaction
 * that marks them `sending-messages`), then claims due recipients in batches with `FOR UPDATE SKIP LOCKED`: at most the
 * organization's hourly rate counted over the last hour (the rest wait for the window to free), never in quiet hours
 * of the recipient's time zone (held until they end), never to a patient who must not be contacted. A claim whose
 * sender died is taken again after the lease, and the message it may have sent (found by broadcast and patient) settles
 * it instead of a second text: each patient gets a broadcast once. Texts go through {@link Outbound.sendMany}, so they
 * are recorded, emit message.sent and honour a STOP that arrives mid-batch like every other text.
 */
export class BroadcastSender {
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly maxAttempts: number;
  private readonly task: PeriodicTask;
  private polling = false;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly outbound: Outbound,
    private readonly quota: SendQuota,
    private readonly clock: () => Date,
    private readonly logger: Logger,
    private readonly options: BroadcastSenderOptions = {},
  ) {
    this.batchSize = options.batchSize ?? BROADCAST_SENDER_DEFAULTS.batchSize;
    this.leaseMs = options.leaseMs ?? BROADCAST_SENDER_DEFAULTS.leaseMs;
    this.maxAttempts = options.maxAttempts ?? BROADCAST_SENDER_DEFAULTS.maxAttempts;
    this.task = new PeriodicTask(
      () => this.round(),
      options.intervalMs === undefined ? BROADCAST_SENDER_DEFAULTS.intervalMs : options.intervalMs,
      (error) => this.logger.error({ err: { message: error.message } }, 'broadcast round failed'),
    );
  }

  /** Sends on its own every `intervalMs` (unless that is null). */
  start(): void {
    this.polling = this.options.intervalMs !== null;
    this.task.start();
  }

  /** Stops and waits for the round in flight. */
  stop(): Promise<void> {
    this.polling = false;
    return this.task.stop();
  }

  /** A broadcast may be due now (created for now, approved, sent at once): a round starts at once while it polls on its own. */
  notify(): void {
    if (!this.polling) return;
    void this.runOnce().catch((error: unknown) =>
      this.logger.error({ err: { message: (error as Error).message } }, 'broadcast round failed'),
    );
  }

  /** Starts what is due and sends every recipient that may go now; answers how many recipients it claimed. */
  runOnce(): Promise<number> {
    return this.task.runOnce();
  }

  /** One batch only (tests of a sender that dies mid-broadcast); answers how many it claimed. */
  async runBatch(): Promise<number> {
    const now = this.clock();
    await this.startDue(now);
    const claimed = await this.claim(now);
    if (claimed.length > 0) await this.dispatch(claimed, now);
    await this.finish(now);
    return claimed.length;
  }

  private async round(): Promise<number> {
    const now = this.clock();
    await this.startDue(now);
    let total = 0;
    for (;;) {
      // Each batch is stamped with its own time: a claim stamped at the round's start would look lapsed to another
      // replica while a long round still sends it.
      const at = this.clock();
      const claimed = await this.claim(at);
      total += claimed.length;
      if (claimed.length > 0) await this.dispatch(claimed, at);
      if (claimed.length < this.batchSize) break;
    }
    await this.finish(this.clock());
    return total;
  }

  /**
   * Starts the broadcasts due (approved where review is required): writes their recipients and marks them
   * `sending-messages` in one transaction, so a crash leaves either nothing or every recipient.
   */
  private async startDue(now: Date): Promise<void> {
    await this.prisma.$transaction(async (tx) => {
      const due = await tx.$queryRawUnsafe<Array<Pick<Broadcast, 'id' | 'organization' | 'type' | 'audience' | 'patients'>>>(
        `SELECT "id", "organization", "type", "audience", "patients" FROM "broadcast"
         WHERE "processing_status" = 'pre-processing' AND NOT "deleted" AND "cancelled_at" IS NULL AND "send_at" <= $1::timestamptz
           AND (NOT "review_required" OR "approved_at" IS NOT NULL)
         ORDER BY "send_at" LIMIT ${STARTS_PER_ROUND} FOR UPDATE SKIP LOCKED`,
        now.toISOString(),
      );
      for (const broadcast of due) {
        const rows =
          broadcast.type === 'uploaded'
            ? await tx.$executeRawUnsafe(
                `INSERT INTO "broadcast_recipient" ("id", "broadcast", "organization", "patient", "appointment", "updated_at")
                 SELECT gen_random_uuid(), $1::uuid, $2::uuid, u.patient,
                        (SELECT a."id" FROM "appointment" a WHERE a."organization" = $2::uuid AND a."patient" = u.patient AND NOT a."deleted"
                         ORDER BY a."date" DESC LIMIT 1), now()
                 FROM (SELECT DISTINCT unnest($3::uuid[]) AS patient) u
                 ON CONFLICT ("broadcast", "patient") DO NOTHING`,
                broadcast.id,
                broadcast.organization,
                broadcast.patients,
              )
            : await this.writeAudience(tx, broadcast.id, broadcast.organization, (broadcast.audience ?? {}) as AudienceFilter);
        await tx.broadcast.update({
          where: { id: broadcast.id },
          data: { processingStatus: 'sending_messages', rowCount: rows, updatedBy: SYSTEM_USER },
        });
        this.logger.info({ broadcastId: broadcast.id, organization: broadcast.organization, recipients: rows }, 'broadcast started');
      }
    });
  }

  private writeAudience(
    tx: Parameters<Parameters<PrismaClient['$transaction']>[0]>[0],
    id: string,
    organization: string,
    audience: AudienceFilter,
  ) {
    const where = audienceWhere(organization, audience, 2);
    return tx.$executeRawUnsafe(
      `INSERT INTO "broadcast_recipient" ("id", "broadcast", "organization", "patient", "appointment", "updated_at")
       SELECT gen_random_uuid(), $1::uuid, pc."organization", pc."id",
              (SELECT a."id" FROM "appointment" a WHERE ${where.appointment} ORDER BY a."date" DESC LIMIT 1), now()
       FROM "patient_contact" pc WHERE ${where.patient}
       ON CONFLICT ("broadcast", "patient") DO NOTHING`,
      id,
      ...where.params,
    );
  }

  /**
   * Claims up to a batch of due recipients, within each organization's hourly rate: the rate counts the organization's
   * throttled recipients claimed in the last hour, under a per-organization lock so replicas share it; those over it
   * wait until the oldest of that hour's claims is an hour old.
   */
  private async claim(now: Date): Promise<Claimed[]> {
    return this.prisma.$transaction(async (tx) => {
      const due = await tx.$queryRawUnsafe<Array<{ id: string; organization: string; throttle: boolean }>>(
        `SELECT r."id", r."organization", b."throttle" FROM "broadcast_recipient" r JOIN "broadcast" b ON b."id" = r."broadcast"
         WHERE (r."status" = 'queued' AND (r."retry_at" IS NULL OR r."retry_at" <= $1::timestamptz))
            OR (r."status" = 'claimed' AND r."claimed_at" <= $2::timestamptz)
         ORDER BY r."retry_at" NULLS FIRST, r."id" LIMIT $3 FOR UPDATE OF r SKIP LOCKED`,
        now.toISOString(),
        new Date(now.getTime() - this.leaseMs).toISOString(),
        this.batchSize,
      );
      if (due.length === 0) return [];
      const take: string[] = due.filter((row) => !row.throttle).map((row) => row.id);
      const throttled = new Map<string, string[]>();
      for (const row of due.filter((one) => one.throttle))
        throttled.set(row.organization, [...(throttled.get(row.organization) ?? []), row.id]);
      const settings = await tx.organizationSetting.findMany({ where: { organization: { in: [...throttled.keys()] } } });
      const rates = new Map(settings.map((row) => [row.organization, settingsOf(row).broadcastRatePerHour]));
      for (const organization of [...throttled.keys()].sort()) {
        const ids = throttled.get(organization)!;
        const rate = rates.get(organization) ?? settingsOf(null).broadcastRatePerHour;
        if (rate === 0) {
          take.push(...ids);
          continue;
        }
        // Replicas count one organization's hour one at a time; the lock ends with this transaction.
        await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(hashtext('broadcast-rate:' || $1))`, organization);
        const [hour] = await tx.$queryRawUnsafe<Array<{ used: number; oldest: Date | null }>>(
          `SELECT count(*)::int AS "used", min(r."claimed_at") AS "oldest" FROM "broadcast_recipient" r JOIN "broadcast" b ON b."id" = r."broadcast"
           WHERE r."organization" = $1::uuid AND r."claimed_at" > $2::timestamptz AND r."claimed_at" <= $3::timestamptz AND b."throttle"
             AND r."status" IN ('claimed', 'sent', 'failed') AND NOT (r."id" = ANY($4::uuid[]))`,
          organization,
          new Date(now.getTime() - HOUR_MS).toISOString(),
          now.toISOString(),
          ids,
        );
        const room = Math.max(0, rate - (hour?.used ?? 0));
        take.push(...ids.slice(0, room));
        const wait = ids.slice(room);
        if (wait.length > 0) {
          // Frees when the oldest claim of the hour leaves it (an hour from now when none of this batch's fit).
          const freesAt = new Date((hour?.oldest ? new Date(hour.oldest).getTime() : now.getTime()) + HOUR_MS);
          await tx.$executeRawUnsafe(
            `UPDATE "broadcast_recipient" SET "status" = 'queued', "retry_at" = $2::timestamptz, "status_reason" = 'rate', "updated_at" = now()
             WHERE "id" = ANY($1::uuid[])`,
            wait,
            freesAt.toISOString(),
          );
        }
      }
      if (take.length === 0) return [];
      return tx.$queryRawUnsafe<Claimed[]>(
        `UPDATE "broadcast_recipient" SET "status" = 'claimed', "claimed_at" = $2::timestamptz, "attempts" = "attempts" + 1, "updated_at" = now()
         WHERE "id" = ANY($1::uuid[])
         RETURNING "id", "broadcast", "organization", "patient", "appointment", "attempts", "claimed_at" AS "claimedAt", "message"`,
        take,
        now.toISOString(),
      );
    });
  }

  /** Decides each claimed recipient's fate, settles those not sent, and sends the rest. */
  private async dispatch(claimed: Claimed[], now: Date): Promise<void> {
    const ids = <T>(values: Array<T | null>) => [...new Set(values.filter((value): value is T => value !== null))];
    const organizations = ids(claimed.map((row) => row.organization));
    const again = claimed.filter((row) => row.attempts > 1);
    const [broadcasts, contacts, appointments, settings, earlier] = await Promise.all([
      this.prisma.broadcast.findMany({ where: { id: { in: ids(claimed.map((row) => row.broadcast)) } } }),
      this.prisma.patientContact.findMany({ where: { id: { in: ids(claimed.map((row) => row.patient)) } } }),
      this.prisma.appointment.findMany({ where: { id: { in: ids(claimed.map((row) => row.appointment)) } } }),
      this.prisma.organizationSetting.findMany({ where: { organization: { in: organizations } } }),
      // A claim taken again after its sender died: what that sender handed over, if anything.
      again.length > 0
        ? this.prisma.message.findMany({
            where: {
              type: 'outbound',
              OR: again.map((row) => ({ broadcast: row.broadcast, patient: row.patient })),
            },
            select: { id: true, broadcast: true, patient: true, status: true, channel: true },
            orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
          })
        : Promise.resolve([]),
    ]);
    const [facilities, providers, extras] = await Promise.all([
      this.prisma.facility.findMany({ where: { id: { in: ids(appointments.map((row) => row.facility)) } } }),
      this.prisma.provider.findMany({ where: { id: { in: ids(appointments.map((row) => row.provider)) } } }),
      loadTextExtras(
        this.prisma,
        organizations,
        broadcasts.flatMap((row) => [row.message, row.title]),
      ),
    ]);
    const broadcastOf = ownRows(broadcasts);
    const contactOf = ownRows(contacts);
    const appointmentOf = ownRows(appointments);
    const facilityOf = ownRows(facilities);
    const providerOf = ownRows(providers);
    const settingsByOrganization = new Map(settings.map((row) => [row.organization, settingsOf(row)]));
    const sentBefore = new Map(earlier.map((message) => [`${message.broadcast}|${message.patient}`, message]));

    const settles: Settle[] = [];
    const ready: Array<{ recipient: Claimed; item: OutboundItem }> = [];
    for (const recipient of claimed) {
      const { organization } = recipient;
      const broadcast = broadcastOf(recipient.broadcast, organization);
      if (!broadcast || broadcast.deleted || broadcast.cancelledAt) {
        settles.push({ id: recipient.id, status: 'cancelled', reason: broadcast?.deleted ? 'deleted' : 'cancelled' });
        continue;
      }
      // The latest message for it, unless that is the refusal its last attempt recorded (then it is simply retried).
      const latest = sentBefore.get(`${recipient.broadcast}|${recipient.patient}`);
      const before = latest && latest.id !== recipient.message ? latest : undefined;
      if (before) {
        // Its sender died after handing the text over (or may have): never a second text.
        const failed = before.status === 'undelivered' || before.status === 'skipped';
        settles.push({ id: recipient.id, status: failed ? 'failed' : 'sent', reason: failed ? 'send-failed' : null, message: before.id });
        continue;
      }
      const contact = contactOf(recipient.patient, organization);
      if (!contact || contact.mergedInto) {
        settles.push({ id: recipient.id, status: 'skipped', reason: contact ? 'patient-merged' : 'patient-unknown' });
        continue;
      }
      if (contact.deleted) {
        settles.push({ id: recipient.id, status: 'skipped', reason: 'patient-deleted' });
        continue;
      }
      if (contact.doNotContact || contact.optedOutAt) {
        settles.push({ id: recipient.id, status: 'blocked', reason: 'do-not-contact' });
        continue;
      }
      const organizationSettings = settingsByOrganization.get(organization) ?? settingsOf(null);
      const appointment = appointmentOf(recipient.appointment, organization);
      const facility = appointment ? facilityOf(appointment.facility, organization) : null;
      const timeZone = facility?.timeZone ?? appointment?.timeZone ?? organizationSettings.timeZone ?? 'UTC';
      if (!isAllowed(now, timeZone, organizationSettings.allowed)) {
        settles.push({
          id: recipient.id,
          status: 'queued',
          reason: 'quiet-hours',
          retryAt: nextAllowed(now, timeZone, organizationSettings.allowed),
        });
        continue;
      }
      const channel = broadcast.channels.find((one) => addressFor(one, contact) !== null) ?? null;
      if (!channel) {
        settles.push({ id: recipient.id, status: 'skipped', reason: 'no-contact-details' });
        continue;
      }
      const variables = {
        ...variablesOf(
          {
            patient: { firstname: contact.firstname, language: contact.language },
            provider: appointment ? providerOf(appointment.provider, organization) : null,
            facility,
            appointment: appointment ? { date: appointment.date, timeZone } : null,
            organization: extras.organization(organization),
            booking: { link: extras.bookingLink(organization, facility?.id) },
          },
          contact.language,
        ),
        'patient.lastname': contact.lastname,
      };
      const text = render(broadcast.message, variables);
      ready.push({
        recipient,
        item: {
          to: addressFor(channel, contact)!,
          request: {
            organization,
            patient: contact.id,
            channel,
            text,
            subject: render(broadcast.title, variables),
            language: contact.language,
            key: 'broadcast',
            automated: true,
            appointment: appointment?.id ?? null,
            broadcast: broadcast.id,
            createdBy: broadcast.createdBy,
            correlationId: broadcast.id,
          },
        },
      });
    }
    await this.settleMany(settles, claimed);
    if (ready.length === 0) return;
    try {
      await this.sendAll(ready);
    } catch (error) {
      if (!(error instanceof QuotaExceeded)) throw error;
      // The batch would pass a limit of the send quota: one by one, so those within it go and the rest wait for the window.
      for (const one of ready) {
        await this.sendAll([one]).catch(async (single: unknown) => {
          if (!(single instanceof QuotaExceeded)) throw single;
          this.quota.deferred('broadcast', single);
          await this.settleMany([{ id: one.recipient.id, status: 'queued', reason: 'quota', retryAt: single.freesAt }], claimed);
        });
      }
    }
  }

  /** Records the recipients not sent this round, in one statement, while this round's claims hold. */
  private async settleMany(settles: Settle[], claimed: Claimed[]): Promise<void> {
    if (settles.length === 0) return;
    const claims = new Map(claimed.map((row) => [row.id, row.claimedAt]));
    await this.prisma.$executeRawUnsafe(
      `UPDATE "broadcast_recipient" r SET "status" = k.status::"broadcast_recipient_status", "status_reason" = k.reason,
         "retry_at" = k.retry_at, "message" = COALESCE(k.message, r."message"),
         "claimed_at" = CASE WHEN k.retry_at IS NULL THEN r."claimed_at" END,
         "attempts" = CASE WHEN k.retry_at IS NULL THEN r."attempts" ELSE r."attempts" - 1 END,
         "sent_at" = CASE WHEN k.status = 'sent' THEN COALESCE(r."sent_at", $7::timestamptz) ELSE r."sent_at" END, "updated_at" = now()
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::uuid[], $6::timestamptz[]) AS k(id, status, reason, retry_at, message, claimed_at)
       WHERE r."id" = k.id AND r."status" = 'claimed' AND r."claimed_at" = k.claimed_at`,
      settles.map((settle) => settle.id),
      settles.map((settle) => settle.status),
      settles.map((settle) => settle.reason),
      settles.map((settle) => settle.retryAt?.toISOString() ?? null),
      settles.map((settle) => settle.message ?? null),
      settles.map((settle) => claims.get(settle.id)!.toISOString()),
      this.clock().toISOString(),
    );
  }

  /** Sends the ready recipients as one batch and records each outcome with the messages, while this round's claims hold. */
  private async sendAll(ready: Array<{ recipient: Claimed; item: OutboundItem }>): Promise<void> {
    const recipients = new Map(ready.map((one) => [one.item, one.recipient]));
    await this.outbound.sendMany(
      ready.map((one) => one.item),
      async (tx, outcomes: SendOutcome[]) => {
        const sentAt = this.clock();
        const recipientOf = (outcome: SendOutcome) => recipients.get(outcome.item)!;
        const statusOf = (outcome: SendOutcome) => {
          if (outcome.withheld) return outcome.withheld === 'do-not-contact' ? 'blocked' : 'skipped';
          if (!outcome.failure) return 'sent';
          // A refusal that may pass later is tried again, a few times.
          return outcome.failure.permanent || recipientOf(outcome).attempts >= this.maxAttempts ? 'failed' : 'queued';
        };
        await tx.$executeRawUnsafe(
          `UPDATE "broadcast_recipient" r SET "status" = k.status::"broadcast_recipient_status", "status_reason" = k.reason,
             "channel" = k.channel::"message_channel", "message" = k.message, "retry_at" = k.retry_at,
             "sent_at" = CASE WHEN k.status = 'sent' THEN $7::timestamptz ELSE r."sent_at" END, "updated_at" = now()
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::timestamptz[], $8::timestamptz[]) AS k(id, status, reason, channel, message, retry_at, claimed_at)
           WHERE r."id" = k.id AND r."status" = 'claimed' AND r."claimed_at" = k.claimed_at`,
          outcomes.map((outcome) => recipientOf(outcome).id),
          outcomes.map(statusOf),
          outcomes.map((outcome) => outcome.withheld ?? (outcome.failure ? `send-failed:${outcome.failure.reason}` : null)),
          outcomes.map((outcome) => outcome.item.request.channel),
          outcomes.map((outcome) => outcome.id),
          outcomes.map((outcome) =>
            statusOf(outcome) === 'queued'
              ? new Date(sentAt.getTime() + RETRY_BASE_MS * 2 ** (recipientOf(outcome).attempts - 1)).toISOString()
              : null,
          ),
          sentAt.toISOString(),
          outcomes.map((outcome) => recipientOf(outcome).claimedAt.toISOString()),
        );
      },
    );
  }

  /** Marks the broadcasts whose every recipient is settled as done. */
  private async finish(now: Date): Promise<void> {
    await this.prisma.$executeRawUnsafe(
      `UPDATE "broadcast" b SET "processing_status" = 'success', "sent_at" = $1::timestamptz, "updated_by" = $2, "updated_at" = now()
       WHERE b."processing_status" = 'sending-messages'
         AND NOT EXISTS (SELECT 1 FROM "broadcast_recipient" r WHERE r."broadcast" = b."id" AND r."status" IN ('queued', 'claimed'))`,
      now.toISOString(),
      SYSTEM_USER,
    );
  }
}
