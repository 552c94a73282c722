import { KafkaBus } from '@pep/bus';
import { listEventDefinitions } from '@pep/contracts';
import {
  baseConfigSchema,
  createLogger,
  declaredTopicSpecs,
  envList,
  kafkaClientOptions,
  kafkaConfigCheck,
  kafkaConfigShape,
  parseConfig,
  type Logger,
  type ServiceTopics,
} from '@pep/service-kit';
import { z } from 'zod';
import { organizationAccessBindings } from './organization-access.js';

/** The topics of a consumer group's bindings, sorted: what `consume()` compares with the declaration. */
export function topicsOfBindings(bindings: ReadonlyArray<{ definition: { topic: string } }>): string[] {
  return [...new Set(bindings.map((binding) => binding.definition.topic))].sort();
}

/**
 * A database service's topic declaration, the one list its migration Job creates topics from and its app is checked
 * against: what it publishes (every registered event whose topic is `<service>.…`) and, per consumer purpose, the
 * topics the group `<service>.<purpose>` reads. The organization guard's group is added unless `guardOrganizations`
 * is false, as createEventedService adds it.
 */
export function serviceTopics(
  service: string,
  groups: Record<string, readonly string[]>,
  options: { guardOrganizations?: boolean } = {},
): ServiceTopics {
  const declared: Record<string, string[]> = {};
  if (options.guardOrganizations ?? true) declared[`${service}.organization-access`] = topicsOfBindings(organizationAccessBindings);
  for (const [purpose, topics] of Object.entries(groups)) declared[`${service}.${purpose}`] = [...new Set(topics)].sort();
  const publishes = [...new Set(listEventDefinitions().map((definition) => definition.topic))]
    .filter((topic) => topic.startsWith(`${service}.`))
    .sort();
  return { service, publishes, groups: declared, deadLetters: true };
}

/**
 * Throws when a consumer group reads other topics than the service declared for it: a topic missing from the
 * declaration would be missing on the cluster too (verify mode), and its dead letters would have nowhere to go.
 */
export function assertGroupDeclared(topics: ServiceTopics, groupId: string, read: string[]): void {
  const declared = topics.groups[groupId];
  const actual = [...new Set(read)].sort();
  if (!declared || declared.join(',') !== actual.join(',')) {
    throw new Error(
      `consumer group ${groupId} reads [${actual.join(', ')}] but ${topics.service}'s topics.ts declares ` +
        `${declared ? `[${declared.join(', ')}]` : 'no such group'}: update the declaration (the migration Job creates topics from it)`,
    );
  }
}

const migrationConfigSchema = z
  .object({
    NODE_ENV: baseConfigSchema.shape.NODE_ENV,
    LOG_LEVEL: baseConfigSchema.shape.LOG_LEVEL,
    KAFKA_BROKERS: envList.optional(),
    TOPIC_PREFIX: z.string().default(''),
    KAFKA_CLIENT_ID: z.string().min(1).optional(),
    ...kafkaConfigShape,
  })
  .superRefine(kafkaConfigCheck);

/**
 * The migration Job's Kafka half: creates the service's own topics (published and dead-letter) with the configured
 * partitions, replication factor and retention, and brings existing ones in line where Kafka can. Does nothing
 * without KAFKA_BROKERS (embedded runs, laptops). Throws, listing every problem, when a topic cannot be made to match.
 */
export async function migrateTopics(
  topics: ServiceTopics,
  env: Record<string, string | undefined> = process.env,
  logger?: Logger,
): Promise<void> {
  const config = parseConfig(migrationConfigSchema, env);
  const log = logger ?? createLogger({ service: topics.service, level: config.LOG_LEVEL });
  if (!config.KAFKA_BROKERS) {
    log.info('KAFKA_BROKERS is not set: no topics to declare');
    return;
  }
  const bus = new KafkaBus({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID ?? `${topics.service}-migrate`,
    topicPrefix: config.TOPIC_PREFIX,
    logger: log,
    ...kafkaClientOptions(config),
    // Topic administration on a busy controller can take longer than a request to a broker usually does.
    requestTimeoutMs: 30_000,
  });
  try {
    const specs = declaredTopicSpecs(topics, config, 'owned');
    const done = await bus.provisionTopics(specs);
    log.info({ topics: specs.length, ...done }, 'Kafka topics declared');
  } finally {
    await bus.close();
  }
}
