// Every kafkajs import of the package lives in this file: kafkajs is in maintenance mode, and
// keeping it behind the Bus interface here is what makes replacing it a one-file change.
import kafkajs from 'kafkajs';
import type {
  Admin,
  Consumer,
  ConsumerConfig,
  ConsumerCrashEvent,
  EachBatchPayload,
  IHeaders,
  Kafka,
  LogEntry,
  Producer,
  SASLOptions,
  logCreator,
} from 'kafkajs';
import { pino, type Logger } from 'pino';
import {
  deadLetterTopic,
  type Bus,
  type OutgoingMessage,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionState,
} from './bus.js';
import {
  assertSubscribable,
  deliver,
  errorSummary,
  notifyDeadLetter,
  retryPolicy,
  retryRetriable,
  sleep,
  withTimeout,
  type ConsumedRecord,
  type RetryPolicy,
} from './delivery.js';
import {
  describeTopicProblem,
  TopicsNotReadyError,
  OVERRIDES_ADVICE,
  UNFIXABLE_ADVICE,
  VERIFY_ADVICE,
  topicProblems,
  unfixableTopicProblems,
  widerThanDeclared,
  type TopicProblem,
  type TopicSpec,
  type TopicState,
} from './topics.js';

const { Kafka: KafkaClient, Partitioners, logLevel, ConfigResourceTypes, ConfigSource } = kafkajs;

/** TLS to the brokers; PEM contents, not paths. */
export interface KafkaTlsOptions {
  /** CAs to trust instead of the system's. */
  ca?: string[];
  /** Client certificate and key, for brokers that want mutual TLS. */
  cert?: string;
  key?: string;
  /** Refuse brokers whose certificate does not verify (default true). */
  rejectUnauthorized?: boolean;
}

/** SASL authentication to the brokers. */
export type KafkaSaslOptions =
  | { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string }
  /** `token` is asked at each authentication; it should cache (see clientCredentialsTokenProvider). */
  | { mechanism: 'oauthbearer'; token: () => Promise<string> };

/** What provisionTopics did; each list holds physical topic names. */
export interface TopicProvisioning {
  created: string[];
  partitionsAdded: string[];
  retentionChanged: string[];
}

/** Options of a {@link KafkaBus}. */
export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  /** Prepended to every physical topic, dead-letter topics included (e.g. `staging.`); logical names never carry it. */
  topicPrefix?: string;
  logger?: Logger;
  /** Time to open a TCP connection to a broker (default 3000). */
  connectionTimeoutMs?: number;
  /** Time a broker has to answer one request (default 10000). */
  requestTimeoutMs?: number;
  /** Partitions of each topic the bus creates (default 3). */
  numPartitions?: number;
  /** Replication factor of topics the bus creates (default: the broker's `default.replication.factor`). */
  replicationFactor?: number;
  /** Longest a publish may take before it rejects, so the caller can retry later (default 5000). */
  publishTimeoutMs?: number;
  /** How long `healthy()` waits for the cluster to answer (default 2000). */
  healthTimeoutMs?: number;
  /**
   * Partitions a subscription processes at the same time; each partition stays in order (default 3, a topic's
   * partitions, as the in-process bus runs every partition at once). One at a time, a handler's round trips to its
   * database bounded the whole group's rate, and one slow record held up every key.
   */
  partitionsConsumedConcurrently?: number;
  /**
   * Consumer group session timeout (default 10000): how long the broker keeps a member that stopped heartbeating (a
   * killed process) and its partitions before it hands them to the others. The broker accepts 6000 and up by default
   * (`group.min.session.timeout.ms`).
   */
  sessionTimeoutMs?: number;
  /** TLS to the brokers: `true` trusts the system's CAs. */
  ssl?: boolean | KafkaTlsOptions;
  sasl?: KafkaSaslOptions;
  /**
   * Whether the bus creates a topic it publishes to or subscribes to when it is missing (default true, for laptops and
   * tests). False where the migration Job declares topics (production): a missing topic is then an error, never created.
   */
  createTopics?: boolean;
  /** `retention.ms` of topics the bus creates (default: the broker's). */
  retentionMs?: number;
  /** `retention.ms` of dead-letter topics the bus creates (default: the broker's). */
  deadLetterRetentionMs?: number;
}

/** Kafka messages as kafkajs's producer takes them, already addressed to physical topics. */
interface ProducerRecord {
  topic: string;
  key: Buffer | string | null;
  value: Buffer | string;
  headers: Record<string, string>;
}

/** Fields of kafkajs log entries that are safe to keep: none of them can carry a record's key, value or headers. */
const SAFE_LOG_FIELDS = [
  'groupId',
  'memberId',
  'topic',
  'partition',
  'broker',
  'clientId',
  'retryCount',
  'retryTime',
  'error',
  'host',
  'port',
];

