import { describe, expect, it } from 'vitest';
import {
  brokersUnreachable,
  OVERRIDES_ADVICE,
  TopicsNotReadyError,
  topicProblems,
  unfixableTopicProblems,
  widerThanDeclared,
  type TopicSpec,
} from './topics.js';

const spec: TopicSpec = { topic: 'svc.thing', partitions: 3, replicationFactor: 3, retentionMs: 1_000 };

describe('topicProblems', () => {
  it('finds none when the topic is as declared, or has more partitions', () => {
    expect(topicProblems(spec, { partitions: 3, replicationFactor: 3, retentionMs: 1_000 })).toEqual([]);
    expect(topicProblems(spec, { partitions: 6, replicationFactor: 3, retentionMs: 1_000 })).toEqual([]);
    // More replicas than declared (a reassignment adding replicas, a cluster that raised it) keep their durability.
    expect(topicProblems(spec, { partitions: 3, replicationFactor: 4, retentionMs: 1_000 })).toEqual([]);
  });

  it('lists every difference of a topic, or that it is missing', () => {
    expect(topicProblems(spec, undefined)).toEqual([{ topic: 'svc.thing', kind: 'missing' }]);
    expect(topicProblems(spec, { partitions: 1, replicationFactor: 1, retentionMs: 2_000 }).map((problem) => problem.kind)).toEqual([
      'partitions',
      'replication-factor',
      'retention',
    ]);
  });

  it('leaves the replication factor to the broker when none is declared', () => {
    expect(topicProblems({ ...spec, replicationFactor: undefined }, { partitions: 3, replicationFactor: 1, retentionMs: 1_000 })).toEqual(
      [],
    );
  });

  it('tells what Kafka cannot change in place (another replication factor) apart from a topic merely wider than declared', () => {
    const state = { partitions: 6, replicationFactor: 1, retentionMs: 5 };
    expect(unfixableTopicProblems(spec, state).map((problem) => problem.kind)).toEqual(['replication-factor']);
    expect(widerThanDeclared(spec, state).map((problem) => problem.kind)).toEqual(['partitions-above']);
    expect(unfixableTopicProblems(spec, { partitions: 1, replicationFactor: 3, retentionMs: 5 })).toEqual([]);
    expect(widerThanDeclared(spec, { partitions: 1, replicationFactor: 3, retentionMs: 5 })).toEqual([]);
    expect(unfixableTopicProblems(spec, undefined)).toEqual([]);
  });

  it('explains every problem in one message with what to do', () => {
    const error = new TopicsNotReadyError(
      [
        { topic: 'a', kind: 'missing' },
        { topic: 'b', kind: 'partitions', expected: 3, actual: 1 },
      ],
      'run the migration Job',
    );
    expect(error.message).toBe(
      'Kafka topics are not as declared:\n  - a: missing\n  - b: 1 partitions, at least 3 expected\nrun the migration Job',
    );
  });

  it('names the overrides a retention change could not send back, and how to change the retention by hand', () => {
    const error = new TopicsNotReadyError(
      [{ topic: 'p.a', kind: 'override-unreadable', configs: ['x.custom', 'y.secret'] }],
      OVERRIDES_ADVICE,
    );
    expect(error.message).toContain('p.a: override x.custom, y.secret has no readable value');
    expect(error.message).toContain('--add-config changes only that key');
  });
});

describe('brokersUnreachable', () => {
  /** An error as kafkajs names it, with the code of the socket error under it. */
  const named = (name: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(name), { name, ...extra });
  const retried = (cause: Error) => Object.assign(new Error('retries exceeded', { cause }), { name: 'KafkaJSNumberOfRetriesExceeded' });

  it('is a broker that refused, timed out or closed, however deep kafkajs wrapped it', () => {
    expect(brokersUnreachable(retried(named('KafkaJSConnectionError', { code: 'ECONNREFUSED' })))).toBe(true);
    expect(brokersUnreachable(named('KafkaJSRequestTimeoutError'))).toBe(true);
    expect(brokersUnreachable(retried(named('KafkaJSConnectionClosedError')))).toBe(true);
  });

  it('is not topics unlike their declaration, refused credentials or a refused certificate', () => {
    expect(brokersUnreachable(new TopicsNotReadyError([{ topic: 'a', kind: 'missing' }], 'run the migration Job'))).toBe(false);
    expect(brokersUnreachable(retried(named('KafkaJSSASLAuthenticationError')))).toBe(false);
    expect(brokersUnreachable(retried(named('KafkaJSConnectionError', { code: 'SELF_SIGNED_CERT_IN_CHAIN' })))).toBe(false);
    expect(brokersUnreachable('ECONNREFUSED')).toBe(false);
  });
});
