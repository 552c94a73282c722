import { pino, type Logger } from 'pino';
import { deadLetterTopic, type Bus, type OutgoingMessage, type SubscribeOptions, type Subscription } from './bus.js';
import {
  assertSubscribable,
  assertTopicName,
  deliver,
  errorSummary,
  notifyDeadLetter,
  retryDelay,
  retryPolicy,
  sleep,
  type ConsumedRecord,
  type RetryPolicy,
} from './delivery.js';
import { FileStore, MemoryStore, type LogStore, type StoredRecord } from './in-process-store.js';
import { partitionForKey } from './murmur2.js';

/** Options of an {@link InProcessBus}. */
export interface InProcessBusOptions {
  /** Keep logs and committed offsets under this directory and reload them on start; in memory only when absent. */
  dataDir?: string;
  /** Also flush every append and commit to the disk (survives power loss, not only a crash); default false. */
  fsync?: boolean;
  /** Partitions of each topic the bus creates (default 3). */
  numPartitions?: number;
  logger?: Logger;
}

/** A record to append; dead letters may carry the null key of a record produced outside the platform. */
interface AppendRequest {
  topic: string;
  key: string | null;
  value: string | Buffer;
  headers?: Record<string, string>;
}

/** Pause before redelivering a record whose dead letter could not be written. */
const DEAD_LETTER_FAILURE_BACKOFF_MS = 1_000;

/** One partition's log in memory; every record appended is already durable in the store. */
class PartitionLog {
  readonly records: StoredRecord[];
  /** Appends run one at a time, in the order publish calls reached them. */
  tail: Promise<void> = Promise.resolve();
  private waiters = new Set<() => void>();

  constructor(records: StoredRecord[] = []) {
    this.records = records;
  }

  get end(): number {
    return this.records.length;
  }