/** Tries at creating topics while a busy broker still reports them unknown. */
const TOPIC_CREATION_ATTEMPTS = 5;
/**
 * Longest one attempt of a subscription at creating its topics may take. A busy broker (many topics, a loaded
 * controller) can take far longer than a publish may; the attempt after it starts over.
 */
const SUBSCRIBE_TOPICS_TIMEOUT_MS = 30_000;
/** Pauses between a subscription's attempts at joining while the broker cannot be reached: 500 ms doubling up to 5 s. */
const JOIN_RETRY_INITIAL_MS = 500;
const JOIN_RETRY_MAX_MS = 5_000;
/** Default session timeout; see {@link KafkaBusOptions.sessionTimeoutMs} and ADR 0024. */
const DEFAULT_SESSION_TIMEOUT_MS = 10_000;

/** kafkajs messages that are expected with this bus's deliberate settings and would only be noise at warn level. */
const EXPECTED_WARNINGS = ['Limiting retries for the idempotent producer may invalidate EoS guarantees'];

/**
 * The bus on Apache Kafka, via kafkajs. Publishing uses an idempotent producer (acks from all
 * in-sync replicas, one request in flight, so a key's records keep their order) and fails within
 * `publishTimeoutMs` while the cluster is unreachable. Subscriptions retry a failing record in
 * place, dead-letter it after the bound, and commit offsets only for records handled or dead-lettered.
 */
export class KafkaBus implements Bus {
  private readonly kafka: Kafka;
  private readonly logger: Logger;
  private readonly topicPrefix: string;
  private readonly numPartitions: number;
  private readonly replicationFactor: number | undefined;
  private readonly publishTimeoutMs: number;
  private readonly healthTimeoutMs: number;
  private readonly partitionsConsumedConcurrently: number;
  private readonly sessionTimeoutMs: number;
  private readonly createTopics: boolean;
  private readonly retentionMs: number | undefined;
  private readonly deadLetterRetentionMs: number | undefined;
  private readonly knownTopics = new Set<string>();
  private readonly subscriptions = new Set<KafkaSubscription>();
  private producer: Promise<Producer> | null = null;
  private admin: Promise<Admin> | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;

  constructor(options: KafkaBusOptions) {
    if (options.brokers.length === 0) throw new Error('KafkaBus needs at least one broker');
    const baseLogger = options.logger ?? pino({ level: 'warn' });
    this.logger = baseLogger.child({ component: 'kafka-bus' });
    this.topicPrefix = options.topicPrefix ?? '';
    this.numPartitions = options.numPartitions ?? 3;
    this.replicationFactor = options.replicationFactor;
    this.publishTimeoutMs = options.publishTimeoutMs ?? 5_000;
    this.healthTimeoutMs = options.healthTimeoutMs ?? 2_000;
    this.partitionsConsumedConcurrently = options.partitionsConsumedConcurrently ?? 3;
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS;
    this.createTopics = options.createTopics ?? true;
    this.retentionMs = options.retentionMs;
    this.deadLetterRetentionMs = options.deadLetterRetentionMs;
    this.kafka = new KafkaClient({
      brokers: options.brokers,
      clientId: options.clientId,
      ...(options.ssl !== undefined ? { ssl: options.ssl } : {}),
      ...(options.sasl ? { sasl: kafkajsSasl(options.sasl) } : {}),
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout: options.requestTimeoutMs ?? 10_000,
      // Short and few: callers (the outbox relay, readiness probes) have their own retry loops and need a prompt answer.
      retry: { initialRetryTime: 200, maxRetryTime: 2_000, retries: 3 },
      logLevel: logLevel.WARN,
      logCreator: pinoLogCreator(baseLogger.child({ component: 'kafkajs' })),
    });
  }

  async publish(messages: OutgoingMessage[]): Promise<void> {
    this.assertOpen();
    if (messages.length === 0) return;
    await this.produce(
      messages.map((message) => ({
        topic: this.physicalTopic(message.topic),
        key: message.key,
        value: message.value,
        headers: { ...message.headers },
      })),
    );
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.assertOpen();
    assertSubscribable(options);
    const policy = retryPolicy(options);
    const topics = options.topics.map((topic) => this.physicalTopic(topic));
    const subscription = new KafkaSubscription(this.subscriptionHost(), options, policy, topics);
    this.subscriptions.add(subscription);
    // Not awaited: a service starts and serves whatever the broker is doing (ADR 0024); the subscription keeps trying.
    subscription.begin();
    return subscription;
  }

