import net from 'node:net';
import { freePort, kafkaBrokers, startDedicatedKafka, uniqueTopicPrefix, waitFor, type ControllableKafka } from '@pep/testing';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEAD_LETTER_HEADERS, deadLetterTopic, type IncomingMessage } from './bus.js';
import { KafkaBus, type KafkaBusOptions } from './kafka-bus.js';

// Quiet by default: the outage test makes kafkajs log an error per failed connection. Set BUS_TEST_LOG_LEVEL=warn to see them.
const logger = pino({ level: process.env.BUS_TEST_LOG_LEVEL ?? 'silent' });
const buses: KafkaBus[] = [];

function newBus(options: Omit<KafkaBusOptions, 'clientId' | 'logger'>): KafkaBus {
  const bus = new KafkaBus({ clientId: 'bus-int-test', logger, ...options });
  buses.push(bus);
  return bus;
}

afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
});

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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('KafkaBus on a real broker', () => {
  let brokers: string[];

  beforeAll(async () => {
    brokers = await kafkaBrokers();
  });

  it('delivers each record once to every consumer group', async () => {
    const bus = newBus({ brokers, topicPrefix: uniqueTopicPrefix('bus-groups') });
    const first = collector();
    const second = collector();
    const firstSubscription = await bus.subscribe({ groupId: 'first', topics: ['orders'], handler: first.handler });
    await bus.subscribe({ groupId: 'second', topics: ['orders'], handler: second.handler });
    expect(firstSubscription.groupId).toBe('first');
    await firstSubscription.joined;
    expect(firstSubscription.state()).toBe('joined');
    const sent = Array.from({ length: 12 }, (_, i) => `v${i}`);
    await bus.publish(sent.map((value, i) => ({ topic: 'orders', key: `k${i}`, value, headers: { ce_id: `id-${i}` } })));
    await waitFor(() => first.seen.length >= 12 && second.seen.length >= 12, {
      timeoutMs: 30_000,
      message: 'both groups to get every record',
    });
    // Give a stray duplicate time to show up.
    await sleep(500);
    expect(first.values().sort()).toEqual([...sent].sort());
    expect(second.values().sort()).toEqual([...sent].sort());
    const sample = first.seen.find((message) => message.value.toString() === 'v3')!;
    expect(sample).toMatchObject({ topic: 'orders', key: 'k3', attempt: 1, headers: { ce_id: 'id-3' } });
    expect(sample.offset).toMatch(/^\d+$/);
  });

  it('keeps buses on different prefixes apart even when they use the same group name', async () => {
    // Two environments (or two test files) on one cluster, each subscribing its own topics under one group name.
    const first = newBus({ brokers, topicPrefix: uniqueTopicPrefix('bus-ns-a') });
    const second = newBus({ brokers, topicPrefix: uniqueTopicPrefix('bus-ns-b') });
    const seenByFirst = collector();
    const seenBySecond = collector();
    await first.subscribe({ groupId: 'shared.group', topics: ['orders'], handler: seenByFirst.handler });
    await second.subscribe({ groupId: 'shared.group', topics: ['invoices'], handler: seenBySecond.handler });
    const keys = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6'];
    await first.publish(keys.map((key) => ({ topic: 'orders', key, value: `order-${key}` })));
    await second.publish(keys.map((key) => ({ topic: 'invoices', key, value: `invoice-${key}` })));
    await waitFor(async () => seenByFirst.seen.length === 6 && seenBySecond.seen.length === 6, {
      timeoutMs: 60_000,
      message: 'each bus receives all of its own records',
    });
    expect(seenByFirst.values().sort()).toEqual(keys.map((key) => `order-${key}`).sort());
    expect(seenBySecond.values().sort()).toEqual(keys.map((key) => `invoice-${key}`).sort());
  });

  it('keeps each key in order within its partition', async () => {
    const bus = newBus({ brokers, topicPrefix: uniqueTopicPrefix('bus-order') });
    const { seen, handler } = collector();
    await bus.subscribe({ groupId: 'ordered', topics: ['events'], handler });
    const keys = ['alpha', 'beta', 'gamma', 'delta'];
    for (let round = 0; round < 15; round++) {
      await bus.publish(keys.map((key) => ({ topic: 'events', key, value: `${key}:${round}` })));
    }
    await waitFor(() => seen.length >= 60, { timeoutMs: 30_000, message: 'all 60 records' });
    for (const key of keys) {
      const forKey = seen.filter((message) => message.key === key);
      expect(forKey.map((message) => message.value.toString())).toEqual(Array.from({ length: 15 }, (_, round) => `${key}:${round}`));
      expect(new Set(forKey.map((message) => message.partition)).size).toBe(1);
    }
  });

  it('dead-letters a poison record after the retry bound while later records keep flowing', async () => {
    const prefix = uniqueTopicPrefix('bus-dlq');
    const bus = newBus({ brokers, topicPrefix: prefix });
    const attempts: number[] = [];
    const handled: string[] = [];
    let poison: IncomingMessage | undefined;
    const observed: Array<{ groupId: string; topic: string }> = [];
    const options = {
      groupId: 'svc.worker',
      topics: ['orders'],
      onDeadLetter: (deadLettered: { groupId: string; topic: string }) => observed.push(deadLettered),
      maxAttempts: 3,
      retryDelayMs: 50,
      maxRetryDelayMs: 200,
      handler: async (message: IncomingMessage) => {
        if (message.value.toString() === 'poison') {
          poison = message;
          attempts.push(message.attempt);
          throw new Error('unparseable order');
        }
        handled.push(message.value.toString());
      },
    };
    const worker = await bus.subscribe(options);
    const dead = collector();
    await bus.subscribe({ groupId: 'operators', topics: [deadLetterTopic('orders', 'svc.worker')], handler: dead.handler });

    await bus.publish([
      { topic: 'orders', key: 'o-1', value: 'before' },
      { topic: 'orders', key: 'o-1', value: 'poison', headers: { ce_id: 'evt-9' } },
      { topic: 'orders', key: 'o-1', value: 'after' },
    ]);
    await waitFor(() => handled.includes('after'), { timeoutMs: 30_000, message: 'the record behind the poison one' });
    await bus.publish([{ topic: 'orders', key: 'o-1', value: 'later' }]);
    await waitFor(() => handled.includes('later') && dead.seen.length > 0, { timeoutMs: 30_000, message: 'later record and dead letter' });

    expect(handled).toEqual(['before', 'after', 'later']);
    expect(attempts).toEqual([1, 2, 3]);
    // The observer (the dead-letter metric) heard of the one dead letter, with the logical topic.
    expect(observed).toEqual([{ groupId: 'svc.worker', topic: 'orders' }]);
    const letter = dead.seen[0]!;
    expect(letter.key).toBe('o-1');
    expect(letter.value.toString()).toBe('poison');
    expect(letter.headers).toMatchObject({
      ce_id: 'evt-9',
      [DEAD_LETTER_HEADERS.topic]: 'orders',
      [DEAD_LETTER_HEADERS.partition]: String(poison!.partition),
      [DEAD_LETTER_HEADERS.offset]: poison!.offset,
      [DEAD_LETTER_HEADERS.group]: 'svc.worker',
      [DEAD_LETTER_HEADERS.error]: 'Error: unparseable order',
      [DEAD_LETTER_HEADERS.attempts]: '3',
    });
    expect(Number.isNaN(Date.parse(letter.headers[DEAD_LETTER_HEADERS.failedAt]!))).toBe(false);

    // Everything, the dead-lettered record included, was committed: the group starts where it left off.
    await worker.stop();
    const again = collector();
    await bus.subscribe({ ...options, handler: again.handler });
    await bus.publish([{ topic: 'orders', key: 'o-1', value: 'after-restart' }]);
    await waitFor(() => again.seen.length > 0, { timeoutMs: 30_000, message: 'the record published after the restart' });
    await sleep(300);
    expect(again.values()).toEqual(['after-restart']);
  });

  it('reports the records not yet handled per topic while it consumes', async () => {
    const bus = newBus({ brokers, topicPrefix: uniqueTopicPrefix('bus-lag') });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const handled: string[] = [];
    const subscription = await bus.subscribe({
      groupId: 'svc.lagging',
      topics: ['orders'],
      handler: async (message) => {
        await gate;
        handled.push(message.value.toString());
      },
    });
    await subscription.joined;
    expect(subscription.lag!()).toEqual({});
    // One key, so one partition: five records behind a handler that waits.
    await bus.publish(Array.from({ length: 5 }, (_, i) => ({ topic: 'orders', key: 'o-1', value: `v${i}` })));
    await waitFor(() => subscription.lag!()['orders'] === 5, { timeoutMs: 30_000, message: 'a lag of five while the first waits' });
    release();
    await waitFor(() => handled.length === 5, { timeoutMs: 30_000, message: 'all five handled' });
    expect(subscription.lag!()).toEqual({ orders: 0 });
  });

  it('stop() waits for the in-flight record and commits its offset', async () => {
    const bus = newBus({ brokers, topicPrefix: uniqueTopicPrefix('bus-stop') });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    let finished = false;
    const subscription = await bus.subscribe({
      groupId: 'slow',
      topics: ['jobs'],
      handler: async () => {
        started = true;
        await released;
        finished = true;
      },
    });
    await bus.publish([{ topic: 'jobs', key: 'j', value: 'slow' }]);
    await waitFor(() => started, { timeoutMs: 30_000, message: 'the handler to start' });
    let stopped = false;
    const stopping = subscription.stop().then(() => (stopped = true));
    await sleep(300);
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(finished).toBe(true);

    const again = collector();
    await bus.subscribe({ groupId: 'slow', topics: ['jobs'], handler: again.handler });
    await bus.publish([{ topic: 'jobs', key: 'j', value: 'next' }]);
    await waitFor(() => again.seen.length > 0, { timeoutMs: 30_000, message: 'the next record' });
    await sleep(300);
    expect(again.values()).toEqual(['next']);
  });

  it('keeps its membership through a handler slower than the session timeout', async () => {
    const bus = newBus({ brokers, topicPrefix: uniqueTopicPrefix('bus-slow'), sessionTimeoutMs: 6_000 });
    const calls: string[] = [];
    const subscription = await bus.subscribe({
      groupId: 'slow-handler',
      topics: ['jobs'],
      handler: async (message) => {
        calls.push(message.value.toString());
        // Longer than the session: without heartbeats meanwhile the broker would drop the member and the record would
        // come again after the rejoin.
        if (message.value.toString() === 'slow') await sleep(9_000);
      },
    });
    await subscription.joined;
    await bus.publish([
      { topic: 'jobs', key: 'j', value: 'slow' },
      { topic: 'jobs', key: 'j', value: 'next' },
    ]);
    await waitFor(() => calls.includes('next'), { timeoutMs: 60_000, message: 'the record after the slow one' });
    await sleep(1_500);
    expect(calls).toEqual(['slow', 'next']);
    expect(subscription.state()).toBe('joined');
  });

  it('answers healthy while the broker is up', async () => {
    const bus = newBus({ brokers });
    expect(await bus.healthy()).toBe(true);
    await bus.close();
    expect(await bus.healthy()).toBe(false);
  });
});

