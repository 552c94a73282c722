import type { Logger } from 'pino';
import { DEAD_LETTER_HEADERS, deadLetterTopic, type IncomingMessage, type MessageHandler, type SubscribeOptions } from './bus.js';

/** How often and how patiently a record is retried before it is dead-lettered. */
export interface RetryPolicy {
  maxAttempts: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
}

/** A record as read from a partition, before a delivery attempt is numbered. */
export type ConsumedRecord = Omit<IncomingMessage, 'attempt'>;

/** Result of {@link runWithRetry}. */
export type RetryOutcome =
  | { kind: 'handled'; attempts: number }
  | { kind: 'exhausted'; attempts: number; error: unknown }
  /** The subscription is stopping; the record was not handled and must not be committed. */
  | { kind: 'aborted'; attempts: number };

/** Result of {@link deliver}: whether the record's offset may be committed. */
export type DeliveryOutcome = 'handled' | 'dead-lettered' | 'aborted';

/** Longest error text carried in a dead-letter header; a stack of nested causes must not bloat the record. */
const MAX_ERROR_HEADER_LENGTH = 1_000;

/** Kafka's rule for topic names; the in-process bus enforces it too, so a topic that works in one works in the other. */
const LEGAL_TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

/** Throws unless `topic` is a legal Kafka topic name. */
export function assertTopicName(topic: string): void {
  if (!LEGAL_TOPIC.test(topic) || topic === '.' || topic === '..') {
    throw new Error(`illegal topic name ${JSON.stringify(topic)}: use 1-249 of [a-zA-Z0-9._-]`);
  }
}

/**
 * Checks a subscription before it starts: its topics and the dead-letter topics its group id
 * implies must be legal, or its first poison record could never be dead-lettered.
 */
export function assertSubscribable(options: Pick<SubscribeOptions, 'groupId' | 'topics'>): void {
  if (!options.groupId) throw new Error('subscribe needs a groupId');
  if (options.topics.length === 0) throw new Error('subscribe needs at least one topic');
  for (const topic of options.topics) {
    assertTopicName(topic);
    assertTopicName(deadLetterTopic(topic, options.groupId));
  }
}

/** Fills in the defaults of a subscription's retry settings and rejects nonsense. */
export function retryPolicy(options: Pick<SubscribeOptions, 'maxAttempts' | 'retryDelayMs' | 'maxRetryDelayMs'>): RetryPolicy {
  const policy: RetryPolicy = {
    maxAttempts: options.maxAttempts ?? 5,
    retryDelayMs: options.retryDelayMs ?? 200,
    maxRetryDelayMs: options.maxRetryDelayMs ?? 5_000,
  };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) throw new RangeError('maxAttempts must be an integer >= 1');
  if (!(policy.retryDelayMs >= 0) || !(policy.maxRetryDelayMs >= 0)) throw new RangeError('retry delays must be >= 0');
  return policy;
}

/** Delay after the given failed attempt (1-based): retryDelayMs doubled per attempt, capped. */
export function retryDelay(policy: RetryPolicy, failedAttempt: number): number {
  const exponent = Math.min(failedAttempt - 1, 30);
  return Math.min(policy.maxRetryDelayMs, policy.retryDelayMs * 2 ** exponent);
}

/** Listener for failed attempts, so transports can log them without seeing the record's value. */
export type AttemptFailedListener = (error: unknown, attempt: number, nextDelayMs: number | null) => void;

/** How a transport follows and steers {@link runWithRetry}. */
export interface RetryHooks {
  /** Aborting cancels the wait before the next attempt; the record then counts as not handled. */
  signal?: AbortSignal;
  onAttemptFailed?: AttemptFailedListener;
  /** Runs after each wait, before the next attempt (e.g. a consumer-group heartbeat); throwing ends the delivery. */
  beforeRetry?: () => Promise<void>;
}

/**
 * Calls the handler for one record until it succeeds, the attempts run out, or `signal` aborts.
 * An abort never interrupts a running handler; it only cancels the wait before the next attempt.
 */