  async healthy(): Promise<boolean> {
    if (this.closed) return false;
    const admin = this.adminClient();
    try {
      await withTimeout(
        admin.then((client) => client.describeCluster()),
        this.healthTimeoutMs,
        'cluster did not answer',
      );
      return true;
    } catch {
      this.discardAdmin(admin);
      return false;
    }
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await Promise.all([...this.subscriptions].map((subscription) => subscription.stop()));
      const producer = this.producer;
      const admin = this.admin;
      this.producer = null;
      this.admin = null;
      await Promise.all([
        producer?.then((client) => client.disconnect()).catch(() => undefined),
        admin?.then((client) => client.disconnect()).catch(() => undefined),
      ]);
    })();
    return this.closing;
  }

  /** The physical name of a logical topic. */
  physicalTopic(topic: string): string {
    return `${this.topicPrefix}${topic}`;
  }

  /** The logical name of a physical topic. */
  logicalTopic(topic: string): string {
    return topic.startsWith(this.topicPrefix) ? topic.slice(this.topicPrefix.length) : topic;
  }

  /** What a subscription needs from the bus, handed over without making kafkajs types part of the bus's public API. */
  private subscriptionHost(): SubscriptionHost {
    return {
      logger: this.logger,
      partitionsConsumedConcurrently: this.partitionsConsumedConcurrently,
      sessionTimeoutMs: this.sessionTimeoutMs,
      ensureTopics: (topics) => {
        const bound = Math.max(this.publishTimeoutMs, SUBSCRIBE_TOPICS_TIMEOUT_MS);
        return withTimeout(this.ensureTopics(topics), bound, `could not create topics within ${bound} ms`);
      },
      // The prefix namespaces groups as well as topics: one group name shared by buses on different prefixes
      // (environments on one cluster, parallel test files) would otherwise mix their members, and kafkajs
      // hands members partitions of topics they never subscribed to.
      createConsumer: (config) => this.kafka.consumer({ ...config, groupId: `${this.topicPrefix}${config.groupId}` }),
      logicalTopic: (topic) => this.logicalTopic(topic),
      // The key's original bytes, value and headers go to the group's dead-letter topic unchanged.
      publishDeadLetter: (groupId, record, rawKey, headers) =>
        this.produce([{ topic: this.physicalTopic(deadLetterTopic(record.topic, groupId)), key: rawKey, value: record.value, headers }]),
      release: (subscription) => this.subscriptions.delete(subscription),
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the bus is closed');
  }

  /** Sends records to physical topics within the publish timeout; on any failure the producer is replaced. */
  private async produce(records: ProducerRecord[]): Promise<void> {
    const topicMessages = new Map<string, { key: Buffer | string | null; value: Buffer | string; headers: Record<string, string> }[]>();
    for (const record of records) {
      let messages = topicMessages.get(record.topic);
      if (!messages) topicMessages.set(record.topic, (messages = []));
      messages.push({ key: record.key, value: record.value, headers: record.headers });
    }
    let producer: Promise<Producer> | null = null;
    const send = async () => {
      await this.ensureTopics([...topicMessages.keys()]);
      producer = this.producerClient();
      const client = await producer;
      await client.sendBatch({
        acks: -1,
        topicMessages: [...topicMessages].map(([topic, messages]) => ({ topic, messages })),
      });
    };
    try {
      await withTimeout(send(), this.publishTimeoutMs, `publish did not complete within ${this.publishTimeoutMs} ms`);
    } catch (error) {
      // A kafkajs producer can stay broken after its broker went away; a fresh one reconnects cleanly.
      if (producer) this.discardProducer(producer);
      // The topic may have been deleted behind our back; check again next time rather than fail forever.
      for (const topic of topicMessages.keys()) this.knownTopics.delete(topic);
      throw error;
    }
  }

  /**
   * Creates the declared topics (logical names) that are missing, adds partitions to those with fewer, and sets their
   * retention. Refuses, changing nothing, what Kafka cannot change in place: a topic with more partitions than declared
   * or another replication factor. Safe to run twice at once: what the other run did counts as done.
   */
  async provisionTopics(specs: TopicSpec[]): Promise<TopicProvisioning> {
    this.assertOpen();
    const done: TopicProvisioning = { created: [], partitionsAdded: [], retentionChanged: [] };
    const admin = this.adminClient();
    try {
      const client = await admin;
      // Every step is idempotent: a broker still propagating new topics' metadata (a retriable error) is simply asked
      // again from the start, and what the previous attempt did is then found done.
      await retryRetriable(() => this.provisionOnce(client, specs, done), TOPIC_CREATION_ATTEMPTS, 500);
    } catch (error) {
      if (!(error instanceof TopicsNotReadyError)) this.discardAdmin(admin);
      throw error;
    }
    for (const spec of specs) this.knownTopics.add(this.physicalTopic(spec.topic));
    return done;
  }

  private async provisionOnce(client: Admin, specs: TopicSpec[], done: TopicProvisioning): Promise<void> {
    const states = await this.readTopicStates(client, specs);
    const unfixable = specs.flatMap((spec) => unfixableTopicProblems(spec, states.get(spec.topic)));
    if (unfixable.length > 0) throw new TopicsNotReadyError(this.physicalProblems(unfixable), UNFIXABLE_ADVICE);
    const wider = this.physicalProblems(specs.flatMap((spec) => widerThanDeclared(spec, states.get(spec.topic))));
    if (wider.length > 0) this.logger.warn({ topics: wider.map(describeTopicProblem) }, 'topics have more partitions than declared; kept');
    const missing = specs.filter((spec) => !states.has(spec.topic));
    if (missing.length > 0) {
      await client.createTopics({
        waitForLeaders: true,
        topics: missing.map((spec) => ({
          topic: this.physicalTopic(spec.topic),
          numPartitions: spec.partitions,
          ...(spec.replicationFactor !== undefined ? { replicationFactor: spec.replicationFactor } : {}),
          configEntries: [{ name: 'retention.ms', value: String(spec.retentionMs) }],
        })),
      });
      done.created.push(...missing.map((spec) => this.physicalTopic(spec.topic)));
    }
    const existing = specs.filter((spec) => states.has(spec.topic));
    const grow = existing.filter((spec) => states.get(spec.topic)!.partitions < spec.partitions);
    if (grow.length > 0) {
      await client
        .createPartitions({ topicPartitions: grow.map((spec) => ({ topic: this.physicalTopic(spec.topic), count: spec.partitions })) })
        // Another Job may have grown them first; the check below tells whether they are as declared now.
        .catch((error: unknown) => this.logger.warn({ err: errorSummary(error) }, 'adding partitions failed; checking the topics again'));
      done.partitionsAdded.push(...grow.map((spec) => this.physicalTopic(spec.topic)));
    }
    const retention = existing.filter((spec) => states.get(spec.topic)!.retentionMs !== spec.retentionMs);
    if (retention.length > 0) {
      // AlterConfigs (kafkajs has no incremental variant) replaces all of a topic's overrides: those an operator set
      // (min.insync.replicas, max.message.bytes…) are sent again with the new retention, or they would be lost.
      const names = retention.map((spec) => this.physicalTopic(spec.topic));
      const overrides = await this.topicOverrides(client, names);
      await client.alterConfigs({
        validateOnly: false,
        resources: retention.map((spec, index) => ({
          type: ConfigResourceTypes.TOPIC,
          name: names[index]!,
          configEntries: [
            ...overrides.get(names[index]!)!.filter((entry) => entry.name !== 'retention.ms'),
            { name: 'retention.ms', value: String(spec.retentionMs) },
          ],
        })),
      });
      done.retentionChanged.push(...names);
    }
    const after = await this.readTopicStates(client, specs);
    const left = specs.flatMap((spec) => topicProblems(spec, after.get(spec.topic)));
    if (left.length > 0) {
      // New partitions and configs reach every broker's metadata a moment later: worth another look before giving up.
      throw Object.assign(new TopicsNotReadyError(this.physicalProblems(left), UNFIXABLE_ADVICE), { retriable: true });
    }
  }

  /**
   * Checks the declared topics (logical names) exist with at least their partitions, their replication factor (when
   * declared) and their retention; throws one {@link TopicsNotReadyError} listing every difference. Changes nothing.
   */
  async verifyTopics(specs: TopicSpec[]): Promise<void> {
    this.assertOpen();
    const admin = this.adminClient();
    try {
      await this.verifyWith(await admin, specs);
    } catch (error) {
      if (!(error instanceof TopicsNotReadyError)) this.discardAdmin(admin);
      throw error;
    }
    for (const spec of specs) this.knownTopics.add(this.physicalTopic(spec.topic));
  }

  private async verifyWith(client: Admin, specs: TopicSpec[]): Promise<void> {
    const states = await this.readTopicStates(client, specs);
    const problems = specs.flatMap((spec) => topicProblems(spec, states.get(spec.topic)));
    if (problems.length > 0) throw new TopicsNotReadyError(this.physicalProblems(problems), VERIFY_ADVICE);
  }

  /**
   * The configs set on each topic itself (not broker defaults), by physical name. An override shown without a value
   * (a name the broker does not know, or a secret) cannot be sent back: refused, naming every such topic, rather than
   * silently dropped by the retention change. So is a topic missing from the answer, whose overrides would be dropped.
   */
  private async topicOverrides(client: Admin, names: string[]): Promise<Map<string, { name: string; value: string }[]>> {
    const described = await client.describeConfigs({
      includeSynonyms: false,
      resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
    });
    const overrides = new Map<string, { name: string; value: string }[]>();
    const unreadable: TopicProblem[] = [];
    for (const resource of described.resources) {
      const own = resource.configEntries.filter((entry) => entry.configSource === ConfigSource.TOPIC_CONFIG);
      const withheld = own.filter((entry) => entry.isSensitive || entry.configValue === null || entry.configValue === undefined);
      if (withheld.length > 0) {
        unreadable.push({ topic: resource.resourceName, kind: 'override-unreadable', configs: withheld.map((entry) => entry.configName) });
      }
      overrides.set(
        resource.resourceName,
        own.map((entry) => ({ name: entry.configName, value: entry.configValue })),
      );
    }
    const unanswered = names.filter((name) => !overrides.has(name));
    if (unanswered.length > 0) throw new Error(`Kafka described no configs for ${unanswered.join(', ')}; retention not changed`);
    if (unreadable.length > 0) throw new TopicsNotReadyError(unreadable, OVERRIDES_ADVICE);
    return overrides;
  }

  /** Problems named by the topics an operator finds on the cluster, prefix included. */
  private physicalProblems(problems: TopicProblem[]): TopicProblem[] {
    return problems.map((problem) => ({ ...problem, topic: this.physicalTopic(problem.topic) }));
  }

  /**
   * {@link topicStates}, asked again while it fails retriably: a topic just created (here or by a Job running beside
   * this one) is listed before every broker has its metadata, and kafkajs marks the "does not host this
   * topic-partition" meanwhile retriable. Provisioning retries its whole pass around this as well, for its other steps.
   */
  private readTopicStates(client: Admin, specs: TopicSpec[]): Promise<Map<string, TopicState>> {
    return retryRetriable(() => this.topicStates(client, specs), TOPIC_CREATION_ATTEMPTS, 300);
  }

  /** What the cluster holds of the declared topics, by logical name; absent ones are missing. Asks once. */
  private async topicStates(client: Admin, specs: TopicSpec[]): Promise<Map<string, TopicState>> {
    const existing = new Set(await client.listTopics());
    const present = specs.filter((spec) => existing.has(this.physicalTopic(spec.topic)));
    const states = new Map<string, TopicState>();
    if (present.length === 0) return states;
    const names = present.map((spec) => this.physicalTopic(spec.topic));
    const metadata = await client.fetchTopicMetadata({ topics: names });
    const configs = await client.describeConfigs({
      includeSynonyms: false,
      resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms'] })),
    });
    const retention = new Map(
      configs.resources.map((resource) => {
        const value = resource.configEntries.find((entry) => entry.configName === 'retention.ms')?.configValue;
        return [resource.resourceName, value === undefined || value === null ? undefined : Number(value)] as const;
      }),
    );
    for (const topic of metadata.topics) {
      states.set(this.logicalTopic(topic.name), {
        partitions: topic.partitions.length,
        replicationFactor: topic.partitions.length > 0 ? Math.min(...topic.partitions.map((partition) => partition.replicas.length)) : 0,
        retentionMs: retention.get(topic.name),
      });
    }
    return states;
  }

  /** Creates the topics not known to exist yet; a topic that already exists counts as created. */
  private async ensureTopics(topics: string[]): Promise<void> {
    // Declared topics are the migration Job's: a missing one fails the publish or the join, and is never created here.
    if (!this.createTopics) return;
    const missing = [...new Set(topics)].filter((topic) => !this.knownTopics.has(topic));
    if (missing.length === 0) return;
    const admin = this.adminClient();
    try {
      const client = await admin;
      const create = () =>
        client.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({
            topic,
            numPartitions: this.numPartitions,
            ...(this.replicationFactor !== undefined ? { replicationFactor: this.replicationFactor } : {}),
            ...this.retentionEntries(topic),
          })),
        });
      // A busy broker can answer the leader check with "does not host this topic-partition" while the new topic's
      // metadata propagates; kafkajs marks that retriable, and asking again finds the topic created.
      await retryRetriable(create, TOPIC_CREATION_ATTEMPTS, 200);
    } catch (error) {
      this.discardAdmin(admin);
      throw error;
    }
    for (const topic of missing) this.knownTopics.add(topic);
  }

  /** The retention a topic the bus creates gets: dead-letter topics keep their records longer for operators to look at. */
  private retentionEntries(topic: string): { configEntries?: { name: string; value: string }[] } {
    const retention = topic.endsWith('.dlq') ? this.deadLetterRetentionMs : this.retentionMs;
    return retention === undefined ? {} : { configEntries: [{ name: 'retention.ms', value: String(retention) }] };
  }

  private producerClient(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // The Java client's partitioner (murmur2 of the key), as the in-process bus uses.
        createPartitioner: Partitioners.DefaultPartitioner,
        // Bounded: a send retried forever in the background could land long after the caller gave up and retried.
        retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 3 },
      });
      const connecting = producer.connect().then(() => producer);
      this.producer = connecting;
      producer.on(producer.events.DISCONNECT, () => {
        if (this.producer === connecting) this.producer = null;
      });
      connecting.catch(() => this.discardProducer(connecting));
    }
    return this.producer;
  }

  private discardProducer(producer: Promise<Producer>): void {
    if (this.producer === producer) this.producer = null;
    producer.then((client) => client.disconnect()).catch(() => undefined);
  }

  private adminClient(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      const connecting = admin.connect().then(() => admin);
      this.admin = connecting;
      connecting.catch(() => this.discardAdmin(connecting));
    }
    return this.admin;
  }

  private discardAdmin(admin: Promise<Admin>): void {
    if (this.admin === admin) this.admin = null;
    admin.then((client) => client.disconnect()).catch(() => undefined);
  }
}

