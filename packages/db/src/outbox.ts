import { SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import {
  activeTraceContext,
  contextFromTraceparent,
  platformTracer,
  SpanKind,
  tracingEnabled,
  type Bus,
  type TraceContext,
} from '@pep/bus';
import { findEventDefinition, type EventEnvelope } from '@pep/contracts';
import type { Logger } from 'pino';
import type { RawSqlClient, TransactionalClient } from './sql-client.js';

/**
 * Writes events into the outbox inside the caller's transaction, so they commit or roll back
 * together with the state change they describe. Only registered event types may be written.
 */
export async function enqueueEvents(tx: RawSqlClient, events: EventEnvelope[]): Promise<void> {
  const topics = events.map((event) => {
    const definition = findEventDefinition(event.type, event.dataversion);
    if (!definition) throw new Error(`event ${event.type}@${event.dataversion} is not registered in the contracts`);
    return definition.topic;
  });
  if (events.length === 0) return;
  // One statement however many events (a batch of sends writes hundreds); rows take their `seq` in the given order.
  await tx.$executeRawUnsafe(
    `INSERT INTO "outbox" ("id", "topic", "key", "envelope")
     SELECT e.id::uuid, e.topic, e.key, e.envelope::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS e(id, topic, key, envelope, n) ORDER BY e.n`,
    events.map((event) => event.id),
    topics,
    events.map((event) => event.subject),
    events.map((event) => JSON.stringify(event)),
  );
}

interface OutboxRow {
  id: string;
  topic: string;
  key: string;
  envelope: unknown;
}

/** Tuning of an {@link OutboxRelay}. */
export interface OutboxRelayOptions {
  prisma: TransactionalClient;
  bus: Bus;
  logger: Logger;
  /** Rows published per transaction. */
  batchSize?: number;
  /** How often to look for rows nobody announced (written by another replica, or left by a failure). */
  pollIntervalMs?: number;
  /** Longest wait between retries while the broker is unreachable. */
  maxBackoffMs?: number;
  /** Published rows are kept this long for inspection, then deleted. */
  retentionHours?: number;
}

/**
 * Publishes outbox rows to the bus in commit order and marks them published. One replica
 * publishes at a time (a transaction-scoped advisory lock) so one aggregate's events keep their
 * order; while the broker is down rows stay put and publishing resumes when it returns.
 */
export class OutboxRelay {
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly maxBackoffMs: number;
  private readonly retentionHours: number;
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private nudged = false;
  private lastPurge = 0;

  constructor(private readonly options: OutboxRelayOptions) {
    this.batchSize = options.batchSize ?? 100;
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.retentionHours = options.retentionHours ?? 72;
  }

  /** Starts publishing in the background. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Asks the relay to publish now rather than at its next poll (call after committing events). */
  notify(): void {
    this.nudged = true;
    this.wake?.();
  }

  /** Publishes what is pending until the outbox is empty or the deadline passes; true when empty. */
  async flush(timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const published = await this.publishBatch();
        if (published === 0 && (await this.pendingCount()) === 0) return true;
      } catch (error) {
        this.options.logger.warn({ err: error }, 'outbox flush could not publish');
        await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
      }
    }
    return (await this.pendingCount()) === 0;
  }

  /**
   * At shutdown, once nothing writes any more: stops the loop, publishes what is left within `timeoutMs`, and warns
   * when some remains (the next start publishes it).
   */
  async shutdown(timeoutMs = 5_000): Promise<void> {
    await this.stop();
    if (!(await this.flush(timeoutMs))) this.options.logger.warn('outbox not empty at shutdown; the next start publishes the rest');
  }

  /** Stops the background loop after its current batch. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    this.loop = null;
  }

  /** How many events are waiting to be published. */
  async pendingCount(): Promise<number> {
    const rows = await this.options.prisma.$queryRawUnsafe<{ count: bigint | number }[]>(
      'SELECT count(*) AS "count" FROM "outbox" WHERE "published_at" IS NULL',
    );
    return Number(rows[0]?.count ?? 0);
  }

  /** Seconds the oldest unpublished event has waited (the database's clock), 0 when none waits; cheap on the (published_at, seq) index. */
  async oldestPendingAgeSeconds(): Promise<number> {
    const rows = await this.options.prisma.$queryRawUnsafe<{ age: number | string | null }[]>(
      'SELECT EXTRACT(EPOCH FROM now() - "created_at")::float8 AS "age" FROM "outbox" WHERE "published_at" IS NULL ORDER BY "seq" LIMIT 1',
    );
    return Math.max(0, Number(rows[0]?.age ?? 0));
  }

  /** Publishes one batch; returns how many rows it published (0 when none, or another replica holds the turn). */
  async publishBatch(): Promise<number> {
    const { prisma, bus } = this.options;
    return prisma.$transaction(
      async (tx) => {
        const [turn] = await tx.$queryRawUnsafe<{ locked: boolean }[]>(
          'SELECT pg_try_advisory_xact_lock(hashtext(\'outbox-relay\')) AS "locked"',
        );
        if (!turn?.locked) return 0;
        const rows = await tx.$queryRawUnsafe<OutboxRow[]>(
          'SELECT "id"::text AS "id", "topic", "key", "envelope" FROM "outbox" WHERE "published_at" IS NULL ORDER BY "seq" LIMIT $1',
          this.batchSize,
        );
        if (rows.length === 0) return 0;
        const spans: Span[] = [];
        const messages = rows.map((row) => {
          const envelope = (typeof row.envelope === 'string' ? JSON.parse(row.envelope) : row.envelope) as EventEnvelope;
          const headers: Record<string, string> = {
            ce_id: envelope.id,
            ce_type: envelope.type,
            ce_dataversion: String(envelope.dataversion),
          };
          if (tracingEnabled() && envelope.traceparent) Object.assign(headers, this.producerSpan(row.topic, envelope, spans));
          return { topic: row.topic, key: row.key, value: JSON.stringify(envelope), headers };
        });
        try {
          await bus.publish(messages);
        } catch (error) {
          for (const span of spans) span.setStatus({ code: SpanStatusCode.ERROR, message: 'publish failed' });
          throw error;
        } finally {
          for (const span of spans) span.end();
        }
        await tx.$executeRawUnsafe(
          'UPDATE "outbox" SET "published_at" = now(), "attempts" = "attempts" + 1 WHERE "id" = ANY($1::uuid[])',
          rows.map((row) => row.id),
        );
        return rows.length;
      },
      { timeout: 60_000, maxWait: 10_000 },
    );
  }

  /**
   * A PRODUCER span for one event, child of the change that wrote it (the envelope's `traceparent`); returns the headers
   * that make the consumers' spans its children.
   */
  private producerSpan(topic: string, envelope: EventEnvelope, spans: Span[]): TraceContext | undefined {
    const parent = contextFromTraceparent(envelope.traceparent, envelope.tracestate);
    const span = platformTracer().startSpan(
      `publish ${topic}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'send',
          'messaging.destination.name': topic,
          'messaging.message.id': envelope.id,
          'cloudevents.event_type': envelope.type,
        },
      },
      parent,
    );
    spans.push(span);
    return activeTraceContext(trace.setSpan(parent, span));
  }

  private async run(): Promise<void> {
    let backoff = 0;
    while (this.running) {
      try {
        const published = await this.publishBatch();
        backoff = 0;
        await this.purgeOccasionally();
        if (published === this.batchSize) continue;
      } catch (error) {
        backoff = Math.min(this.maxBackoffMs, backoff === 0 ? 250 : backoff * 2);
        this.options.logger.warn({ err: errorSummary(error), retryInMs: backoff }, 'outbox relay could not publish; will retry');
        await this.recordFailure(error);
        await this.idle(backoff, false);
        continue;
      }
      await this.idle(this.pollIntervalMs, true);
    }
  }

  /** Waits for the interval; a notify() ends the wait early unless we are backing off from a failure. */
  private idle(ms: number, wakeOnNotify: boolean): Promise<void> {
    if (!this.running) return Promise.resolve();
    if (wakeOnNotify && this.nudged) {
      this.nudged = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const wake = () => {
        if (!this.running || wakeOnNotify) {
          this.nudged = false;
          done();
        }
      };
      // A wait that ends by its timer must drop its wake too: left behind, the next notify() (an event committed while
      // the following batch is being published) would call it, clear the nudge and end nothing, and that event would
      // wait a whole poll interval.
      const done = () => {
        clearTimeout(timer);
        if (this.wake === wake) this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = wake;
    });
  }

  /** Leaves the failure on the rows that wait, so operators can see why events are stuck. */
  private async recordFailure(error: unknown): Promise<void> {
    try {
      await this.options.prisma.$executeRawUnsafe(
        'UPDATE "outbox" SET "attempts" = "attempts" + 1, "last_error" = $1 WHERE "id" IN (SELECT "id" FROM "outbox" WHERE "published_at" IS NULL ORDER BY "seq" LIMIT $2)',
        errorSummary(error).message.slice(0, 1_000),
        this.batchSize,
      );
    } catch {
      // The database may be what failed; the warning above already says so.
    }
  }

  private async purgeOccasionally(): Promise<void> {
    if (Date.now() - this.lastPurge < 60 * 60 * 1000) return;
    this.lastPurge = Date.now();
    await this.options.prisma.$executeRawUnsafe(
      `DELETE FROM "outbox" WHERE "published_at" < now() - make_interval(hours => $1::int)`,
      this.retentionHours,
    );
  }
}

function errorSummary(error: unknown): { message: string; name?: string } {
  return error instanceof Error ? { name: error.name, message: error.message } : { message: String(error) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