describe('KafkaBus when the broker goes away', () => {
  let kafka: ControllableKafka;

  beforeAll(async () => {
    kafka = await startDedicatedKafka();
  });

  afterAll(async () => {
    await kafka?.destroy();
  });

  it('rejects publishes within a bounded time, reports unhealthy, and recovers when the broker returns', async () => {
    const bus = newBus({
      brokers: kafka.brokers,
      topicPrefix: uniqueTopicPrefix('bus-outage'),
      publishTimeoutMs: 4_000,
      // The crashed consumer could not leave the group while the broker was down; the group waits for its
      // session to expire before it rebalances, so a short session keeps the recovery quick.
      sessionTimeoutMs: 6_000,
    });
    const seen: string[] = [];
    const stuckAttempts: number[] = [];
    let downstreamFailing = true;
    let releaseLastAttempt!: () => void;
    const lastAttemptReleased = new Promise<void>((resolve) => (releaseLastAttempt = resolve));
    await bus.subscribe({
      groupId: 'survivor',
      topics: ['events'],
      maxAttempts: 3,
      retryDelayMs: 20,
      handler: async (message) => {
        const value = message.value.toString();
        if (value === 'stuck' && downstreamFailing) {
          stuckAttempts.push(message.attempt);
          // The last attempt fails only once the broker is gone, so the dead letter cannot be written.
          if (message.attempt === 3) await lastAttemptReleased;
          throw new Error('downstream unavailable');
        }
        seen.push(value);
      },
    });
    await bus.publish([
      { topic: 'events', key: 'k', value: 'before-outage' },
      { topic: 'events', key: 'k', value: 'stuck' },
    ]);
    await waitFor(() => stuckAttempts.includes(3), { timeoutMs: 30_000, message: 'the last attempt at the stuck record' });

    await kafka.stop();
    releaseLastAttempt();
    const healthStarted = Date.now();
    expect(await bus.healthy()).toBe(false);
    expect(Date.now() - healthStarted).toBeLessThan(3_000);

    const publishStarted = Date.now();
    await expect(bus.publish([{ topic: 'events', key: 'k', value: 'during-outage' }])).rejects.toThrow();
    expect(Date.now() - publishStarted).toBeLessThan(6_000);

    downstreamFailing = false;
    await kafka.start();
    // As the outbox relay does: keep trying until the broker takes the record.
    await waitFor(
      async () => {
        await bus.publish([{ topic: 'events', key: 'k', value: 'after-outage' }]);
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 500, message: 'a publish to succeed after the broker returned' },
    );
    expect(await bus.healthy()).toBe(true);
    await waitFor(() => seen.includes('after-outage'), {
      timeoutMs: 90_000,
      message: 'the consumer to recover and get the record published after the outage',
    });
    // The stuck record could not be dead-lettered, so it was not committed: it came again and, now healthy, was handled,
    // still in its place in the key's order.
    expect(seen).toContain('stuck');
    expect(seen.indexOf('stuck')).toBeLessThan(seen.indexOf('after-outage'));
    expect(seen.indexOf('before-outage')).toBeLessThan(seen.indexOf('stuck'));
  });
});