interface SubscriptionHost {
  logger: Logger;
  partitionsConsumedConcurrently: number;
  sessionTimeoutMs: number;
  /** Creates the topics not known to exist yet, within a bound. */
  ensureTopics(topics: string[]): Promise<void>;
  createConsumer(config: ConsumerConfig): Consumer;
  logicalTopic(topic: string): string;
  publishDeadLetter(groupId: string, record: ConsumedRecord, rawKey: Buffer | null, headers: Record<string, string>): Promise<void>;
  release(subscription: KafkaSubscription): void;
}

/** Longest pause before a consumer that kafkajs gave up on is created again. */
const MAX_RECREATE_DELAY_MS = 30_000;

/** Raised inside a subscription's own steps once it is stopped; never reaches callers. */
class StoppedError extends Error {
  constructor() {
    super('the subscription was stopped');
  }
}

/**
 * One subscription: a kafkajs consumer in the group, recreated if kafkajs gives up on it. It creates its topics and
 * joins in the background, retrying with backoff for as long as it takes, so that neither an unreachable broker nor a
 * group still held by a dead member holds up the service that subscribes.
 */
class KafkaSubscription implements Subscription {
  readonly groupId: string;
  readonly joined: Promise<void>;
  private current: SubscriptionState = 'joining';
  private resolveJoined!: () => void;
  private rejectJoined!: (error: Error) => void;
  private consumer: Consumer | null = null;
  private readonly abort = new AbortController();
  /** Settles when stop() begins, so every step of joining can give way to it. */
  private readonly stopSignalled: Promise<void>;
  private joining: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private recreateTimer: NodeJS.Timeout | null = null;
  private recreateAttempts = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly logger: Logger;
  /** A third of the session, as Kafka advises, so two missed heartbeats still leave the member in the group. */
  private readonly heartbeatIntervalMs: number;
  /** Logical topic → partition → records not yet handled there, as last seen while consuming (see lag()). */
  private readonly lags = new Map<string, Map<number, number>>();

