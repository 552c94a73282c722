import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEAD_LETTER_HEADERS, deadLetterTopic, type IncomingMessage } from './bus.js';
import { InProcessBus, type InProcessBusOptions } from './in-process-bus.js';
import { partitionForKey } from './murmur2.js';

const silent = pino({ level: 'silent' });
const buses: InProcessBus[] = [];
const directories: string[] = [];

function newBus(options: InProcessBusOptions = {}): InProcessBus {
  const bus = new InProcessBus({ logger: silent, ...options });
  buses.push(bus);
  return bus;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bus-test-'));
  directories.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
  await Promise.all(directories.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Collects what a handler saw, as `key:value` strings. */
function collector() {
  const seen: IncomingMessage[] = [];
  return {
    seen,
    handler: async (message: IncomingMessage) => {
      seen.push(message);
    },
    values: () => seen.map((message) => message.value.toString()),
  };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const waitOptions = { timeout: 5_000, interval: 5 };

describe('InProcessBus', () => {
  it('delivers each key in publish order, in the partition Kafka would pick', async () => {
    const bus = newBus();
    const { seen, handler } = collector();
    await bus.subscribe({ groupId: 'g', topics: ['orders'], handler });
    const keys = ['a', 'b', 'c', 'd', 'e'];
    for (let round = 0; round < 20; round++) {
      await bus.publish(keys.map((key) => ({ topic: 'orders', key, value: `${key}-${round}` })));
    }
    await vi.waitFor(() => expect(seen).toHaveLength(100), waitOptions);
    for (const key of keys) {
      const forKey = seen.filter((message) => message.key === key);
      expect(forKey.map((message) => message.value.toString())).toEqual(Array.from({ length: 20 }, (_, round) => `${key}-${round}`));
      expect(new Set(forKey.map((message) => message.partition))).toEqual(new Set([partitionForKey(key, 3)]));
      const offsets = forKey.map((message) => Number(message.offset));
      expect(offsets).toEqual([...offsets].sort((x, y) => x - y));
    }
    expect(seen.every((message) => message.attempt === 1 && message.topic === 'orders')).toBe(true);
  });

  it('keeps per-key order for any interleaving of publishes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.tuple(fc.constantFrom('k1', 'k2', 'k3', 'k4'), fc.nat(1_000)), { minLength: 1, maxLength: 8 }), {
          minLength: 1,
          maxLength: 10,
        }),
        fc.boolean(),
        async (batches, concurrent) => {
          const bus = new InProcessBus({ logger: silent });
          try {
            const seen: [string, string][] = [];
            await bus.subscribe({
              groupId: 'p',
              topics: ['t'],
              handler: async (message) => {
                seen.push([message.key!, message.value.toString()]);
              },
            });
            let sequence = 0;
            const numbered = batches.map((batch) => batch.map(([key, n]) => ({ topic: 't', key, value: `${sequence++}:${n}` })));
            if (concurrent) await Promise.all(numbered.map((batch) => bus.publish(batch)));
            else for (const batch of numbered) await bus.publish(batch);
            await vi.waitFor(() => expect(seen).toHaveLength(sequence), waitOptions);
            for (const key of ['k1', 'k2', 'k3', 'k4']) {
              const expected = numbered
                .flat()
                .filter((message) => message.key === key)
                .map((message) => message.value);
              expect(seen.filter(([k]) => k === key).map(([, value]) => value)).toEqual(expected);
            }
          } finally {
            await bus.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('never runs a handler inside the publish call', async () => {
    const bus = newBus();
    let publishing = false;
    const duringPublish: boolean[] = [];
    await bus.subscribe({
      groupId: 'g',
      topics: ['t'],
      handler: async () => {
        duringPublish.push(publishing);
      },
    });
    publishing = true;
    const published = bus.publish([{ topic: 't', key: 'k', value: 'v' }]);
    publishing = false;
    await published;
    await vi.waitFor(() => expect(duringPublish).toEqual([false]), waitOptions);
  });

  it('gives every group every record', async () => {
    const bus = newBus();
    const first = collector();
    const second = collector();
    await bus.subscribe({ groupId: 'one', topics: ['t'], handler: first.handler });
    await bus.subscribe({ groupId: 'two', topics: ['t'], handler: second.handler });
    await bus.publish(Array.from({ length: 30 }, (_, i) => ({ topic: 't', key: `k${i}`, value: `v${i}` })));
    await vi.waitFor(() => {
      expect(first.seen).toHaveLength(30);
      expect(second.seen).toHaveLength(30);
    }, waitOptions);
    expect(new Set(first.values())).toEqual(new Set(second.values()));
  });

  it('splits partitions between members of one group and rebalances when one stops', async () => {
    const bus = newBus();
    const a = collector();
    const b = collector();
    await bus.subscribe({ groupId: 'g', topics: ['t'], handler: a.handler });
    const subscriptionB = await bus.subscribe({ groupId: 'g', topics: ['t'], handler: b.handler });
    await bus.publish(Array.from({ length: 60 }, (_, i) => ({ topic: 't', key: `k${i}`, value: `first-${i}` })));
    await vi.waitFor(() => expect(a.seen.length + b.seen.length).toBe(60), waitOptions);
    const partitionsA = new Set(a.seen.map((message) => message.partition));
    const partitionsB = new Set(b.seen.map((message) => message.partition));
    expect(partitionsA.size).toBeGreaterThan(0);
    expect(partitionsB.size).toBeGreaterThan(0);
    expect([...partitionsA].filter((partition) => partitionsB.has(partition))).toEqual([]);
    expect(new Set([...a.values(), ...b.values()]).size).toBe(60);

    await subscriptionB.stop();
    await bus.publish(Array.from({ length: 60 }, (_, i) => ({ topic: 't', key: `k${i}`, value: `second-${i}` })));
    await vi.waitFor(
      () => expect(a.seen.filter((message) => message.value.toString().startsWith('second-'))).toHaveLength(60),
      waitOptions,
    );
    expect(new Set(a.seen.map((message) => message.partition))).toEqual(new Set([0, 1, 2]));
    expect(b.values().some((value) => value.startsWith('second-'))).toBe(false);
    // Nothing was delivered twice: the partitions moved only at committed offsets.
    expect(a.seen.length + b.seen.length).toBe(120);
  });

  it('hands a partition over only after its in-flight record finished', async () => {
    const bus = newBus({ numPartitions: 1 });
    const release = deferred();
    const events: string[] = [];
    await bus.subscribe({
      groupId: 'g',
      topics: ['t'],
      handler: async (message) => {
        events.push(`a-start-${message.value.toString()}`);
        if (message.value.toString() === 'slow') await release.promise;
        events.push(`a-end-${message.value.toString()}`);
      },
    });
    await bus.publish([{ topic: 't', key: 'k', value: 'slow' }]);
    await vi.waitFor(() => expect(events).toEqual(['a-start-slow']), waitOptions);
    // The newcomer gets nothing while the only partition stays with the first member.
    const joined = bus.subscribe({
      groupId: 'g',
      topics: ['t'],
      handler: async (message) => void events.push(`b-${message.value.toString()}`),
    });
    await bus.publish([{ topic: 't', key: 'k', value: 'next' }]);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(events).toEqual(['a-start-slow']);
    release.resolve();
    await joined;
    await vi.waitFor(() => expect(events).toContain('a-end-next'), waitOptions);
    expect(events.filter((event) => event.startsWith('b-'))).toEqual([]);
  });

  it('retries a failing record in place, dead-letters it with headers, and keeps later records flowing', async () => {
    const bus = newBus({ numPartitions: 1 });
    const attempts: number[] = [];
    const handled: string[] = [];
    const observed: Array<{ groupId: string; topic: string }> = [];
    await bus.subscribe({
      groupId: 'svc.worker',
      topics: ['t'],
      onDeadLetter: (deadLettered) => observed.push(deadLettered),
      maxAttempts: 3,
      retryDelayMs: 2,
      maxRetryDelayMs: 5,
      handler: async (message) => {
        if (message.value.toString() === 'poison') {
          attempts.push(message.attempt);
          throw new Error('cannot digest\nthis');
        }
        handled.push(message.value.toString());
      },
    });
    const dead = collector();
    await bus.subscribe({ groupId: 'operators', topics: [deadLetterTopic('t', 'svc.worker')], handler: dead.handler });
    await bus.publish([
      { topic: 't', key: 'k', value: 'before' },
      { topic: 't', key: 'k', value: 'poison', headers: { ce_id: 'id-1', ce_type: 'x.happened' } },
      { topic: 't', key: 'k', value: 'after' },
    ]);
    await bus.publish([{ topic: 't', key: 'k', value: 'later' }]);
    await vi.waitFor(() => expect(handled).toEqual(['before', 'after', 'later']), waitOptions);
    expect(attempts).toEqual([1, 2, 3]);
    await vi.waitFor(() => expect(dead.seen).toHaveLength(1), waitOptions);
    expect(observed).toEqual([{ groupId: 'svc.worker', topic: 't' }]);
    const letter = dead.seen[0]!;
    expect(letter.key).toBe('k');
    expect(letter.value.toString()).toBe('poison');
    expect(letter.headers).toMatchObject({
      ce_id: 'id-1',
      ce_type: 'x.happened',
      [DEAD_LETTER_HEADERS.topic]: 't',
      [DEAD_LETTER_HEADERS.partition]: '0',
      [DEAD_LETTER_HEADERS.offset]: '1',
      [DEAD_LETTER_HEADERS.group]: 'svc.worker',
      [DEAD_LETTER_HEADERS.error]: 'Error: cannot digest this',
      [DEAD_LETTER_HEADERS.attempts]: '3',
    });
    expect(new Date(letter.headers[DEAD_LETTER_HEADERS.failedAt]!).toISOString()).toBe(letter.headers[DEAD_LETTER_HEADERS.failedAt]);
  });

  it('redelivers a record whose handler failed until it succeeds (at least once)', async () => {
    const bus = newBus();
    const attempts: number[] = [];
    const dead = collector();
    await bus.subscribe({ groupId: 'ops', topics: [deadLetterTopic('t', 'g')], handler: dead.handler });
    await bus.subscribe({
      groupId: 'g',
      topics: ['t'],
      retryDelayMs: 1,
      handler: async (message) => {
        attempts.push(message.attempt);
        if (message.attempt < 3) throw new Error('transient');
      },
    });
    await bus.publish([{ topic: 't', key: 'k', value: 'v' }]);
    await vi.waitFor(() => expect(attempts).toEqual([1, 2, 3]), waitOptions);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(attempts).toEqual([1, 2, 3]);
    expect(dead.seen).toEqual([]);
  });

  it('stop() waits for the in-flight record and commits it', async () => {
    const bus = newBus();
    const release = deferred();
    let finished = false;
    const subscription = await bus.subscribe({
      groupId: 'g',
      topics: ['t'],
      handler: async () => {
        await release.promise;
        finished = true;
      },
    });
    await bus.publish([{ topic: 't', key: 'k', value: 'v' }]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    let stopped = false;
    const stopping = subscription.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(stopped).toBe(false);
    release.resolve();
    await stopping;
    expect(finished).toBe(true);
    const again = collector();
    await bus.subscribe({ groupId: 'g', topics: ['t'], handler: again.handler });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(again.seen).toEqual([]);
  });

  it('stop() abandons the retries of a failing record without committing it', async () => {
    const bus = newBus();
    let calls = 0;
    const subscription = await bus.subscribe({
      groupId: 'g',
      topics: ['t'],
      retryDelayMs: 10_000,
      handler: async () => {
        calls++;
        throw new Error('down');
      },
    });
    await bus.publish([{ topic: 't', key: 'k', value: 'v' }]);
    await vi.waitFor(() => expect(calls).toBe(1), waitOptions);
    const started = Date.now();
    await subscription.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
    const again = collector();
    await bus.subscribe({ groupId: 'g', topics: ['t'], handler: again.handler });
    await vi.waitFor(() => expect(again.values()).toEqual(['v']), waitOptions);
  });

  it('is a member of its group from the start, until stopped', async () => {
    const bus = newBus();
    const subscription = await bus.subscribe({ groupId: 'svc.reader', topics: ['t'], handler: async () => {} });
    expect(subscription.groupId).toBe('svc.reader');
    expect(subscription.state()).toBe('joined');
    await expect(subscription.joined).resolves.toBeUndefined();
    await subscription.stop();
    expect(subscription.state()).toBe('stopped');
  });

  it('starts at the end of the log when fromBeginning is false', async () => {
    const bus = newBus();
    await bus.publish([{ topic: 't', key: 'k', value: 'old' }]);
    const { handler, values } = collector();
    await bus.subscribe({ groupId: 'g', topics: ['t'], fromBeginning: false, handler });
    await bus.publish([{ topic: 't', key: 'k', value: 'new' }]);
    await vi.waitFor(() => expect(values()).toEqual(['new']), waitOptions);
  });

  it('rejects illegal topic names and group ids that make illegal dead-letter topics', async () => {
    const bus = newBus();
    await expect(bus.publish([{ topic: '../etc', key: 'k', value: 'v' }])).rejects.toThrow(/illegal topic/);
    await expect(bus.subscribe({ groupId: 'a/b', topics: ['t'], handler: async () => {} })).rejects.toThrow(/illegal topic/);
  });

  it('is unhealthy and refuses work once closed', async () => {
    const bus = newBus();
    expect(await bus.healthy()).toBe(true);
    await bus.close();
    expect(await bus.healthy()).toBe(false);
    await expect(bus.publish([{ topic: 't', key: 'k', value: 'v' }])).rejects.toThrow(/closed/);
  });

  describe('with a data directory', () => {
    it('redelivers uncommitted records after a restart, and not committed ones', async () => {
      const dataDir = await tempDir();
      const first = newBus({ dataDir });
      const handledFirst: string[] = [];
      await first.subscribe({
        groupId: 'g',
        topics: ['t'],
        maxAttempts: 1_000,
        retryDelayMs: 5,
        maxRetryDelayMs: 5,
        handler: async (message) => {
          const value = message.value.toString();
          if (value.startsWith('fail')) throw new Error('not now');
          handledFirst.push(value);
        },
      });
      await first.publish([
        { topic: 't', key: 'same', value: 'ok-1' },
        { topic: 't', key: 'same', value: 'ok-2' },
        { topic: 't', key: 'same', value: 'fail-3', headers: { h: '1' } },
        { topic: 't', key: 'same', value: Buffer.from([0xff, 0x00, 0xfe]) },
      ]);
      await vi.waitFor(() => expect(handledFirst).toEqual(['ok-1', 'ok-2']), waitOptions);
      await first.close();

      const second = newBus({ dataDir });
      const again = collector();
      await second.subscribe({ groupId: 'g', topics: ['t'], handler: again.handler });
      const everything = collector();
      await second.subscribe({ groupId: 'other', topics: ['t'], handler: everything.handler });
      await vi.waitFor(() => expect(again.seen).toHaveLength(2), waitOptions);
      expect(again.seen[0]!.value.toString()).toBe('fail-3');
      expect(again.seen[0]!.headers).toEqual({ h: '1' });
      expect(again.seen[1]!.value).toEqual(Buffer.from([0xff, 0x00, 0xfe]));
      expect(again.seen.map((message) => message.offset)).toEqual(['2', '3']);
      await vi.waitFor(() => expect(everything.seen).toHaveLength(4), waitOptions);

      // Offsets continue where the reloaded log ended.
      await second.publish([{ topic: 't', key: 'same', value: 'ok-5' }]);
      await vi.waitFor(() => expect(again.seen.map((message) => message.offset)).toEqual(['2', '3', '4']), waitOptions);
    });

    it('survives a torn last line and keeps logs human-readable', async () => {
      const dataDir = await tempDir();
      const first = newBus({ dataDir, numPartitions: 1 });
      await first.publish([{ topic: 't', key: 'k', value: '{"id":1}' }]);
      await first.close();
      const file = join(dataDir, 'topics', 't', '0.jsonl');
      expect(await readFile(file, 'utf8')).toContain('"v":"{\\"id\\":1}"');
      // What a crash in the middle of an append leaves behind.
      await appendFile(file, '{"o":1,"k":"k","h":{},"t":1,"v":"to');

      const second = newBus({ dataDir, numPartitions: 1 });
      await second.publish([{ topic: 't', key: 'k', value: 'next' }]);
      const { seen, handler } = collector();
      await second.subscribe({ groupId: 'g', topics: ['t'], handler });
      await vi.waitFor(
        () =>
          expect(seen.map((message) => [message.offset, message.value.toString()])).toEqual([
            ['0', '{"id":1}'],
            ['1', 'next'],
          ]),
        waitOptions,
      );
    });

    it('persists dead letters and group offsets with fsync on', async () => {
      const dataDir = await tempDir();
      const first = newBus({ dataDir, fsync: true });
      let handled = 0;
      await first.subscribe({
        groupId: 'g',
        topics: ['t'],
        maxAttempts: 2,
        retryDelayMs: 1,
        handler: async (message) => {
          if (message.value.toString() === 'bad') throw new Error('bad record');
          handled++;
        },
      });
      await first.publish([
        { topic: 't', key: 'k', value: 'bad' },
        { topic: 't', key: 'k', value: 'good' },
      ]);
      await vi.waitFor(() => expect(handled).toBe(1), waitOptions);
      await first.close();

      const second = newBus({ dataDir });
      const dead = collector();
      await second.subscribe({ groupId: 'ops', topics: [deadLetterTopic('t', 'g')], handler: dead.handler });
      const again = collector();
      await second.subscribe({ groupId: 'g', topics: ['t'], handler: again.handler });
      await vi.waitFor(() => expect(dead.values()).toEqual(['bad']), waitOptions);
      expect(dead.seen[0]!.headers[DEAD_LETTER_HEADERS.error]).toBe('Error: bad record');
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(again.seen).toEqual([]);
    });
  });
});

describe('createBus', () => {
  it('builds the transport the config names', async () => {
    const { createBus, KafkaBus } = await import('./index.js');
    const inProcess = createBus({ kind: 'in-process' });
    expect(inProcess).toBeInstanceOf(InProcessBus);
    await inProcess.close();
    // Kafka connects lazily, so building one needs no broker.
    const kafka = createBus({ kind: 'kafka', brokers: ['127.0.0.1:9'], clientId: 'factory-test', topicPrefix: 'x.', logger: silent });
    expect(kafka).toBeInstanceOf(KafkaBus);
    await kafka.close();
  });
});
