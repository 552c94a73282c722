import { AsyncLocalStorage } from 'node:async_hooks';
import { activeTraceContext } from '@pep/bus';
import { createEvent, type EventDefinition, type EventEnvelope } from '@pep/contracts';
import type { z } from 'zod';
import { enqueueEvents } from './outbox.js';
import type { RawSqlClient } from './sql-client.js';

/** What caused a change; every event the change emits carries these ids. */
export interface Cause {
  /** The request id of the HTTP call, or the correlation id of the event that started the chain. */
  correlationId: string;
  /** The id of the event being handled, when a consumer makes the change. */
  causationId?: string;
}

/** What the writer of an event knows; its source, correlation and causation ids come from the unit of work. */
export interface EventFields<TData> {
  /** The organization the event belongs to (its tenancy key). */
  organization: string;
  /** The id of the record the event is about (the partition key). */
  subject: string;
  data: TData;
  /** When it happened (default now). */
  time?: Date;
  /** A fixed event id, for events that must be the same however often they are built. */
  id?: string;
  /**
   * This event's own cause, when one unit records a batch whose items each have theirs (a dispatcher round's reminders,
   * each traced by its own id); default the unit's.
   */
  cause?: Cause;
}

/** Stages an event in the running unit of work; it reaches the outbox when the work's transaction commits. */
export type Emit = <TType extends string, TSchema extends z.ZodType>(
  definition: EventDefinition<TType, TSchema>,
  fields: EventFields<z.input<TSchema>>,
) => EventEnvelope<z.output<TSchema>> & { type: TType };

/** A Prisma client of any service, seen through the transaction client its generated types give. */
export interface TransactionRunner<Tx> {
  $transaction<R>(fn: (tx: Tx) => Promise<R>, options?: { timeout?: number; maxWait?: number }): Promise<R>;
}

/** A state change and the events that describe it. */
export type Work<Tx, R> = (tx: Tx, emit: Emit) => Promise<R>;

interface Running {
  tx: unknown;
  emit: Emit;
  staged: EventEnvelope[];
  savepoints: number;
}

/** What a {@link UnitOfWork} needs. */
export interface UnitOfWorkOptions<Tx> {
  client: TransactionRunner<Tx>;
  /** The CloudEvents `source` of this service's events, e.g. `/services/scheduling`. */
  source: string;
  /** Called after a commit that wrote events (the relay's `notify`), so they are published at once. */
  eventsCommitted: () => void;
}

/**
 * The one way a service writes state and its events: {@link run} opens a transaction, hands the work its transaction
 * client and an {@link Emit}, writes what was emitted to the outbox in the same transaction, commits, and then nudges
 * the relay. A `run` inside another (a consumer's inbox transaction calling the same service method a route calls)
 * joins the outer one, so the change commits with the inbox record and its events carry the outer cause.
 */
export class UnitOfWork<Tx extends RawSqlClient> {
  private readonly running = new AsyncLocalStorage<Running>();

  constructor(private readonly options: UnitOfWorkOptions<Tx>) {}

  /** Runs `work` in its own transaction, or in the enclosing unit's when there is one (started by this unit of work). */
  async run<R>(cause: Cause, work: Work<Tx, R>, options?: { timeout?: number }): Promise<R> {
    const outer = this.running.getStore();
    if (outer) return work(outer.tx as Tx, outer.emit);
    let committed = 0;
    const result = await this.options.client.$transaction(async (tx) => {
      // A retried transaction runs this again from the start, so the staged events start empty each time.
      const running: Running = { tx, emit: this.emitter(cause, () => running.staged), staged: [], savepoints: 0 };
      const value = await this.running.run(running, () => work(tx, running.emit));
      await enqueueEvents(tx, running.staged);
      committed = running.staged.length;
      return value;
    }, options);
    if (committed > 0) this.options.eventsCommitted();
    return result;
  }

  /**
   * Runs `work` under a savepoint of the running unit: when it throws, what it wrote and emitted is undone and the
   * error rethrown, while the rest of the transaction goes on (e.g. a reply whose answer is refused still records the
   * inbox entry). Only inside {@link run}.
   */
  async savepoint<R>(work: Work<Tx, R>): Promise<R> {
    const running = this.running.getStore();
    if (!running) throw new Error('savepoint() is only possible inside UnitOfWork.run()');
    const tx = running.tx as Tx;
    const name = `unit_of_work_${(running.savepoints += 1)}`;
    const stagedBefore = running.staged.length;
    await tx.$executeRawUnsafe(`SAVEPOINT ${name}`);
    try {
      const value = await work(tx, running.emit);
      await tx.$executeRawUnsafe(`RELEASE SAVEPOINT ${name}`);
      return value;
    } catch (error) {
      await tx.$executeRawUnsafe(`ROLLBACK TO SAVEPOINT ${name}`);
      running.staged.length = stagedBefore;
      throw error;
    }
  }

  private emitter(cause: Cause, staged: () => EventEnvelope[]): Emit {
    const { source } = this.options;
    return (definition, { cause: own, ...fields }) => {
      const { correlationId, causationId } = own ?? cause;
      const event = createEvent(definition, {
        ...fields,
        source,
        correlationId,
        ...(causationId !== undefined ? { causationId } : {}),
      });
      // The trace of the change that emitted it, so the relay's and the consumers' spans join it (off: a boolean test).
      const traced = activeTraceContext();
      if (traced) Object.assign(event, traced);
      staged().push(event);
      return event;
    };
  }
}

/** The cause of what a consumer does about `event`: same correlation, caused by the event itself. */
export function causeOf(event: Pick<EventEnvelope, 'id' | 'correlationid'>): Cause {
  return { correlationId: event.correlationid, causationId: event.id };
}