  constructor(
    private readonly bus: SubscriptionHost,
    private readonly options: SubscribeOptions,
    private readonly policy: RetryPolicy,
    private readonly topics: string[],
  ) {
    this.groupId = options.groupId;
    this.logger = bus.logger.child({ groupId: options.groupId });
    this.heartbeatIntervalMs = Math.max(500, Math.min(3_000, Math.floor(bus.sessionTimeoutMs / 3)));
    this.joined = new Promise<void>((resolve, reject) => {
      this.resolveJoined = resolve;
      this.rejectJoined = reject;
    });
    // Nobody has to wait for it: stopping an unwatched subscription early must not raise an unhandled rejection.
    this.joined.catch(() => undefined);
    this.stopSignalled = new Promise((resolve) => this.abort.signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  state(): SubscriptionState {
    return this.current;
  }

  /** Starts creating the topics and joining in the background; failures are retried with backoff until stop(). */
  begin(): void {
    this.joining ??= this.joinUntilStopped();
  }

  private async joinUntilStopped(): Promise<void> {
    for (let attempt = 1; !this.abort.signal.aborted; attempt++) {
      try {
        await this.beforeStop(this.bus.ensureTopics(this.topics));
        await this.start();
        // From here on kafkajs restarts the consumer after retriable failures, and scheduleRecreate after the others.
        return;
      } catch (error) {
        if (this.abort.signal.aborted) return;
        const delay = Math.min(JOIN_RETRY_MAX_MS, JOIN_RETRY_INITIAL_MS * 2 ** (attempt - 1));
        this.logger.warn({ err: errorSummary(error), attempt, retryInMs: delay }, 'consumer could not join yet; will try again');
        await sleep(delay, this.abort.signal);
      }
    }
  }

  /**
   * Waits for one step of joining, unless stop() comes first: then it throws at once and `cleanUp` runs whenever the
   * step settles, so a connection opened after stop() is closed again rather than left behind.
   */
  private async beforeStop<T>(step: Promise<T>, cleanUp?: () => Promise<void>): Promise<T> {
    step.catch(() => undefined);
    const outcome = await Promise.race([step.then(() => 'done' as const), this.stopSignalled.then(() => 'stopped' as const)]);
    if (outcome === 'stopped') {
      if (cleanUp) void step.then(cleanUp, cleanUp).catch(() => undefined);
      throw new StoppedError();
    }
    return step;
  }

  /** Connects, subscribes and runs the consumer; the join itself completes in kafkajs (GROUP_JOIN), retried there. */
  private async start(): Promise<void> {
    const consumer = this.bus.createConsumer({
      groupId: this.options.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: this.bus.sessionTimeoutMs,
      heartbeatInterval: this.heartbeatIntervalMs,
      maxWaitTimeInMs: 1_000,
      retry: {
        initialRetryTime: 300,
        maxRetryTime: 10_000,
        retries: 5,
        // Handler failures never reach kafkajs (they are retried and dead-lettered above it); what does is a
        // broker or dead-letter failure, after which a clean restart resumes from the last committed offset.
        restartOnFailure: async (error) => {
          if (this.stopping) return false;
          this.logger.error({ err: errorSummary(error) }, 'consumer crashed; restarting it');
          return true;
        },
      },
    });
    this.consumer = consumer;
    const current = () => this.consumer === consumer && !this.stopping;
    consumer.on(consumer.events.CRASH, (event: ConsumerCrashEvent) => {
      if (!current()) return;
      this.current = 'joining';
      // kafkajs restarts by itself only after retriable errors; after any other it would stay down for good.
      if (!event.payload.restart) {
        this.logger.error({ err: errorSummary(event.payload.error) }, 'consumer crashed and kafkajs will not restart it; recreating it');
        this.scheduleRecreate(consumer);
      }
    });
    consumer.on(consumer.events.REBALANCING, () => {
      if (current()) this.current = 'joining';
    });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      if (!current()) return;
      this.recreateAttempts = 0;
      // The assignment may have changed: a partition now another member's must not keep reporting its old lag.
      this.lags.clear();
      this.current = 'joined';
      this.resolveJoined();
    });
    const disconnect = () => consumer.disconnect().catch(() => undefined);
    try {
      await this.beforeStop(consumer.connect(), disconnect);
      await this.beforeStop(consumer.subscribe({ topics: this.topics, fromBeginning: this.options.fromBeginning ?? true }), disconnect);
      // run() returns once the first join settled; while a dead member still holds the group that waits for its session to end.
      await this.beforeStop(
        consumer.run({
          autoCommit: true,
          // Commits at most every second in addition to the end of each batch; only resolved (handled) offsets are committed.
          autoCommitInterval: 1_000,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: this.bus.partitionsConsumedConcurrently,
          eachBatch: (payload) => this.track(this.eachBatch(payload)),
        }),
        disconnect,
      );
    } catch (error) {
      await disconnect();
      if (this.consumer === consumer) this.consumer = null;
      throw error;
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.current = 'stopped';
      this.abort.abort();
      this.rejectJoined(new Error(`consumer group ${this.options.groupId} was stopped before it joined`));
      if (this.recreateTimer) clearTimeout(this.recreateTimer);
      // disconnect() lets the running batch finish (its loop ends after the in-flight record) before leaving the group;
      // a consumer still connecting or joining is simply disconnected.
      await this.consumer
        ?.disconnect()
        .catch((error: unknown) => this.logger.warn({ err: errorSummary(error) }, 'consumer disconnect failed'));
      // Every step of joining gives way to stop(), so this ends at once.
      await this.joining;
      await Promise.allSettled([...this.inFlight]);
      this.consumer = null;
      this.bus.release(this);
    })();
    return this.stopping;
  }

  lag(): Record<string, number> {
    const lag: Record<string, number> = {};
    for (const [topic, partitions] of this.lags) lag[topic] = Math.max(0, ...partitions.values());
    return lag;
  }

  /** Records left in a partition after `handled` more past `offset`: the high watermark is the next offset to be written. */
  private noteLag(topic: string, partition: number, highWatermark: string, offset: string, handled: 0 | 1): void {
    let partitions = this.lags.get(topic);
    if (!partitions) this.lags.set(topic, (partitions = new Map()));
    partitions.set(partition, Math.max(0, Number(BigInt(highWatermark) - BigInt(offset) - BigInt(handled))));
  }

  private track(work: Promise<void>): Promise<void> {
    this.inFlight.add(work);
    const forget = () => this.inFlight.delete(work);
    work.then(forget, forget);
    return work;
  }

  private scheduleRecreate(crashed: Consumer): void {
    if (this.recreateTimer || this.stopping) return;
    const delay = Math.min(MAX_RECREATE_DELAY_MS, 1_000 * 2 ** this.recreateAttempts++);
    this.recreateTimer = setTimeout(async () => {
      this.recreateTimer = null;
      if (this.stopping) return;
      await crashed.disconnect().catch(() => undefined);
      try {
        await this.start();
      } catch (error) {
        this.logger.error({ err: errorSummary(error), retryInMs: delay }, 'could not recreate the consumer; will try again');
        if (this.consumer) this.scheduleRecreate(this.consumer);
        else this.scheduleRecreate(crashed);
      }
    }, delay);
  }

  /**
   * Handles a batch record by record, in order. Each offset is resolved (and so becomes
   * committable) only after its record was handled or dead-lettered. Throwing (a dead letter
   * that could not be written, a rebalance seen by a heartbeat) leaves the record unresolved,
   * so kafkajs fetches it again.
   */
  private async eachBatch({
    batch,
    resolveOffset,
    heartbeat,
    commitOffsetsIfNecessary,
    uncommittedOffsets,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    const topic = this.bus.logicalTopic(batch.topic);
    // kafkajs heartbeats only when asked: this keeps the member alive through a slow handler (a busy database can take
    // longer than the session) as the Java client's background heartbeat does. A failure here (a rebalance) shows at
    // the heartbeat after the record, which ends the batch.
    const keepAlive = setInterval(() => void heartbeat().catch(() => undefined), this.heartbeatIntervalMs);
    try {
      await this.handleBatch(topic, { batch, resolveOffset, heartbeat, isRunning, isStale });
    } finally {
      clearInterval(keepAlive);
    }
    if (this.abort.signal.aborted || !isRunning()) {
      // Stopping: commit what was handled now rather than trusting a later automatic commit to still happen.
      await commitOffsetsIfNecessary(uncommittedOffsets());
    } else {
      await commitOffsetsIfNecessary();
    }
  }

  private async handleBatch(
    topic: string,
    {
      batch,
      resolveOffset,
      heartbeat,
      isRunning,
      isStale,
    }: Pick<EachBatchPayload, 'batch' | 'resolveOffset' | 'heartbeat' | 'isRunning' | 'isStale'>,
  ): Promise<void> {
    const first = batch.messages[0];
    if (first) this.noteLag(topic, batch.partition, batch.highWatermark, first.offset, 0);
    for (const message of batch.messages) {
      if (!isRunning() || isStale() || this.abort.signal.aborted) break;
      const record: ConsumedRecord = {
        topic,
        partition: batch.partition,
        offset: message.offset,
        key: message.key ? message.key.toString('utf8') : null,
        value: message.value ?? Buffer.alloc(0),
        headers: decodeHeaders(message.headers),
      };
      const outcome = await deliver(record, {
        groupId: this.options.groupId,
        handler: this.options.handler,
        policy: this.policy,
        signal: this.abort.signal,
        deadLetter: async (failed, headers) => {
          try {
            await this.bus.publishDeadLetter(this.options.groupId, failed, message.key ?? null, headers);
          } catch (error) {
            this.logger.error(
              { err: errorSummary(error), topic, partition: batch.partition, offset: message.offset },
              'could not dead-letter; the record stays uncommitted and will be delivered again',
            );
            throw error;
          }
        },
        onAttemptFailed: (error, attempt, nextDelayMs) => {
          this.logger.warn(
            { err: errorSummary(error), topic, partition: batch.partition, offset: message.offset, attempt, retryInMs: nextDelayMs },
            nextDelayMs === null ? 'handler failed; attempts exhausted, dead-lettering' : 'handler failed; will retry',
          );
        },
        // Keeps the group membership alive while a record waits between attempts.
        beforeRetry: heartbeat,
      });
      if (outcome === 'aborted') break;
      // The bus's logger, not this.logger: notifyDeadLetter names the group itself.
      if (outcome === 'dead-lettered') notifyDeadLetter(this.options, { groupId: this.options.groupId, topic }, this.bus.logger);
      resolveOffset(message.offset);
      this.noteLag(topic, batch.partition, batch.highWatermark, message.offset, 1);
      await heartbeat();
    }
  }
}

