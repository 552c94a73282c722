/** A topic as a service declares it; the migration Job creates it so, and a service in verify mode checks it. */
export interface TopicSpec {
  /** Logical name (without the bus's topic prefix). */
  topic: string;
  /** Partitions it must have at least. */
  partitions: number;
  /** Replicas each partition must have at least; the broker's `default.replication.factor` when absent (then not checked). */
  replicationFactor?: number | undefined;
  /** `retention.ms` of the topic. */
  retentionMs: number;
}

/** What a topic looks like on the cluster. */
export interface TopicState {
  partitions: number;
  /** The fewest replicas any of its partitions has. */
  replicationFactor: number;
  /** `retention.ms`, as the broker reports it (its default when the topic sets none). */
  retentionMs: number | undefined;
}

/** One way a topic on the cluster differs from its declaration. */
export type TopicProblem =
  | { topic: string; kind: 'missing' }
  | { topic: string; kind: 'partitions'; expected: number; actual: number }
  /** More partitions than declared: fine to run with, but Kafka cannot lower them to match the declaration. */
  | { topic: string; kind: 'partitions-above'; expected: number; actual: number }
  | { topic: string; kind: 'replication-factor'; expected: number; actual: number }
  | { topic: string; kind: 'retention'; expected: number; actual: number | undefined }
  /** Overrides the broker shows without a value (a name it does not know, or a secret): a Job cannot send them back. */
  | { topic: string; kind: 'override-unreadable'; configs: string[] };

/** How a topic differs from its declaration (none when it matches); more partitions than declared is fine. */
export function topicProblems(spec: TopicSpec, state: TopicState | undefined): TopicProblem[] {
  if (!state) return [{ topic: spec.topic, kind: 'missing' }];
  const problems: TopicProblem[] = [];
  if (state.partitions < spec.partitions) {
    problems.push({ topic: spec.topic, kind: 'partitions', expected: spec.partitions, actual: state.partitions });
  }
  // Fewer replicas than declared lose durability; more (a reassignment in flight, a cluster that raised it) do not.
  if (spec.replicationFactor !== undefined && state.replicationFactor < spec.replicationFactor) {
    problems.push({ topic: spec.topic, kind: 'replication-factor', expected: spec.replicationFactor, actual: state.replicationFactor });
  }
  if (state.retentionMs !== spec.retentionMs) {
    problems.push({ topic: spec.topic, kind: 'retention', expected: spec.retentionMs, actual: state.retentionMs });
  }
  return problems;
}

/** What the migration Job cannot change in place: another replication factor. */
export function unfixableTopicProblems(spec: TopicSpec, state: TopicState | undefined): TopicProblem[] {
  if (!state) return [];
  return topicProblems(spec, state).filter((problem) => problem.kind === 'replication-factor');
}

/**
 * More partitions than declared: Kafka cannot lower them, and services run with them (keys keep their order within a
 * partition), so the Job only says so — a topic an operator widened by hand must not block every release.
 */
export function widerThanDeclared(spec: TopicSpec, state: TopicState | undefined): TopicProblem[] {
  return state && state.partitions > spec.partitions
    ? [{ topic: spec.topic, kind: 'partitions-above', expected: spec.partitions, actual: state.partitions }]
    : [];
}

/** One line an operator can act on. */
export function describeTopicProblem(problem: TopicProblem): string {
  switch (problem.kind) {
    case 'missing':
      return `${problem.topic}: missing`;
    case 'partitions':
      return `${problem.topic}: ${problem.actual} partitions, at least ${problem.expected} expected`;
    case 'partitions-above':
      return `${problem.topic}: ${problem.actual} partitions, only ${problem.expected} declared (Kafka cannot remove partitions)`;
    case 'replication-factor':
      return `${problem.topic}: replication factor ${problem.actual}, at least ${problem.expected} expected`;
    case 'retention':
      return `${problem.topic}: retention.ms ${problem.actual ?? 'unknown'}, ${problem.expected} expected`;
    case 'override-unreadable':
      return `${problem.topic}: override ${problem.configs.join(', ')} has no readable value (unknown to the broker, or secret)`;
  }
}

/** Raised when declared topics are missing or differ from their declaration; lists every problem at once. */
export class TopicsNotReadyError extends Error {
  constructor(
    readonly problems: TopicProblem[],
    advice: string,
  ) {
    super(`Kafka topics are not as declared:\n${problems.map((problem) => `  - ${describeTopicProblem(problem)}`).join('\n')}\n${advice}`);
    this.name = 'TopicsNotReadyError';
  }
}

/** Where each problem of a migration that Kafka cannot fix leaves the operator. */
export const VERIFY_ADVICE =
  'Not starting: run the migration Job (node dist/migrate.js) with the same KAFKA_TOPIC_* settings, or correct the KAFKA_TOPIC_* settings of the service.';

/** Why the migration Job does not change the retention of a topic whose overrides it cannot read back. */
export const OVERRIDES_ADVICE =
  "Changing retention rewrites all of a topic's overrides, and these cannot be sent back: remove the override " +
  '(kafka-configs --alter --delete-config), or set retention.ms by hand (kafka-configs --alter --add-config changes only that key), then run the Job again.';

/** What the migration Job cannot change in place, and how to get out of it. */
export const UNFIXABLE_ADVICE =
  "Kafka cannot change a topic's replication factor in place: set KAFKA_TOPIC_REPLICATION_FACTOR to the current factor, " +
  'or reassign the replicas (kafka-reassign-partitions) and run the Job again.';

// kafkajs's names for a broker that did not answer; it wraps them in KafkaJSNumberOfRetriesExceeded as `cause`.
const UNREACHABLE_ERRORS = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError']);

/**
 * Whether a failed topic check means only that the brokers did not answer (refused, unresolvable, timed out): no
 * evidence about the topics, so a service starts anyway and its consumers join once Kafka is back (ADR 0024). Refused
 * credentials, a refused certificate and topics unlike their declaration are not this, and still stop the start.
 */
export function brokersUnreachable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    // A certificate the client refuses (or TLS spoken to a plain listener) is a setting to correct, not an outage.
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /CERT|SSL|TLS|SIGNATURE/.test(code)) return false;
    if (UNREACHABLE_ERRORS.has(current.name)) return true;
    current = current.cause;
  }
  return false;
}
