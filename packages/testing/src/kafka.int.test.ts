import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { kafkaBrokers } from './kafka.js';
import { uniqueTopicPrefix } from './names.js';

describe('kafkaBrokers', () => {
  it('returns the broker the globalSetup shares with every worker', async () => {
    const brokers = await kafkaBrokers();
    expect(brokers).toEqual(inject('kafkaBrokers'));
    expect(process.env.KAFKA_BROKERS).toBe(brokers.join(','));

    const kafka = new Kafka({ clientId: 'pep-testing-shared', brokers, logLevel: logLevel.NOTHING });
    const topic = `${uniqueTopicPrefix('shared')}ping`;
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
      const producer = kafka.producer();
      await producer.connect();
      const [result] = await producer.send({ topic, messages: [{ value: 'ping' }] });
      await producer.disconnect();
      expect(result?.errorCode).toBe(0);
      const offsets = await admin.fetchTopicOffsets(topic);
      expect(offsets).toEqual([expect.objectContaining({ partition: 0, high: '1' })]);
    } finally {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });
});
