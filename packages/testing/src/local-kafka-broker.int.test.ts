import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalKafkaBroker } from './local-kafka-broker.js';
import { uniqueTopicPrefix } from './names.js';
import { canConnect } from './ports.js';

function client(brokers: string[]): Kafka {
  return new Kafka({
    clientId: 'pep-testing-test',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 500 },
  });
}

/** Consumes until `count` messages arrived or the bound passes; returns their values. */
async function consume(kafka: Kafka, topic: string, groupId: string, count: number, timeoutMs = 30_000): Promise<string[]> {
  const consumer: Consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  const values: string[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`got ${values.length}/${count} messages from ${topic}: ${values.join(',')}`)),
        timeoutMs,
      );
      consumer
        .run({
          eachMessage: async ({ message }) => {
            values.push(message.value?.toString() ?? '');
            if (values.length >= count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    // disconnect() commits the offsets of what eachMessage processed.
    await consumer.disconnect();
  }
  return values;
}

describe('LocalKafkaBroker', () => {
  let broker: LocalKafkaBroker;
  const prefix = uniqueTopicPrefix('local-broker');

  beforeAll(async () => {
    broker = await LocalKafkaBroker.start();
  });
  afterAll(async () => {
    await broker?.destroy();
  });

  it('serves producers and consumers', async () => {
    expect(broker.brokers).toEqual([`127.0.0.1:${broker.port}`]);
    const kafka = client(broker.brokers);
    const topic = `${prefix}roundtrip`;
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'k', value: 'hello' }] });
    await producer.disconnect();
    expect(await consume(kafka, topic, `${prefix}g-roundtrip`, 1)).toEqual(['hello']);
  });

  it('stop() takes it down and start() brings it back on the same port with its data', async () => {
    const topic = `${prefix}outage`;
    const group = `${prefix}g-outage`;
    const before = client(broker.brokers);
    const producer = before.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    // One key: one partition, so the order of the two messages is defined.
    await producer.send({ topic, messages: [{ key: 'patient-1', value: 'before-1' }] });
    // Commit an offset for `group` so the restart can show committed offsets survive too.
    expect(await consume(before, topic, group, 1)).toEqual(['before-1']);
    await producer.send({ topic, messages: [{ key: 'patient-1', value: 'before-2' }] });
    await producer.disconnect();

    const port = broker.port;
    await broker.stop();
    expect(broker.running).toBe(false);
    expect(await canConnect(port)).toBe(false);
    const down = client(broker.brokers).producer();
    await expect(
      (async () => {
        await down.connect();
        await down.send({ topic, messages: [{ value: 'lost' }] });
      })(),
    ).rejects.toThrow();
    await down.disconnect().catch(() => undefined);

    await broker.start();
    expect(broker.port).toBe(port);
    expect(broker.brokers).toEqual([`127.0.0.1:${port}`]);
    const after = client(broker.brokers);
    // The group resumes after its committed offset; a new group still sees everything produced before the stop.
    expect(await consume(after, topic, group, 1)).toEqual(['before-2']);
    expect(await consume(after, topic, `${prefix}g-fresh`, 2)).toEqual(['before-1', 'before-2']);
  });
});