function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const decoded: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    // A repeated header keeps its last value, as most Kafka tooling shows it.
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) decoded[name] = last.toString();
  }
  return decoded;
}

/** The bus's SASL settings as kafkajs takes them. */
function kafkajsSasl(sasl: KafkaSaslOptions): SASLOptions {
  if (sasl.mechanism === 'oauthbearer') {
    const token = sasl.token;
    return { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: await token() }) };
  }
  return { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } as SASLOptions;
}

/** Routes kafkajs's own logging into pino, keeping only fields that cannot carry record contents. */
function pinoLogCreator(kafkaLogger: Logger): logCreator {
  return () => (entry: LogEntry) => {
    const { message, ...rest } = entry.log;
    const fields: Record<string, unknown> = { namespace: entry.namespace };
    for (const name of SAFE_LOG_FIELDS) {
      const value = (rest as Record<string, unknown>)[name];
      if (value === undefined) continue;
      fields[name] = value instanceof Error ? value.message : typeof value === 'object' ? String(value) : value;
    }
    if (EXPECTED_WARNINGS.includes(message)) {
      kafkaLogger.debug(fields, message);
      return;
    }
    switch (entry.level) {
      case logLevel.ERROR:
      case logLevel.NOTHING:
        // A failed request on one connection is retried by kafkajs; only what fails after retries deserves error level.
        if (entry.namespace === 'Connection') kafkaLogger.warn(fields, message);
        else kafkaLogger.error(fields, message);
        break;
      case logLevel.WARN:
        kafkaLogger.warn(fields, message);
        break;
      case logLevel.INFO:
        kafkaLogger.info(fields, message);
        break;
      default:
        kafkaLogger.debug(fields, message);
    }
  };
}