  append(records: StoredRecord[]): void {
    this.records.push(...records);
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Resolves once a record exists at `offset`, or when `signal` aborts. */
  waitFor(offset: number, signal: AbortSignal): Promise<void> {
    if (offset < this.end || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        signal.removeEventListener('abort', wake);
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }
}

/** A member's claim on one topic-partition: the loop consuming it and the switch that ends it. */
interface PartitionWorker {
  topic: string;
  partition: number;
  abort: AbortController;
  done: Promise<void>;
}

/** One subscription within a consumer group. */
interface Member {
  options: SubscribeOptions;
  policy: RetryPolicy;
  fromBeginning: boolean;
  workers: Map<string, PartitionWorker>;
}

/** A consumer group: its committed offsets and its members, between which it splits the partitions. */
class Group {
  readonly members: Member[] = [];
  /** Members that stopped but may still own partitions until the rebalance that releases them has run. */
  readonly leaving = new Set<Member>();
  /** Rebalances run one at a time, so a partition is never consumed by two members at once. */
  rebalancing: Promise<void> = Promise.resolve();

  constructor(
    readonly id: string,
    /** Topic → partition → next offset to consume. */
    readonly committed: Map<string, Map<number, number>>,
  ) {}

  position(topic: string, partition: number): number | undefined {
    return this.committed.get(topic)?.get(partition);
  }
}

/**
 * A bus inside one process with Kafka's semantics: topics split into partitions by a hash of the
 * key (Kafka's murmur2), an append-only log per partition, consumer groups with their own committed
 * offsets that split partitions among their members, in-order at-least-once delivery per
 * partition, and the same retry-then-dead-letter behaviour as {@link KafkaBus}.
 */
export class InProcessBus implements Bus {
  private readonly store: LogStore;
  private readonly numPartitions: number;
  private readonly logger: Logger;
  private readonly topics = new Map<string, PartitionLog[]>();
  private readonly creatingTopics = new Map<string, Promise<PartitionLog[]>>();
  private readonly groups = new Map<string, Group>();
  private readonly subscriptions = new Set<Subscription>();
  private loading: Promise<void> | null = null;
  /** Publish calls pass through here one at a time up to the point their records are queued, so their order is kept. */
  private sequencer: Promise<unknown> = Promise.resolve();
  private closed = false;
  private closing: Promise<void> | null = null;
  private nullKeyCounter = 0;

  constructor(options: InProcessBusOptions = {}) {
    this.store = options.dataDir ? new FileStore(options.dataDir, options.fsync ?? false) : new MemoryStore();
    this.numPartitions = options.numPartitions ?? 3;
    if (!Number.isInteger(this.numPartitions) || this.numPartitions < 1) throw new RangeError('numPartitions must be an integer >= 1');
    this.logger = (options.logger ?? pino({ level: 'warn' })).child({ component: 'in-process-bus' });
  }

  async publish(messages: OutgoingMessage[]): Promise<void> {
    this.assertOpen();
    for (const message of messages) {
      assertTopicName(message.topic);
      if (typeof message.key !== 'string') throw new TypeError('message key must be a string');
    }
    // A publish accepted here completes even if close() is called meanwhile: close() waits for it.
    const queued = this.sequencer.then(() => this.queueAppends(messages));
    this.sequencer = queued.catch(() => undefined);
    await Promise.all(await queued);
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.assertOpen();
    assertSubscribable(options);
    const policy = retryPolicy(options);
    await this.load();
    await Promise.all(options.topics.map((topic) => this.topic(topic)));
    this.assertOpen();

    let group = this.groups.get(options.groupId);
    if (!group) {
      group = new Group(options.groupId, new Map());
      this.groups.set(options.groupId, group);
    }
    const member: Member = { options, policy, fromBeginning: options.fromBeginning ?? true, workers: new Map() };
    group.members.push(member);

    let stopping: Promise<void> | null = null;
    // One process: there is no broker to wait for, so a subscription is a member of its group from the start.
    const subscription: Subscription = {
      groupId: options.groupId,
      state: () => (stopping ? 'stopped' : 'joined'),
      joined: Promise.resolve(),
      stop: () => {
        stopping ??= (async () => {
          const index = group.members.indexOf(member);
          if (index >= 0) group.members.splice(index, 1);
          group.leaving.add(member);
          await this.rebalance(group);
          group.leaving.delete(member);
          this.subscriptions.delete(subscription);
        })();
        return stopping;
      },
    };
    // Registered before it gets partitions, so a close() racing with this subscribe still stops it.
    this.subscriptions.add(subscription);
    await this.rebalance(group);
    return subscription;
  }

  async healthy(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await Promise.all([...this.subscriptions].map((subscription) => subscription.stop()));
      // Let publishes already accepted finish their writes before the files close under them.
      await this.sequencer;
      await Promise.all([...this.topics.values()].flat().map((log) => log.tail));
      await this.store.close();
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the bus is closed');
  }

  private load(): Promise<void> {
    this.loading ??= (async () => {
      const state = await this.store.load();
      for (const [topic, partitions] of state.topics) {
        this.topics.set(
          topic,
          partitions.map((records) => new PartitionLog(records)),
        );
      }
      for (const [groupId, committed] of state.offsets) this.groups.set(groupId, new Group(groupId, committed));
    })();
    return this.loading;
  }

  /** The partitions of a topic, creating it (with the default partition count) when it does not exist yet. */
  private async topic(topic: string): Promise<PartitionLog[]> {
    const existing = this.topics.get(topic);
    if (existing) return existing;
    let creating = this.creatingTopics.get(topic);
    if (!creating) {
      creating = (async () => {
        await this.store.createTopic(topic, this.numPartitions);
        const logs = Array.from({ length: this.numPartitions }, () => new PartitionLog());
        this.topics.set(topic, logs);
        return logs;
      })();
      this.creatingTopics.set(topic, creating);
      creating.then(
        () => this.creatingTopics.delete(topic),
        () => this.creatingTopics.delete(topic),
      );
    }
    return creating;
  }

  /** Queues each partition's share of the messages behind earlier appends; returns the pending writes. */
  private async queueAppends(messages: AppendRequest[]): Promise<Promise<void>[]> {
    await this.load();
    const batches = new Map<PartitionLog, { topic: string; partition: number; items: typeof messages }>();
    for (const message of messages) {
      const logs = await this.topic(message.topic);
      const partition = message.key === null ? this.nullKeyCounter++ % logs.length : partitionForKey(message.key, logs.length);
      const log = logs[partition]!;
      let batch = batches.get(log);
      if (!batch) batches.set(log, (batch = { topic: message.topic, partition, items: [] }));
      batch.items.push(message);
    }
    const writes: Promise<void>[] = [];
    for (const [log, batch] of batches) {
      const write = log.tail.then(async () => {
        const timestamp = Date.now();
        const records: StoredRecord[] = batch.items.map((item, index) => ({
          offset: log.end + index,
          key: item.key,
          value: typeof item.value === 'string' ? Buffer.from(item.value, 'utf8') : Buffer.from(item.value),
          headers: { ...item.headers },
          timestamp,
        }));
        await this.store.append(batch.topic, batch.partition, records);
        // Visible to consumers only once durable, so nothing handled can vanish in a crash.
        log.append(records);
      });
      log.tail = write.catch(() => undefined);
      writes.push(write);
    }
    return writes;
  }

  /** Splits the group's partitions among its members; a partition moves only after its old owner finished its in-flight record. */
  private rebalance(group: Group): Promise<void> {
    const run = group.rebalancing.then(async () => {
      const target = this.assignment(group);
      const revoked: PartitionWorker[] = [];
      for (const member of [...group.members, ...group.leaving]) {
        const wanted = target.get(member) ?? new Set<string>();
        for (const [name, worker] of member.workers) {
          if (wanted.has(name)) continue;
          member.workers.delete(name);
          worker.abort.abort();
          revoked.push(worker);
        }
      }
      await Promise.all(revoked.map((worker) => worker.done));
      for (const [member, names] of target) {
        for (const name of names) {
          if (member.workers.has(name)) continue;
          const [topic, partition] = splitPartitionName(name);
          member.workers.set(name, this.startWorker(group, member, topic, partition));
        }
      }
    });
    group.rebalancing = run.catch((error: unknown) =>
      this.logger.error({ err: errorSummary(error), groupId: group.id }, 'rebalance failed'),
    );
    return run;
  }

  /**
   * Each partition of every subscribed topic goes to the subscribed member holding the fewest so
   * far (ties to the earliest member), so the load is even across topics and members.
   */
  private assignment(group: Group): Map<Member, Set<string>> {
    const target = new Map<Member, Set<string>>(group.members.map((member) => [member, new Set<string>()]));
    const topics = [...new Set(group.members.flatMap((member) => member.options.topics))].sort();
    for (const topic of topics) {
      const eligible = group.members.filter((member) => member.options.topics.includes(topic));
      const partitions = this.topics.get(topic)?.length ?? 0;
      for (let partition = 0; partition < partitions; partition++) {
        let chosen = eligible[0]!;
        for (const member of eligible) if (target.get(member)!.size < target.get(chosen)!.size) chosen = member;
        target.get(chosen)!.add(partitionName(topic, partition));
      }
    }
    return target;
  }

  private startWorker(group: Group, member: Member, topic: string, partition: number): PartitionWorker {
    const abort = new AbortController();
    const done = this.consume(group, member, topic, partition, abort.signal).catch((error: unknown) => {
      this.logger.error({ err: errorSummary(error), groupId: group.id, topic, partition }, 'partition consumer failed');
    });
    return { topic, partition, abort, done };
  }

  /** Delivers one partition's records in order until aborted; commits each offset after its record was handled or dead-lettered. */
  private async consume(group: Group, member: Member, topic: string, partition: number, signal: AbortSignal): Promise<void> {
    const log = this.topics.get(topic)![partition]!;
    let position = group.position(topic, partition);
    if (position === undefined) {
      position = member.fromBeginning ? 0 : log.end;
      // Pin where "latest" was, so a rebalance or restart does not skip records published meanwhile.
      await this.commit(group, topic, partition, position);
    }
    const context = {
      groupId: group.id,
      handler: member.options.handler,
      policy: member.policy,
      signal,
      deadLetter: (record: ConsumedRecord, headers: Record<string, string>) =>
        this.publishDeadLetter(deadLetterTopic(record.topic, group.id), record, headers),
      onAttemptFailed: (error: unknown, attempt: number, nextDelayMs: number | null) => {
        this.logger.warn(
          { err: errorSummary(error), groupId: group.id, topic, partition, offset: String(position), attempt, retryInMs: nextDelayMs },
          nextDelayMs === null ? 'handler failed; attempts exhausted, dead-lettering' : 'handler failed; will retry',
        );
      },
    };
    while (!signal.aborted) {
      const stored = log.records[position];
      if (!stored) {
        await log.waitFor(position, signal);
        continue;
      }
      const record: ConsumedRecord = {
        topic,
        partition,
        offset: String(stored.offset),
        key: stored.key,
        value: stored.value,
        headers: stored.headers,
      };
      let outcome;
      try {
        outcome = await deliver(record, context);
      } catch (error) {
        this.logger.error(
          { err: errorSummary(error), groupId: group.id, topic, partition, offset: record.offset },
          'could not dead-letter; will redeliver',
        );
        await sleep(Math.max(DEAD_LETTER_FAILURE_BACKOFF_MS, retryDelay(member.policy, 1)), signal);
        continue;
      }
      if (outcome === 'aborted') return;
      if (outcome === 'dead-lettered') notifyDeadLetter(member.options, { groupId: group.id, topic }, this.logger);
      position += 1;
      await this.commit(group, topic, partition, position);
    }
  }

  private async commit(group: Group, topic: string, partition: number, offset: number): Promise<void> {
    let byPartition = group.committed.get(topic);
    if (!byPartition) group.committed.set(topic, (byPartition = new Map()));
    byPartition.set(partition, offset);
    try {
      await this.store.commit(group.id, topic, partition, offset);
    } catch (error) {
      // The commit holds in memory; after a restart the record is merely delivered again (at least once).
      this.logger.warn({ err: errorSummary(error), groupId: group.id, topic, partition }, 'could not persist committed offset');
    }
  }

  private async publishDeadLetter(topic: string, record: ConsumedRecord, headers: Record<string, string>): Promise<void> {
    // Dead letters are written even while the bus closes: the record they replace is about to be committed.
    const queued = this.sequencer.then(() => this.queueAppends([{ topic, key: record.key, value: record.value, headers }]));
    this.sequencer = queued.catch(() => undefined);
    await Promise.all(await queued);
  }
}

function partitionName(topic: string, partition: number): string {
  return `${topic}#${partition}`;
}

function splitPartitionName(name: string): [string, number] {
  const at = name.lastIndexOf('#');
  return [name.slice(0, at), Number(name.slice(at + 1))];
}
