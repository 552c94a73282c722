import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { baseConfigSchema, ConfigError, parseConfig } from './config.js';
import { declaredTopicSpecs, kafkaClientOptions, kafkaConfigCheck, kafkaTopicsMode, type ServiceTopics } from './kafka-config.js';

const schema = baseConfigSchema.superRefine(kafkaConfigCheck);

/** The variables a config names as wrong, or [] when it parses. */
function problems(env: Record<string, string>): string[] {
  try {
    parseConfig(schema, env);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems.map((problem) => problem.split(':')[0]!).sort();
  }
}

describe('Kafka security settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kafka-config-test-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nnot-checked-here\n-----END CERTIFICATE-----\n');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts no security at all (a laptop broker), and TLS with SCRAM', () => {
    expect(problems({})).toEqual([]);
    expect(
      problems({
        NODE_ENV: 'production',
        KAFKA_SSL: 'true',
        KAFKA_SSL_CA_FILE: caFile,
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'svc',
        KAFKA_SASL_PASSWORD: 'pw',
      }),
    ).toEqual([]);
  });

  it('names the missing credentials of a mechanism, and credentials without one', () => {
    expect(problems({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'svc' })).toEqual(['KAFKA_SASL_PASSWORD']);
    expect(problems({ KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'pw' })).toEqual(['KAFKA_SASL_PASSWORD', 'KAFKA_SASL_USERNAME']);
    expect(problems({ KAFKA_SASL_MECHANISM: 'oauthbearer', KAFKA_OAUTH_CLIENT_ID: 'id' })).toEqual([
      'KAFKA_OAUTH_CLIENT_SECRET',
      'KAFKA_OAUTH_TOKEN_URL',
    ]);
    expect(problems({ KAFKA_OAUTH_TOKEN_URL: 'https://idp.example/token' })).toEqual(['KAFKA_OAUTH_TOKEN_URL']);
    expect(problems({ KAFKA_SASL_MECHANISM: 'aws' })).toEqual(['KAFKA_SASL_MECHANISM']);
  });

  it('refuses in production PLAIN without TLS and unverified broker certificates', () => {
    const plain = { KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'pw' };
    expect(problems(plain)).toEqual([]);
    expect(problems({ ...plain, NODE_ENV: 'production' })).toEqual(['KAFKA_SASL_MECHANISM']);
    expect(problems({ ...plain, NODE_ENV: 'production', KAFKA_SSL: 'true' })).toEqual([]);
    expect(problems({ NODE_ENV: 'production', KAFKA_SSL: 'true', KAFKA_SSL_REJECT_UNAUTHORIZED: 'false' })).toEqual([
      'KAFKA_SSL_REJECT_UNAUTHORIZED',
    ]);
    expect(problems({ KAFKA_SSL: 'true', KAFKA_SSL_REJECT_UNAUTHORIZED: 'false' })).toEqual([]);
  });

  it('refuses in production OAUTHBEARER without TLS: the token would cross the network in clear', () => {
    const oauth = {
      KAFKA_SASL_MECHANISM: 'oauthbearer',
      KAFKA_OAUTH_TOKEN_URL: 'https://idp.example/token',
      KAFKA_OAUTH_CLIENT_ID: 'id',
      KAFKA_OAUTH_CLIENT_SECRET: 'secret',
    };
    expect(problems(oauth)).toEqual([]);
    expect(problems({ ...oauth, NODE_ENV: 'production' })).toEqual(['KAFKA_SASL_MECHANISM']);
    expect(problems({ ...oauth, NODE_ENV: 'production', KAFKA_SSL: 'true' })).toEqual([]);
  });

  it('wants a client certificate and key together, and TLS files only with TLS', () => {
    expect(problems({ KAFKA_SSL: 'true', KAFKA_SSL_CERT_FILE: caFile })).toEqual(['KAFKA_SSL_KEY_FILE']);
    expect(problems({ KAFKA_SSL_CA_FILE: caFile })).toEqual(['KAFKA_SSL_CA_FILE']);
  });

  it('hands the bus TLS with the CA read from its file, and SASL', () => {
    const config = parseConfig(schema, {
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: caFile,
      KAFKA_SASL_MECHANISM: 'scram-sha-256',
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD: 'pw',
    });
    const options = kafkaClientOptions(config);
    expect(options.ssl).toEqual({ rejectUnauthorized: true, ca: [expect.stringContaining('not-checked-here')] });
    expect(options.sasl).toEqual({ mechanism: 'scram-sha-256', username: 'svc', password: 'pw' });
    expect(options.createTopics).toBe(true);
  });

  it('names the variable of an unreadable file', () => {
    const config = parseConfig(schema, { KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: join(dir, 'absent.pem') });
    expect(() => kafkaClientOptions(config)).toThrow(/KAFKA_SSL_CA_FILE: cannot read .*absent\.pem \(ENOENT\)/);
  });

  it('builds an OAUTHBEARER token source from the client credentials', () => {
    const config = parseConfig(schema, {
      KAFKA_SASL_MECHANISM: 'oauthbearer',
      KAFKA_OAUTH_TOKEN_URL: 'https://idp.example/token',
      KAFKA_OAUTH_CLIENT_ID: 'id',
      KAFKA_OAUTH_CLIENT_SECRET: 'secret',
    });
    const sasl = kafkaClientOptions(config).sasl;
    expect(sasl?.mechanism).toBe('oauthbearer');
    expect(sasl && 'token' in sasl && typeof sasl.token).toBe('function');
  });
});

describe('declared topics', () => {
  it('verifies in production and creates elsewhere unless told', () => {
    expect(kafkaTopicsMode({ NODE_ENV: 'production', KAFKA_TOPICS: undefined })).toBe('verify');
    expect(kafkaTopicsMode({ NODE_ENV: 'development', KAFKA_TOPICS: undefined })).toBe('create');
    expect(kafkaTopicsMode({ NODE_ENV: 'production', KAFKA_TOPICS: 'create' })).toBe('create');
    expect(kafkaClientOptions(parseConfig(schema, { NODE_ENV: 'production' })).createTopics).toBe(false);
  });

  it('lists published topics and the dead-letter topic of each group and topic, with the configured settings', () => {
    const config = parseConfig(schema, { KAFKA_TOPIC_PARTITIONS: '6', KAFKA_TOPIC_REPLICATION_FACTOR: '3' });
    const topics: ServiceTopics = {
      service: 'svc',
      publishes: ['svc.thing'],
      groups: { 'svc.reader': ['other.item', 'svc.thing'] },
      deadLetters: true,
    };
    const owned = declaredTopicSpecs(topics, config, 'owned');
    expect(owned.map((spec) => [spec.topic, spec.retentionMs])).toEqual([
      ['other.item.svc.reader.dlq', 30 * 86_400_000],
      ['svc.thing', 7 * 86_400_000],
      ['svc.thing.svc.reader.dlq', 30 * 86_400_000],
    ]);
    expect(owned.every((spec) => spec.partitions === 6 && spec.replicationFactor === 3)).toBe(true);
    expect(declaredTopicSpecs(topics, config, 'all').map((spec) => spec.topic)).toContain('other.item');
    expect(declaredTopicSpecs({ ...topics, deadLetters: false }, config, 'all').map((spec) => spec.topic)).toEqual([
      'other.item',
      'svc.thing',
    ]);
  });
});
