import { kafkaBrokers, uniqueTopicPrefix } from '@pep/testing';
import kafkajs from 'kafkajs';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KafkaBus } from './kafka-bus.js';
import { TopicsNotReadyError, type TopicSpec } from './topics.js';

const logger = pino({ level: process.env.BUS_TEST_LOG_LEVEL ?? 'silent' });
const buses: KafkaBus[] = [];
const DAY = 86_400_000;

afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
});

async function problemsOf(work: Promise<unknown>, prefix: string): Promise<string[]> {
  const error = await work.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TopicsNotReadyError);
  // Problems name the physical topics, as an operator finds them on the cluster.
  return (error as TopicsNotReadyError).problems.map((problem) => `${problem.topic.replace(prefix, '')}:${problem.kind}`);
}

describe('declared topics on a real broker', () => {
  let brokers: string[];

  beforeAll(async () => {
    brokers = await kafkaBrokers();
  });

  function newBus(topicPrefix: string, createTopics = true): KafkaBus {
    const bus = new KafkaBus({ brokers, clientId: 'topics-test', logger, topicPrefix, createTopics, requestTimeoutMs: 30_000 });
    buses.push(bus);
    return bus;
  }

  it('creates what is declared, then verifies it; a second run changes nothing', async () => {
    const bus = newBus(uniqueTopicPrefix('topics-create'));
    const specs: TopicSpec[] = [
      { topic: 'svc.thing', partitions: 2, retentionMs: 7 * DAY },
      { topic: 'svc.thing.svc.group.dlq', partitions: 2, retentionMs: 30 * DAY },
    ];
    const first = await bus.provisionTopics(specs);
    expect(first.created).toHaveLength(2);
    await bus.verifyTopics(specs);
    const second = await bus.provisionTopics(specs);
    expect(second).toEqual({ created: [], partitionsAdded: [], retentionChanged: [] });
  });

  it('reports a missing topic, too few partitions and another retention, all at once, and migrate fixes them', async () => {
    const prefix = uniqueTopicPrefix('topics-drift');
    const bus = newBus(prefix);
    await bus.provisionTopics([
      { topic: 'a', partitions: 1, retentionMs: 7 * DAY },
      { topic: 'b', partitions: 2, retentionMs: DAY },
    ]);
    const declared: TopicSpec[] = [
      { topic: 'a', partitions: 3, retentionMs: 7 * DAY },
      { topic: 'b', partitions: 2, retentionMs: 7 * DAY },
      { topic: 'c', partitions: 2, retentionMs: 7 * DAY },
    ];
    const verifier = newBus(prefix, false);
    const error = await verifier.verifyTopics(declared).catch((caught: unknown) => caught as Error);
    expect((error as Error).message).toContain('run the migration Job');
    expect(await problemsOf(verifier.verifyTopics(declared), prefix)).toEqual(['a:partitions', 'b:retention', 'c:missing']);

    const done = await bus.provisionTopics(declared);
    expect(done).toEqual({ created: [`${prefix}c`], partitionsAdded: [`${prefix}a`], retentionChanged: [`${prefix}b`] });
    await verifier.verifyTopics(declared);
  });

  it('refuses, changing nothing, another replication factor; keeps a topic widened by hand', async () => {
    const prefix = uniqueTopicPrefix('topics-refuse');
    const bus = newBus(prefix);
    await bus.provisionTopics([{ topic: 'wide', partitions: 4, retentionMs: 7 * DAY }]);
    const otherFactor = [
      { topic: 'wide', partitions: 4, replicationFactor: 3, retentionMs: DAY },
      { topic: 'new', partitions: 2, retentionMs: DAY },
    ];
    const error = await bus.provisionTopics(otherFactor).catch((caught: unknown) => caught as Error);
    expect(error).toBeInstanceOf(TopicsNotReadyError);
    expect((error as Error).message).toContain('replication factor');
    expect(await problemsOf(bus.provisionTopics(otherFactor), prefix)).toEqual(['wide:replication-factor']);
    // Neither the retention of the existing topic nor the new topic was touched.
    expect(await problemsOf(bus.verifyTopics(otherFactor.map(({ replicationFactor: _factor, ...spec }) => spec)), prefix)).toEqual([
      'wide:retention',
      'new:missing',
    ]);
    // Declared narrower than it is (an operator added partitions): the Job carries on and the service runs with it.
    const narrower = [
      { topic: 'wide', partitions: 2, retentionMs: DAY },
      { topic: 'new', partitions: 2, retentionMs: DAY },
    ];
    expect(await bus.provisionTopics(narrower)).toEqual({
      created: [`${prefix}new`],
      partitionsAdded: [],
      retentionChanged: [`${prefix}wide`],
    });
    await bus.verifyTopics(narrower);
  });

  it('changes the retention of a topic, keeping the overrides an operator set on it', async () => {
    const prefix = uniqueTopicPrefix('topics-overrides');
    const bus = newBus(prefix);
    await bus.provisionTopics([{ topic: 'tuned', partitions: 1, retentionMs: DAY }]);
    // The operator's own tuning, set with the plain Kafka admin client as kafka-configs.sh would.
    const admin = new kafkajs.Kafka({ brokers, clientId: 'topics-test-operator', logLevel: kafkajs.logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const resource = { type: kafkajs.ConfigResourceTypes.TOPIC, name: `${prefix}tuned` };
      const operatorSet = [
        { name: 'max.message.bytes', value: '2097152' },
        { name: 'segment.ms', value: String(3 * DAY) },
      ];
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{ ...resource, configEntries: [...operatorSet, { name: 'retention.ms', value: String(DAY) }] }],
      });

      const done = await bus.provisionTopics([{ topic: 'tuned', partitions: 1, retentionMs: 7 * DAY }]);
      expect(done.retentionChanged).toEqual([`${prefix}tuned`]);
      const described = await admin.describeConfigs({ includeSynonyms: false, resources: [resource] });
      const overrides = Object.fromEntries(
        described.resources[0]!.configEntries.filter((entry) => entry.configSource === kafkajs.ConfigSource.TOPIC_CONFIG).map((entry) => [
          entry.configName,
          entry.configValue,
        ]),
      );
      expect(overrides).toEqual({
        ...Object.fromEntries(operatorSet.map((entry) => [entry.name, entry.value])),
        'retention.ms': String(7 * DAY),
      });
    } finally {
      await admin.disconnect();
    }
  });

  it('in verify mode never creates a topic: a publish to a missing one fails', async () => {
    const prefix = uniqueTopicPrefix('topics-verify-mode');
    const bus = newBus(prefix, false);
    await expect(bus.publish([{ topic: 'absent', key: 'k', value: 'v', headers: {} }])).rejects.toThrow();
    const checker = newBus(prefix);
    expect(await problemsOf(checker.verifyTopics([{ topic: 'absent', partitions: 1, retentionMs: DAY }]), prefix)).toEqual([
      'absent:missing',
    ]);
  });
});
