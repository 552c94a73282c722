import { readFileSync } from 'node:fs';
import {
  brokersUnreachable,
  clientCredentialsTokenProvider,
  deadLetterTopic,
  type KafkaBus,
  type KafkaBusOptions,
  type TopicSpec,
} from '@pep/bus';
import type { Logger } from 'pino';
import { z } from 'zod';

/** "true"/"false"/"1"/"0"; a copy of envBoolean, which config.ts (importing this file) defines after its imports run. */
const flag = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');
const optionalText = z.string().min(1).optional();
const DAY_MS = 86_400_000;

/** SASL mechanisms the Kafka client speaks. */
export const kafkaSaslMechanisms = ['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer'] as const;

/**
 * How every process that talks to Kafka (the services, the gateway, the migration Jobs) reaches and authenticates to
 * the brokers, and how the topics are declared. Merged into `baseConfigSchema`; {@link kafkaConfigCheck} checks how
 * the variables go together.
 */
export const kafkaConfigShape = {
  /** TLS to the brokers (managed clusters: MSK, Confluent Cloud, Strimzi TLS listeners). */
  KAFKA_SSL: flag.default(false),
  /** PEM bundle of the CAs the brokers' certificates chain to; the system's CAs when unset. */
  KAFKA_SSL_CA_FILE: optionalText,
  /** Refuse a broker whose certificate does not verify (default true; false is refused in production). */
  KAFKA_SSL_REJECT_UNAUTHORIZED: flag.default(true),
  /** Client certificate and key (PEM) for brokers that want mutual TLS; both or neither. */
  KAFKA_SSL_CERT_FILE: optionalText,
  KAFKA_SSL_KEY_FILE: optionalText,
  KAFKA_SASL_MECHANISM: z.enum(kafkaSaslMechanisms).optional(),
  /** Username and password for PLAIN and SCRAM (secret: the password). */
  KAFKA_SASL_USERNAME: optionalText,
  KAFKA_SASL_PASSWORD: optionalText,
  /** OAUTHBEARER: the identity provider's token endpoint and this client's credentials (client-credentials grant). */
  KAFKA_OAUTH_TOKEN_URL: z.string().url().optional(),
  KAFKA_OAUTH_CLIENT_ID: optionalText,
  KAFKA_OAUTH_CLIENT_SECRET: optionalText,
  KAFKA_OAUTH_SCOPE: optionalText,
  /**
   * `verify`: the service checks its declared topics at start and never creates one (the migration Job creates them);
   * `create`: topics are created on first use (laptops, tests). Default: verify in production, create otherwise.
   */
  KAFKA_TOPICS: z.enum(['create', 'verify']).optional(),
  /** Partitions of each declared topic (at least). */
  KAFKA_TOPIC_PARTITIONS: z.coerce.number().int().min(1).max(10_000).default(3),
  /** Replicas of each partition; the broker's `default.replication.factor` when unset (and then not checked). */
  KAFKA_TOPIC_REPLICATION_FACTOR: z.coerce.number().int().min(1).max(32).optional(),
  /** `retention.ms` of event topics (default 7 days). */
  KAFKA_TOPIC_RETENTION_MS: z.coerce
    .number()
    .int()
    .min(60_000)
    .default(7 * DAY_MS),
  /** `retention.ms` of dead-letter topics (default 30 days): operators need time to look at them. */
  KAFKA_DLQ_RETENTION_MS: z.coerce
    .number()
    .int()
    .min(60_000)
    .default(30 * DAY_MS),
};

/** The parsed Kafka settings (every config built on `baseConfigSchema` has them). */
export type KafkaSettings = z.output<z.ZodObject<typeof kafkaConfigShape>> & { NODE_ENV: string };

/**
 * How the Kafka variables must go together, as a zod refinement: `.superRefine(kafkaConfigCheck)` on each config that
 * talks to Kafka. A mechanism needs its credentials and credentials need a mechanism; production refuses PLAIN and
 * OAUTHBEARER without TLS (the password or token would cross the network in clear) and unverified broker certificates.
 */
