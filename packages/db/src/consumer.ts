import type { Bus, Subscription } from '@pep/bus';
import { parseEvent, type EventDefinition, type EventEnvelope } from '@pep/contracts';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { handleOnce } from './inbox.js';
import type { RawSqlClient, TransactionalClient } from './sql-client.js';

/** Applies one event inside the transaction that records it as handled. */
export type EventHandler<TData> = (event: EventEnvelope<TData>, tx: RawSqlClient) => Promise<void>;

/** A handler bound to the event type and version it consumes. */
export interface EventBinding {
  definition: EventDefinition;
  handle: EventHandler<unknown>;
}

/** Binds a handler to a definition, typing the event it receives. */
export function on<TSchema extends z.ZodType>(
  definition: EventDefinition<string, TSchema>,
  handle: EventHandler<z.output<TSchema>>,
): EventBinding {
  return { definition, handle: handle as EventHandler<unknown> };
}

/** What {@link consumeEvents} needs. */
export interface ConsumeOptions {
  bus: Bus;
  prisma: TransactionalClient;
  logger: Logger;
  /** Consumer group, also the inbox's consumer name: `<service>.<purpose>`. */
  groupId: string;
  bindings: EventBinding[];
  maxAttempts?: number;
  retryDelayMs?: number;
  /** Called once an event's effect has committed (not for a redelivered one): wakes work that waits on what it wrote. */
  afterCommit?: (event: EventEnvelope) => void;
}

/**
 * Subscribes to the topics of the bound events and applies each event exactly once (inbox).
 * Events of other types or versions on those topics are skipped; events that break their
 * contract throw, are retried, and end in the dead-letter topic. Resolves at once: the group is
 * joined in the background, whatever the broker is doing (the subscription's `state()` tells).
 */
export async function consumeEvents(options: ConsumeOptions): Promise<Subscription> {
  const byKey = new Map(options.bindings.map((binding) => [`${binding.definition.type}@${binding.definition.version}`, binding]));
  const topics = [...new Set(options.bindings.map((binding) => binding.definition.topic))];
  return options.bus.subscribe({
    groupId: options.groupId,
    topics,
    ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
    ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
    handler: async (message) => {
      const event = parseEvent(message.value);
      const binding = byKey.get(`${event.type}@${event.dataversion}`);
      if (!binding) return;
      const outcome = await handleOnce(options.prisma, options.groupId, event.id, (tx) => binding.handle(event, tx));
      if (outcome === 'handled') options.afterCommit?.(event);
      options.logger.debug({ eventId: event.id, type: event.type, outcome, groupId: options.groupId }, 'event consumed');
    },
  });
}
