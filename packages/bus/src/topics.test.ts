import { describe, expect, it } from 'vitest';
import { TopicsNotReadyError, topicProblems, unfixableTopicProblems, type TopicSpec } from './topics.js';

const spec: TopicSpec = { topic: 'svc.thing', partitions: 3, replicationFactor: 3, retentionMs: 1_000 };

describe('topicProblems', () => {
  it('finds none when the topic is as declared, or has more partitions', () => {
    expect(topicProblems(spec, { partitions: 3, replicationFactor: 3, retentionMs: 1_000 })).toEqual([]);
    expect(topicProblems(spec, { partitions: 6, replicationFactor: 3, retentionMs: 1_000 })).toEqual([]);
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

  it('tells what Kafka cannot change in place: fewer partitions than the topic has, another replication factor', () => {
    const state = { partitions: 6, replicationFactor: 1, retentionMs: 5 };
    expect(
      unfixableTopicProblems(spec, state)
        .map((problem) => problem.kind)
        .sort(),
    ).toEqual(['partitions-above', 'replication-factor']);
    expect(unfixableTopicProblems(spec, { partitions: 1, replicationFactor: 3, retentionMs: 5 })).toEqual([]);
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
});