export function kafkaConfigCheck(config: KafkaSettings, ctx: z.RefinementCtx): void {
  const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  const mechanism = config.KAFKA_SASL_MECHANISM;
  const password = mechanism === 'plain' || mechanism === 'scram-sha-256' || mechanism === 'scram-sha-512';
  for (const name of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const) {
    if (password && !config[name]) problem(name, `required with KAFKA_SASL_MECHANISM=${mechanism}`);
    if (!password && config[name]) problem(name, 'set KAFKA_SASL_MECHANISM to plain, scram-sha-256 or scram-sha-512, or unset this');
  }
  for (const name of ['KAFKA_OAUTH_TOKEN_URL', 'KAFKA_OAUTH_CLIENT_ID', 'KAFKA_OAUTH_CLIENT_SECRET'] as const) {
    if (mechanism === 'oauthbearer' && !config[name]) problem(name, 'required with KAFKA_SASL_MECHANISM=oauthbearer');
  }
  if (mechanism !== 'oauthbearer') {
    for (const name of ['KAFKA_OAUTH_TOKEN_URL', 'KAFKA_OAUTH_CLIENT_ID', 'KAFKA_OAUTH_CLIENT_SECRET', 'KAFKA_OAUTH_SCOPE'] as const) {
      if (config[name]) problem(name, 'set KAFKA_SASL_MECHANISM=oauthbearer, or unset this');
    }
  }
  if (Boolean(config.KAFKA_SSL_CERT_FILE) !== Boolean(config.KAFKA_SSL_KEY_FILE)) {
    problem(
      config.KAFKA_SSL_CERT_FILE ? 'KAFKA_SSL_KEY_FILE' : 'KAFKA_SSL_CERT_FILE',
      'mutual TLS needs both KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE',
    );
  }
  if (!config.KAFKA_SSL) {
    for (const name of ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'] as const) {
      if (config[name]) problem(name, 'only used with KAFKA_SSL=true');
    }
  }
  if (config.NODE_ENV === 'production') {
    if (mechanism === 'plain' && !config.KAFKA_SSL) {
      problem('KAFKA_SASL_MECHANISM', 'PLAIN sends the password in clear: set KAFKA_SSL=true, or use scram-sha-512');
    }
    // A bearer token is a credential too: whoever reads it off the wire is this client until it expires.
    if (mechanism === 'oauthbearer' && !config.KAFKA_SSL) {
      problem('KAFKA_SASL_MECHANISM', 'OAUTHBEARER sends the access token in clear: set KAFKA_SSL=true');
    }
    if (!config.KAFKA_SSL_REJECT_UNAUTHORIZED) {
      problem('KAFKA_SSL_REJECT_UNAUTHORIZED', "must stay true in production: give the brokers' CA in KAFKA_SSL_CA_FILE instead");
    }
  }
}

/** Whether the service creates missing topics or only checks them (see `KAFKA_TOPICS`). */
export function kafkaTopicsMode(config: Pick<KafkaSettings, 'KAFKA_TOPICS' | 'NODE_ENV'>): 'create' | 'verify' {
  return config.KAFKA_TOPICS ?? (config.NODE_ENV === 'production' ? 'verify' : 'create');
}

/**
 * The KafkaBus options that come from the Kafka variables: TLS and SASL (files read now, so a wrong path stops the
 * start with the variable's name), and how topics are created. Secrets go to the client only, never to a log.
 */
export function kafkaClientOptions(
  config: KafkaSettings,
): Pick<
  KafkaBusOptions,
  'ssl' | 'sasl' | 'createTopics' | 'numPartitions' | 'replicationFactor' | 'retentionMs' | 'deadLetterRetentionMs'
