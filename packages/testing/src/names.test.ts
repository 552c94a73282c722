import { describe, expect, it } from 'vitest';
import { uniqueDatabaseName, uniqueTopicPrefix } from './names.js';
import { waitFor } from './wait-for.js';

describe('uniqueTopicPrefix', () => {
  it('yields distinct, Kafka-legal prefixes', () => {
    const a = uniqueTopicPrefix('Outbox relay / retries');
    const b = uniqueTopicPrefix('Outbox relay / retries');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^t-Outbox-relay-retries-[0-9a-f]{8}\.$/);
    expect(`${a}appointments.booked`).toMatch(/^[a-zA-Z0-9._-]{1,249}$/);
  });
});

describe('uniqueDatabaseName', () => {
  it('keeps to lowercase identifiers of at most 63 characters', () => {
    const name = uniqueDatabaseName(`Scheduling-${'x'.repeat(100)}`);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^t_scheduling_x+_[0-9a-f]{8}$/);
    expect(uniqueDatabaseName('!!!')).toMatch(/^t_test_[0-9a-f]{8}$/);
  });
});

describe('waitFor', () => {
  it('returns the first truthy value', async () => {
    let calls = 0;
    await expect(waitFor(() => (++calls >= 3 ? calls : 0), { intervalMs: 5 })).resolves.toBe(3);
  });

  it('throws the message once the time bound runs out, naming the last error', async () => {
    const started = Date.now();
    await expect(
      waitFor(
        () => {
          throw new Error('still refused');
        },
        { timeoutMs: 200, intervalMs: 20, message: 'the outbox to drain' },
      ),
    ).rejects.toThrow(/the outbox to drain.*still refused/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
