/**
 * The platform's message bus. Services and the outbox relay see only this interface, so the
 * Kafka client behind it (kafkajs today, in maintenance mode) can be replaced without touching them.
 */

/** A record to publish. */
export interface OutgoingMessage {
  /** Logical topic name, without the bus's topic prefix. */
  topic: string;
  /** Partition key; the aggregate id, so one entity's events stay in order. */
  key: string;
  /** Serialized payload (the JSON event envelope). */
  value: string | Buffer;
  /** Extra string headers (e.g. `ce_type`, `ce_id`). */
  headers?: Record<string, string>;
}

/** A record delivered to a handler. */
export interface IncomingMessage {
  /** Logical topic name, without the bus's topic prefix. */
  topic: string;
  partition: number;
  /** Offset within the partition, as a decimal string (Kafka offsets exceed 2^53). */
  offset: string;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
  /** Which delivery attempt this is within the current retry cycle (1-based). */
  attempt: number;
}

/** Processes one record. Throwing asks for a retry; after the retry bound the record is dead-lettered. */
export type MessageHandler = (message: IncomingMessage) => Promise<void>;

export interface SubscribeOptions {
  /** Consumer group: each record is handled by one member of each group (at least once). */
  groupId: string;
  /** Logical topic names. */
  topics: string[];
  handler: MessageHandler;
  /** Attempts per record before it is dead-lettered (default 5). */
  maxAttempts?: number;
  /** Delay before the first retry, doubled each time up to `maxRetryDelayMs` (default 200). */
  retryDelayMs?: number;
  /** Upper bound on the retry delay (default 5000). */
  maxRetryDelayMs?: number;
  /** Start from the earliest retained record when the group has no committed offset (default true). */
  fromBeginning?: boolean;
  /** Told of each record once it was written to its dead-letter topic (a metric counts them); never sees its value. */
  onDeadLetter?: (deadLettered: { groupId: string; topic: string }) => void;
}

/**
 * Where a subscription stands: `joining` while it creates its topics, connects or (re)joins its group (the broker may be
 * unreachable, or a dead member may still hold the group until its session times out), `joined` while it is a member
 * that consumes, `stopped` once stopped.
 */
export type SubscriptionState = 'joining' | 'joined' | 'stopped';

/** A subscription, consuming or still joining its group in the background. */
export interface Subscription {
  /** The consumer group it belongs to. */
  readonly groupId: string;
  /** Where it stands now; it goes back to `joining` while the broker is lost or the group rebalances. */
  state(): SubscriptionState;
  /** Resolves the first time it has joined its group; rejects if it is stopped before that. */
  readonly joined: Promise<void>;
  /** Stops fetching (or joining), waits for the in-flight record to finish and commit, then leaves the group. */
  stop(): Promise<void>;
  /**
   * Records not yet handled, per logical topic: the highest lag over the partitions this member consumes, as last seen
   * while consuming. Only transports that can tell cheaply have it (Kafka).
   */
  lag?(): Record<string, number>;
}

/** Headers a dead-lettered record carries, naming where it came from and why it failed. */
export const DEAD_LETTER_HEADERS = {
  topic: 'x-dlq-original-topic',
  partition: 'x-dlq-original-partition',
  offset: 'x-dlq-original-offset',
  group: 'x-dlq-consumer-group',
  error: 'x-dlq-error',
  attempts: 'x-dlq-attempts',
  failedAt: 'x-dlq-failed-at',
} as const;

/** The dead-letter topic for a topic and consumer group. */
export function deadLetterTopic(topic: string, groupId: string): string {
  return `${topic}.${groupId}.dlq`;
}

export interface Bus {
  /** Publishes all messages; resolves only once the transport has durably accepted every one. */
  publish(messages: OutgoingMessage[]): Promise<void>;
  /**
   * Starts consuming. Resolves at once, whatever the broker is doing: creating topics and joining the group go on in
   * the background, retried with backoff until they succeed or the subscription is stopped (see its `state()`).
   */
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** Whether the transport can reach its broker right now (for readiness probes). */
  healthy(): Promise<boolean>;
  /** Stops every subscription (after in-flight records) and disconnects. */
  close(): Promise<void>;
}
