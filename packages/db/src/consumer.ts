import { contextFromTraceparent, inSpan, SpanKind, tracingEnabled, type Bus, type SubscribeOptions, type Subscription } from '@pep/bus';
import { parseEvent, type EventDefinition, type EventEnvelope } from '@pep/contracts';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { recordOnce } from './inbox.js';
import type { RawSqlClient } from './sql-client.js';
import { causeOf, type Emit, type UnitOfWork } from './unit-of-work.js';

/**
 * Applies one event inside the transaction that records it as handled. `tx` is the service's own transaction client;
 * what the handler emits carries the event as its cause.
 */
export type EventHandler<TData, Tx = RawSqlClient> = (event: EventEnvelope<TData>, tx: Tx, emit: Emit) => Promise<void>;

/** A handler bound to the event type and version it consumes. */
export interface EventBinding<Tx = RawSqlClient> {
  definition: EventDefinition;
  handle: EventHandler<unknown, Tx>;
}

/** Binds a handler that needs only raw SQL (shared by every service) to a definition, typing the event it receives. */
export function on<TSchema extends z.ZodType>(
  definition: EventDefinition<string, TSchema>,
  handle: EventHandler<z.output<TSchema>>,
): EventBinding {
  return { definition, handle: handle as EventHandler<unknown> };
}

/**
 * An `on` typed by a service's transaction client, so its handlers use the generated Prisma models with no casts:
 * `export const on = handlersOn<Prisma.TransactionClient>();` once per service.
 */
export function handlersOn<Tx>() {
  return <TSchema extends z.ZodType>(definition: EventDefinition<string, TSchema>, handle: EventHandler<z.output<TSchema>, Tx>) =>
    ({ definition, handle: handle as EventHandler<unknown, Tx> }) satisfies EventBinding<Tx>;
}

/** What {@link consumeEvents} needs. */
export interface ConsumeOptions<Tx extends RawSqlClient> {
  bus: Bus;
  /** The service's unit of work: each event is handled in one of its transactions, with the inbox record. */
  unitOfWork: UnitOfWork<Tx>;
  logger: Logger;
  /** Consumer group, also the inbox's consumer name: `<service>.<purpose>`. */
  groupId: string;
  bindings: ReadonlyArray<EventBinding<Tx>>;
  maxAttempts?: number;
  retryDelayMs?: number;
  /** Called once an event's effect has committed (not for a redelivered one): wakes work that waits on what it wrote. */
  afterCommit?: (event: EventEnvelope) => void;
  /** Told of each event dead-lettered after its attempts ran out (the dead-letter metric). */
  onDeadLetter?: SubscribeOptions['onDeadLetter'];
}

/**
 * Subscribes to the topics of the bound events and applies each event exactly once (inbox).
 * Events of other types or versions on those topics are skipped; events that break their
 * contract throw, are retried, and end in the dead-letter topic. Resolves at once: the group is
 * joined in the background, whatever the broker is doing (the subscription's `state()` tells).
 */
export async function consumeEvents<Tx extends RawSqlClient>(options: ConsumeOptions<Tx>): Promise<Subscription> {
  const byKey = new Map(options.bindings.map((binding) => [`${binding.definition.type}@${binding.definition.version}`, binding]));
  const topics = [...new Set(options.bindings.map((binding) => binding.definition.topic))];
  return options.bus.subscribe({
    groupId: options.groupId,
    topics,
    ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
    ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
    ...(options.onDeadLetter ? { onDeadLetter: options.onDeadLetter } : {}),
    handler: async (message) => {
      const event = parseEvent(message.value);
      const binding = byKey.get(`${event.type}@${event.dataversion}`);
      if (!binding) return;
      const apply = () =>
        options.unitOfWork.run(causeOf(event), async (tx, emit) => {
          if (!(await recordOnce(tx, options.groupId, event.id))) return 'duplicate' as const;
          await binding.handle(event, tx, emit);
          return 'handled' as const;
        });
      // A CONSUMER span under the producer's (its header), or under the change that wrote the event when it came without
      // one, so the handler's queries and the events it emits continue the writer's trace.
      const traceparent = message.headers.traceparent ?? event.traceparent;
      const outcome =
        tracingEnabled() && traceparent
          ? await inSpan(
              `process ${message.topic}`,
              {
                kind: SpanKind.CONSUMER,
                parent: contextFromTraceparent(traceparent, message.headers.tracestate ?? event.tracestate),
                attributes: {
                  'messaging.system': 'kafka',
                  'messaging.operation.type': 'process',
                  'messaging.destination.name': message.topic,
                  'messaging.consumer.group.name': options.groupId,
                  'messaging.message.id': event.id,
                  'cloudevents.event_type': event.type,
                },
              },
              apply,
            )
          : await apply();
      if (outcome === 'handled') options.afterCommit?.(event);
      options.logger.debug({ eventId: event.id, type: event.type, outcome, groupId: options.groupId }, 'event consumed');
    },
  });
}
