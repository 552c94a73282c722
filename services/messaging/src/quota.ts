import { sendQuotaSetting, type SendQuotaSetting } from '@pep/contracts';
import { addCounter, addGauge, HttpProblem, type ServiceApp } from '@pep/service-kit';
import type { Prisma, PrismaClient } from './generated/prisma/client.js';

/** Whose messages a quota limit counts: one organization's, or one patient's. */
export type QuotaScope = 'organization' | 'patient';
/** The fixed windows limits count over, aligned to UTC (a day starts at 00:00 UTC). */
export type QuotaWindow = 'minute' | 'hour' | 'day';

/** The most messages allowed in each window (ADR 0012). */
export interface QuotaLimits {
  /** Messages to one patient per hour. */
  patientPerHour: number;
  /** Messages to one patient per day. */
  patientPerDay: number;
  /** Messages of one organization per minute. */
  organizationPerMinute: number;
  /** Messages of one organization per day. */
  organizationPerDay: number;
  /**
   * Automated messages (reminders, offer texts, acknowledgements) may fill each limit up to this multiple of it, so
   * staff (or a script) using up a budget never holds back the reminder that follows, and a runaway loop of automated
   * texts still stops.
   */
  automatedFactor: number;
}

/** Limits a clinic does not reach in normal use and a runaway script reaches in seconds (ADR 0012). */
export const QUOTA_DEFAULTS: QuotaLimits = {
  patientPerHour: 20,
  patientPerDay: 50,
  organizationPerMinute: 300,
  organizationPerDay: 10_000,
  automatedFactor: 2,
};

/** One limit: at most `max` messages per `window` for each subject of `scope`. */
export interface QuotaLimit {
  scope: QuotaScope;
  window: QuotaWindow;
  max: number;
}

const WINDOW_MS: Record<QuotaWindow, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const WINDOW_RANK: Record<QuotaWindow, number> = { day: 0, hour: 1, minute: 2 };
// Counters of windows older than this are of no use to anyone and are pruned.
const KEEP_MS = 2 * WINDOW_MS.day;

/** A counter a send took one from; given back when the vendor refused the send. */
export interface TakenCount {
  organization: string;
  scope: QuotaScope;
  subject: string;
  window: QuotaWindow;
  windowStart: Date;
}

/** A send over one of the quota's limits: 429 with Retry-After for a request, a deferral for the dispatcher. */
export class QuotaExceeded extends HttpProblem {
  constructor(
    /** The limit reached, as it applied to this send. */
    readonly limit: QuotaLimit,
    /** When the window that refused frees. */
    readonly freesAt: Date,
    now: Date,
  ) {
    const retryAfter = Math.max(1, Math.ceil((freesAt.getTime() - now.getTime()) / 1000));
    const whose = limit.scope === 'patient' ? 'This patient has' : 'Your organization has';
    super(
      429,
      'send-quota-exceeded',
      `${whose} been sent ${limit.max} message${limit.max === 1 ? '' : 's'} this ${limit.window}, the most allowed, so nothing was sent. Try again in ${retryAfter} s (Retry-After), ` +
        'or ask the platform operator to raise the limit.',
      { retryAfter, limit },
    );
  }
}

/**
 * The send quota, counted in the database so every replica shares it: one counter per organization or patient and
 * fixed window. A send takes one from each of its counters with an UPSERT that only increments below the limit, in
 * the transaction that stores the message; a limit reached rolls the whole send back. Counters are always taken in
 * the same order, longest window first, so concurrent sends never deadlock and the limit that refuses is the one that
 * frees last.
 */
