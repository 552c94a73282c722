import { createEvent, patientCreatedV1 } from '@pep/contracts';
import { DEAD_LETTER_HEADERS, deadLetterTopic, KafkaBus, type IncomingMessage } from '@pep/bus';
import { createLogger } from '@pep/service-kit';
import { kafkaBrokers, waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orgA, startPatients, type PatientsUnderTest } from '../test/harness.js';

describe('a poison event', () => {
  let service: PatientsUnderTest;
  let observer: KafkaBus;

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    service = await startPatients('poison', brokers, { maxEventAttempts: 3 });
    observer = new KafkaBus({
      brokers,
      clientId: 'dlq-observer',
      topicPrefix: service.topicPrefix,
      logger: createLogger({ service: 'test', level: 'silent' }),
    });
  });
  afterAll(async () => {
    await observer?.close();
    await service?.close();
  });

  it('lands in the dead-letter topic after the retry bound while later events keep flowing', async () => {
    const subject = '4a4a8c61-2f0e-4c58-9b9f-111111111111';
    const good = createEvent(patientCreatedV1, {
      source: '/services/test',
      organization: orgA.organization,
      subject,
      data: { _id: subject, firstname: 'A', lastname: 'B', phone: null, email: null, dateOfBirth: null, doNotContact: false },
    });
    // Same type and version, but its data breaks the contract: the consumer can never handle it.
    const poison = { ...good, id: '4a4a8c61-2f0e-4c58-9b9f-222222222222', data: { _id: subject, firstname: 42 } };
    const dead: IncomingMessage[] = [];
    await observer.subscribe({
      groupId: 'dlq-observer',
      topics: [deadLetterTopic(patientCreatedV1.topic, 'patients.journey')],
      handler: async (message) => {
        dead.push(message);
      },
    });

    await service.bus.publish([
      { topic: patientCreatedV1.topic, key: subject, value: JSON.stringify(poison) },
      { topic: patientCreatedV1.topic, key: subject, value: JSON.stringify(good) },
    ]);

    await waitFor(async () => dead.length === 1, { timeoutMs: 60_000, message: 'poison event dead-lettered' });
    const letter = dead[0]!;
    expect(JSON.parse(letter.value.toString()).id).toBe(poison.id);
    expect(letter.headers[DEAD_LETTER_HEADERS.topic]).toBe(patientCreatedV1.topic);
    expect(letter.headers[DEAD_LETTER_HEADERS.partition]).toMatch(/^\d+$/);
    expect(letter.headers[DEAD_LETTER_HEADERS.offset]).toMatch(/^\d+$/);
    expect(letter.headers[DEAD_LETTER_HEADERS.attempts]).toBe('3');
    expect(letter.headers[DEAD_LETTER_HEADERS.error]).toMatch(/schema/);

    // The valid event behind the poison one on the same partition is still handled.
    await waitFor(async () => (await countJourney(service, subject)) === 1, { timeoutMs: 30_000, message: 'later event handled' });
  });
});

async function countJourney(service: PatientsUnderTest, patient: string): Promise<number> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: service.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT count(*)::int AS n FROM journey_entry WHERE patient = $1', [patient]);
    return rows[0].n as number;
  } finally {
    await client.end();
  }
}