/** A TCP proxy to a real broker that starts listening only when told, standing for a broker that becomes reachable. */
class LateProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  listen(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('KafkaBus while the broker cannot be reached', () => {
  it('subscribes at once, keeps joining in the background, and stops and closes promptly', async () => {
    // Nothing listens on this port: every connection is refused.
    const bus = newBus({ brokers: [`127.0.0.1:${await freePort()}`], topicPrefix: uniqueTopicPrefix('bus-nobroker') });
    const handled = collector();
    const subscription = await bus.subscribe({ groupId: 'patient', topics: ['orders'], handler: handled.handler });
    expect(subscription.state()).toBe('joining');
    // Several attempts fail meanwhile; the subscription stays joining and does not give up.
    await sleep(2_500);
    expect(subscription.state()).toBe('joining');
    const second = await bus.subscribe({ groupId: 'other', topics: ['invoices'], handler: handled.handler });

    // Generous bounds: what they rule out is waiting for a connection attempt's retries (tens of seconds) or forever.
    let started = Date.now();
    await subscription.stop();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(subscription.state()).toBe('stopped');
    await expect(subscription.joined).rejects.toThrow(/stopped before it joined/);
    started = Date.now();
    await bus.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(second.state()).toBe('stopped');
    expect(handled.seen).toEqual([]);
  });

  it('starts consuming once the broker becomes reachable', async () => {
    const [host, port] = (await kafkaBrokers())[0]!.split(':') as [string, string];
    const proxy = new LateProxy(await freePort(), { host, port: Number(port) });
    try {
      const prefix = uniqueTopicPrefix('bus-late');
      const bus = newBus({ brokers: [`127.0.0.1:${proxy.port}`], topicPrefix: prefix });
      const handled = collector();
      const subscription = await bus.subscribe({ groupId: 'late', topics: ['orders'], handler: handled.handler });
      await sleep(1_500);
      expect(subscription.state()).toBe('joining');

      await proxy.listen();
      await waitFor(() => subscription.state() === 'joined', {
        timeoutMs: 60_000,
        message: 'the subscription to join once the broker is reachable',
      });
      await subscription.joined;
      const producer = newBus({ brokers: await kafkaBrokers(), topicPrefix: prefix });
      await producer.publish([{ topic: 'orders', key: 'o-1', value: 'after-the-broker-came' }]);
      await waitFor(() => handled.seen.length > 0, { timeoutMs: 30_000, message: 'the record published once the broker was reachable' });
      expect(handled.values()).toEqual(['after-the-broker-came']);
    } finally {
      await Promise.all(buses.splice(0).map((bus) => bus.close()));
      await proxy.close();
    }
  });
});
