import { startDedicatedKafka, waitFor, type ControllableKafka } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, orgA, startPatients, type PatientsUnderTest } from '../test/harness.js';

describe('patients service while the Kafka broker is down', () => {
  let kafka: ControllableKafka;
  let service: PatientsUnderTest;

  beforeAll(async () => {
    kafka = await startDedicatedKafka();
    service = await startPatients('outage', kafka.brokers);
  });
  afterAll(async () => {
    await service?.close();
    await kafka?.destroy();
  });

  const journeyLength = async (id: string) =>
    ((await service.app.inject({ url: `/api/patients/${id}/journey`, headers: await as(orgA) })).json().response as unknown[]).length;
  const stuckReasons = async () => {
    const client = new pg.Client({ connectionString: service.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ last_error: string }>(
        'SELECT last_error FROM outbox WHERE published_at IS NULL AND last_error IS NOT NULL',
      );
      return rows.map((row) => row.last_error);
    } finally {
      await client.end();
    }
  };
  const create = async (firstname: string) => {
    const response = await service.app.inject({
      method: 'POST',
      url: '/api/patients',
      headers: await as(orgA),
      payload: { firstname, lastname: 'Outage' },
    });
    expect(response.statusCode).toBe(200);
    return response.json()._id as string;
  };

  it('keeps accepting writes and delivers every event once the broker is back', async () => {
    const before = await create('Before');
    await waitFor(async () => (await journeyLength(before)) === 1, { timeoutMs: 30_000, message: 'delivery before the outage' });

    await kafka.stop();
    const during = [await create('During1'), await create('During2'), await create('During3')];
    // Still ready: the database takes the writes (the outbox keeps their events); the broker's trouble is shown.
    const ready = await service.app.inject({ url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'degraded', checks: { database: 'ok', broker: 'failing' } });
    expect((await service.app.inject({ url: '/metrics' })).body).toMatch(/^health_check_up\{[^}]*check="broker"[^}]*\} 0$/m);
    for (const id of during) expect(await journeyLength(id)).toBe(0);
    const metrics = await service.app.inject({ url: '/metrics' });
    expect(metrics.body).toMatch(/^outbox_pending_events\{[^}]*\} 3$/m);
    // The waiting rows say why they wait.
    await waitFor(async () => (await stuckReasons()).length > 0, { timeoutMs: 30_000, message: 'failure recorded on the outbox' });

    await kafka.start();
    await waitFor(async () => (await Promise.all(during.map(journeyLength))).every((length) => length === 1), {
      timeoutMs: 120_000,
      intervalMs: 500,
      message: 'every event written during the outage arrives after it',
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await Promise.all([before, ...during].map(journeyLength))).toEqual([1, 1, 1, 1]);
    await waitFor(async () => (await service.app.inject({ url: '/health/ready' })).json().status === 'ok', {
      timeoutMs: 60_000,
      message: 'broker and every consumer reported up again',
    });
  });
});