export async function runWithRetry(
  record: ConsumedRecord,
  handler: MessageHandler,
  policy: RetryPolicy,
  hooks: RetryHooks = {},
): Promise<RetryOutcome> {
  const { signal, onAttemptFailed, beforeRetry } = hooks;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) return { kind: 'aborted', attempts: attempt - 1 };
    try {
      // A fresh headers object per attempt: a handler that mutates it must not affect the next attempt or the dead letter.
      await handler({ ...record, headers: { ...record.headers }, attempt });
      return { kind: 'handled', attempts: attempt };
    } catch (error) {
      const last = attempt >= policy.maxAttempts;
      const delay = last ? null : retryDelay(policy, attempt);
      onAttemptFailed?.(error, attempt, delay);
      if (delay === null) return { kind: 'exhausted', attempts: attempt, error };
      if (!(await sleep(delay, signal))) return { kind: 'aborted', attempts: attempt };
      await beforeRetry?.();
    }
  }
}

/** The headers of a dead-lettered record: the original headers plus where it came from and why it failed. */
export function deadLetterHeaders(
  record: ConsumedRecord,
  groupId: string,
  error: unknown,
  attempts: number,
  now: Date = new Date(),
): Record<string, string> {
  return {
    ...record.headers,
    [DEAD_LETTER_HEADERS.topic]: record.topic,
    [DEAD_LETTER_HEADERS.partition]: String(record.partition),
    [DEAD_LETTER_HEADERS.offset]: record.offset,
    [DEAD_LETTER_HEADERS.group]: groupId,
    [DEAD_LETTER_HEADERS.error]: errorText(error),
    [DEAD_LETTER_HEADERS.attempts]: String(attempts),
    [DEAD_LETTER_HEADERS.failedAt]: now.toISOString(),
  };
}

/** Writes a dead letter; must reject if the record could not be durably stored. */
export type DeadLetterWriter = (record: ConsumedRecord, headers: Record<string, string>) => Promise<void>;

/** Everything {@link deliver} needs besides the record. */
export interface DeliveryContext extends RetryHooks {
  groupId: string;
  handler: MessageHandler;
  policy: RetryPolicy;
  deadLetter: DeadLetterWriter;
}

/**
 * Handles one record with retries and dead-letters it once the attempts run out. Both outcomes
 * except `aborted` allow the offset to be committed. Rejects when the dead letter could not be
 * written, in which case the caller must not commit, so the record is delivered again.
 */
export async function deliver(record: ConsumedRecord, context: DeliveryContext): Promise<DeliveryOutcome> {
  const outcome = await runWithRetry(record, context.handler, context.policy, context);
  if (outcome.kind === 'handled') return 'handled';
  if (outcome.kind === 'aborted') return 'aborted';
  await context.deadLetter(record, deadLetterHeaders(record, context.groupId, outcome.error, outcome.attempts));
  return 'dead-lettered';
}

/** A short, single-line description of an error, safe to put in a header. */
export function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  // Header values travel as single strings; newlines would only confuse the tools operators read them with.
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_ERROR_HEADER_LENGTH ? `${oneLine.slice(0, MAX_ERROR_HEADER_LENGTH - 1)}…` : oneLine;
}

/** Tells a subscription's dead-letter observer of one dead letter; an observer that throws is logged, never rethrown. */
export function notifyDeadLetter(
  options: Pick<SubscribeOptions, 'onDeadLetter'>,
  deadLettered: { groupId: string; topic: string },
  logger: Logger,
): void {
  try {
    options.onDeadLetter?.(deadLettered);
  } catch (error) {
    // An observer's failure must not fail a record that was handled (dead-lettered) already.
    logger.warn({ err: errorSummary(error), ...deadLettered }, 'dead-letter observer failed');
  }
}

/**
 * Runs `step` until it succeeds, at most `attempts` times, waiting `delayStepMs` × the attempt number after a failure
 * marked `retriable` (as kafkajs marks a broker still catching up); any other failure, or the last, is thrown.
 */
export async function retryRetriable<T>(step: () => Promise<T>, attempts: number, delayStepMs: number): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (attempt >= attempts || (error as { retriable?: boolean } | null)?.retriable !== true) throw error;
      await sleep(delayStepMs * attempt);
    }
  }
}

/** The name and message of an error, for logs; never a record's value. */
export function errorSummary(error: unknown): { name?: string; message: string } {
  return error instanceof Error ? { name: error.name, message: error.message } : { message: String(error) };
}

/** Waits `ms`; resolves false instead if `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Rejects with `message` if `promise` has not settled within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
    // The losing promise may still reject later; nobody awaits it, so keep it from becoming an unhandled rejection.
    promise.catch(() => undefined);
  }
}