> {
  const read = (name: 'KAFKA_SSL_CA_FILE' | 'KAFKA_SSL_CERT_FILE' | 'KAFKA_SSL_KEY_FILE') => {
    const file = config[name];
    if (!file) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      // Not ConfigError: config.ts imports this file, and the import back would run before ConfigError exists.
      throw new Error(
        `invalid configuration:\n  - ${name}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
  };
  const options: ReturnType<typeof kafkaClientOptions> = {
    createTopics: kafkaTopicsMode(config) === 'create',
    numPartitions: config.KAFKA_TOPIC_PARTITIONS,
    retentionMs: config.KAFKA_TOPIC_RETENTION_MS,
    deadLetterRetentionMs: config.KAFKA_DLQ_RETENTION_MS,
    ...(config.KAFKA_TOPIC_REPLICATION_FACTOR !== undefined ? { replicationFactor: config.KAFKA_TOPIC_REPLICATION_FACTOR } : {}),
  };
  if (config.KAFKA_SSL) {
    const ca = read('KAFKA_SSL_CA_FILE');
    const cert = read('KAFKA_SSL_CERT_FILE');
    const key = read('KAFKA_SSL_KEY_FILE');
    options.ssl = {
      rejectUnauthorized: config.KAFKA_SSL_REJECT_UNAUTHORIZED,
      ...(ca ? { ca: [ca] } : {}),
      ...(cert && key ? { cert, key } : {}),
    };
  }
  const mechanism = config.KAFKA_SASL_MECHANISM;
  if (mechanism === 'oauthbearer') {
    options.sasl = {
      mechanism,
      token: clientCredentialsTokenProvider({
        tokenUrl: config.KAFKA_OAUTH_TOKEN_URL!,
        clientId: config.KAFKA_OAUTH_CLIENT_ID!,
        clientSecret: config.KAFKA_OAUTH_CLIENT_SECRET!,
        scope: config.KAFKA_OAUTH_SCOPE,
      }),
    };
  } else if (mechanism) {
    options.sasl = { mechanism, username: config.KAFKA_SASL_USERNAME!, password: config.KAFKA_SASL_PASSWORD! };
  }
  return options;
}

/** A service's topics: the ones it publishes and, per consumer group, the ones the group reads. */
export interface ServiceTopics {
  service: string;
  /** Logical topics the service produces (`<service>.<aggregate>`). */
  publishes: string[];
  /** Consumer group id → logical topics it reads; each (topic, group) has a dead-letter topic. */
  groups: Record<string, string[]>;
  /** Whether the groups dead-letter to declared topics (false: per-replica groups such as the gateway's). */
  deadLetters: boolean;
}

/**
 * The topics a service declares, with the configured partitions, replication factor and retention: the migration Job
 * creates them, and a service in verify mode checks them. `owned` only: what the service's own Job creates (its
 * published topics and its dead-letter topics); otherwise also the topics it reads, which other services' Jobs create.
 */
export function declaredTopicSpecs(topics: ServiceTopics, config: KafkaSettings, scope: 'owned' | 'all'): TopicSpec[] {
  const specs = new Map<string, TopicSpec>();
  const add = (topic: string, retentionMs: number) =>
    specs.set(topic, {
      topic,
      partitions: config.KAFKA_TOPIC_PARTITIONS,
      replicationFactor: config.KAFKA_TOPIC_REPLICATION_FACTOR,
      retentionMs,
    });
  for (const topic of topics.publishes) add(topic, config.KAFKA_TOPIC_RETENTION_MS);
  for (const [groupId, read] of Object.entries(topics.groups)) {
    for (const topic of read) {
      if (scope === 'all' && !specs.has(topic)) add(topic, config.KAFKA_TOPIC_RETENTION_MS);
      if (topics.deadLetters) add(deadLetterTopic(topic, groupId), config.KAFKA_DLQ_RETENTION_MS);
    }
  }
  return [...specs.values()].sort((a, b) => a.topic.localeCompare(b.topic));
}

/**
 * At start, in verify mode, refuses (throws) when the topics a process declares are missing or unlike their declaration.
 * Kafka not answering says nothing about the topics: the process starts and only warns, as ADR 0024 has it (the outbox
 * keeps events; the gateway's revocation feed fails closed). The caller closes what it opened when this throws.
 */
export async function verifyTopicsAtStart(bus: KafkaBus, topics: ServiceTopics, config: KafkaSettings, logger: Logger): Promise<void> {
  if (kafkaTopicsMode(config) !== 'verify') return;
  try {
    // One clear refusal naming every missing or misconfigured topic, rather than consumers retrying forever.
    await bus.verifyTopics(declaredTopicSpecs(topics, config, 'all'));
  } catch (error) {
    if (!brokersUnreachable(error)) throw error;
    logger.warn({ err: { name: (error as Error).name, message: (error as Error).message } }, 'Kafka did not answer: topics not verified');
  }
}