export class SendQuota {
  private readonly limits: QuotaLimits;
  private readonly refusals;
  private readonly deferrals;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly clock: () => Date,
    app: ServiceApp,
    limits: Partial<QuotaLimits> = {},
  ) {
    this.limits = { ...QUOTA_DEFAULTS, ...limits };
    this.refusals = addCounter(
      app,
      'messaging_quota_refused_total',
      'Requests to send refused (429) because a send quota limit was reached.',
      ['scope', 'window'],
    );
    this.deferrals = addCounter(app, 'messaging_quota_deferred_total', 'Automated messages held back until a send quota window frees.', [
      'kind',
      'scope',
      'window',
    ]);
    addGauge(
      app,
      'messaging_quota_waiting_reminders',
      'Reminders, offer texts and acknowledgements due but waiting for a send quota window to free.',
      () =>
        this.prisma.reminder.count({
          where: { deleted: false, status: { in: ['scheduled', 'queued'] }, statusReason: { startsWith: 'quota:' } },
        }),
    );
  }

  /**
   * The limits a send is held to, longest window first: the platform's, or the organization's own where tighter;
   * automated sends get the headroom of `automatedFactor`.
   */
  limitsFor(automated: boolean, own: SendQuotaSetting = {}): QuotaLimit[] {
    const { limits } = this;
    const max = (key: keyof SendQuotaSetting) => {
      const limit = Math.min(limits[key], own[key] ?? Infinity);
      return automated ? Math.floor(limit * limits.automatedFactor) : limit;
    };
    return [
      { scope: 'organization', window: 'day', max: max('organizationPerDay') },
      { scope: 'patient', window: 'day', max: max('patientPerDay') },
      { scope: 'patient', window: 'hour', max: max('patientPerHour') },
      { scope: 'organization', window: 'minute', max: max('organizationPerMinute') },
    ];
  }

  /**
   * Takes one message to `patient` from every counter it is held to, inside `tx`; throws {@link QuotaExceeded} (and the
   * caller's transaction rolls back what was taken) when a limit is reached.
   */
  async take(tx: Prisma.TransactionClient, organization: string, patient: string, automated: boolean): Promise<TakenCount[]> {
    const now = this.clock();
    const taken: TakenCount[] = [];
    const setting = await tx.organizationSetting.findUnique({ where: { organization }, select: { sendQuota: true } });
    // Written from a validated event; anything else found there is ignored rather than trusted.
    const own = sendQuotaSetting.safeParse(setting?.sendQuota ?? {});
    for (const limit of this.limitsFor(automated, own.success ? own.data : {})) {
      const count: TakenCount = {
        organization,
        scope: limit.scope,
        subject: limit.scope === 'patient' ? patient : organization,
        window: limit.window,
        windowStart: windowStart(now, limit.window),
      };
      // Under concurrency the conflicting row is locked and the WHERE re-read, so two sends never both take the last one.
      const rows = await tx.$queryRaw<Array<{ count: number }>>`
        INSERT INTO "send_count" ("organization", "scope", "subject", "period", "window_start", "count")
        VALUES (${organization}::uuid, ${count.scope}, ${count.subject}::uuid, ${count.window}, ${count.windowStart}, 1)
        ON CONFLICT ("organization", "scope", "subject", "period", "window_start")
          DO UPDATE SET "count" = "send_count"."count" + 1 WHERE "send_count"."count" < ${limit.max}
        RETURNING "count"`;
      if (rows.length === 0) {
        if (!automated) this.refusals.inc({ scope: limit.scope, window: limit.window });
        throw new QuotaExceeded(limit, new Date(count.windowStart.getTime() + WINDOW_MS[limit.window]), now);
      }
      taken.push(count);
    }
    return taken;
  }

  /**
   * {@link take} for a batch of sends at once, in three statements whatever its size: each counter the batch touches
   * is created if missing, locked in the order single sends take them (longest window first), and raised by what the
   * batch takes from it only where that stays within its limit. When any counter would pass its limit the first such
   * limit is thrown as {@link QuotaExceeded}, the caller's transaction rolls back whatever was taken, and the caller
   * sends one by one (where the limit falls between two sends of the batch). Answers what each send took.
   */
  async takeMany(
    tx: Prisma.TransactionClient,
    sends: Array<{ organization: string; patient: string }>,
    automated: boolean,
  ): Promise<TakenCount[][]> {
    const now = this.clock();
    const organizations = [...new Set(sends.map((send) => send.organization))];
    const settings = await tx.organizationSetting.findMany({
      where: { organization: { in: organizations } },
      select: { organization: true, sendQuota: true },
    });
    const own = new Map(settings.map((row) => [row.organization, sendQuotaSetting.safeParse(row.sendQuota ?? {})]));
    const counters = new Map<string, { count: TakenCount; limit: QuotaLimit; take: number }>();
    const taken = sends.map((send) => {
      const setting = own.get(send.organization);
      return this.limitsFor(automated, setting?.success ? setting.data : {}).map((limit) => {
        const count: TakenCount = {
          organization: send.organization,
          scope: limit.scope,
          subject: limit.scope === 'patient' ? send.patient : send.organization,
          window: limit.window,
          windowStart: windowStart(now, limit.window),
        };
        const key = `${count.organization}|${count.scope}|${count.subject}|${count.window}`;
        const counter = counters.get(key) ?? { count, limit, take: 0 };
        counter.take += 1;
        counters.set(key, counter);
        return count;
      });
    });
    // The order single sends take counters in (longest window first, the organization's before the patient's), so a
    // batch and a single send never wait on each other in opposite orders.
    const rank = (counter: { count: TakenCount }) =>
      `${WINDOW_RANK[counter.count.window]}|${counter.count.scope === 'organization' ? 0 : 1}|${counter.count.organization}|${counter.count.subject}`;
    // Each key built once, not twice per comparison: a batch of hundreds touches hundreds of counters.
    const ordered = [...counters.values()]
      .map((counter) => ({ counter, rank: rank(counter) }))
      .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0))
      .map(({ counter }) => counter);
    const column = <T>(pick: (counter: (typeof ordered)[number]) => T) => ordered.map(pick);
    const keys = [
      column((c) => c.count.organization),
      column((c) => c.count.scope),
      column((c) => c.count.subject),
      column((c) => c.count.window),
      column((c) => c.count.windowStart.toISOString()),
    ];
    await tx.$executeRawUnsafe(
      `INSERT INTO "send_count" ("organization", "scope", "subject", "period", "window_start", "count")
       SELECT o, s, j, p, w, 0 FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::timestamptz[]) WITH ORDINALITY AS k(o, s, j, p, w, n) ORDER BY n
       ON CONFLICT DO NOTHING`,
      ...keys,
    );
    await tx.$queryRawUnsafe(
      `SELECT 1 FROM "send_count" c JOIN unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::timestamptz[]) WITH ORDINALITY AS k(o, s, j, p, w, n)
         ON c."organization" = k.o AND c."scope" = k.s AND c."subject" = k.j AND c."period" = k.p AND c."window_start" = k.w
       ORDER BY k.n FOR UPDATE OF c`,
      ...keys,
    );
    const raised = await tx.$queryRawUnsafe<Array<{ n: bigint | number }>>(
      `UPDATE "send_count" c SET "count" = c."count" + k.t
       FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::timestamptz[], $6::int[], $7::int[]) WITH ORDINALITY AS k(o, s, j, p, w, t, m, n)
       WHERE c."organization" = k.o AND c."scope" = k.s AND c."subject" = k.j AND c."period" = k.p AND c."window_start" = k.w AND c."count" + k.t <= k.m
       RETURNING k.n`,
      ...keys,
      column((c) => c.take),
      column((c) => c.limit.max),
    );
    if (raised.length < ordered.length) {
      const done = new Set(raised.map((row) => Number(row.n)));
      const refused = ordered.find((_, index) => !done.has(index + 1))!;
      throw new QuotaExceeded(refused.limit, new Date(refused.count.windowStart.getTime() + WINDOW_MS[refused.limit.window]), now);
    }
    return taken;
  }

  /** Gives back what a send took: the vendor refused it, so it cost nothing and reached no one. */
  async giveBack(tx: Prisma.TransactionClient, taken: TakenCount[]): Promise<void> {
    for (const count of taken) {
      await tx.$executeRaw`
        UPDATE "send_count" SET "count" = "count" - 1
        WHERE "organization" = ${count.organization}::uuid AND "scope" = ${count.scope} AND "subject" = ${count.subject}::uuid
          AND "period" = ${count.window} AND "window_start" = ${count.windowStart} AND "count" > 0`;
    }
  }

  /** Counts an automated message held back by the quota; `kind` is what it is (reminder, offer, acknowledgement, planned). */
  deferred(kind: string, exceeded: QuotaExceeded): void {
    this.deferrals.inc({ kind, scope: exceeded.limit.scope, window: exceeded.limit.window });
  }

  /** Deletes counters of windows long past. */
  async prune(): Promise<number> {
    return this.prisma.sendCount
      .deleteMany({ where: { windowStart: { lt: new Date(this.clock().getTime() - KEEP_MS) } } })
      .then((result) => result.count);
  }
}

/** The start of the fixed window of `now`. */
function windowStart(now: Date, window: QuotaWindow): Date {
  const size = WINDOW_MS[window];
  return new Date(Math.floor(now.getTime() / size) * size);
}
