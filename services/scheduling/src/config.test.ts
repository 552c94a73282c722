import { ConfigError, parseConfig } from '@pep/service-kit';
import { describe, expect, it } from 'vitest';
import { configSchema } from './config.js';

const base = {
  DATABASE_URL: 'postgres://scheduling@db:5432/scheduling',
  INTERNAL_AUTH_SECRET: 'i'.repeat(32),
  PATIENTS_URL: 'http://patients:8080',
  AUTH_URL: 'http://auth:8080',
};

describe('scheduling configuration', () => {
  it('fills in the defaults', () => {
    expect(parseConfig(configSchema, base)).toMatchObject({
      KAFKA_CLIENT_ID: 'scheduling',
      TOPIC_PREFIX: '',
      MIGRATE_ON_START: true,
      PORT: 8080,
    });
  });

  it('wants a database and a long enough secret', () => {
    expect(() => parseConfig(configSchema, { ...base, DATABASE_URL: undefined })).toThrow(/DATABASE_URL/);
    expect(parseConfig(configSchema, { ...base, DATABASE_URL: undefined, PGLITE_DIR: '.data/scheduling' }).PGLITE_DIR).toBe(
      '.data/scheduling',
    );
    expect(() => parseConfig(configSchema, { ...base, INTERNAL_AUTH_SECRET: 'short' })).toThrow(ConfigError);
  });

  it('wants the patients service, which it asks about patients it has not heard of', () => {
    expect(() => parseConfig(configSchema, { ...base, PATIENTS_URL: undefined })).toThrow(/PATIENTS_URL/);
    expect(() => parseConfig(configSchema, { ...base, PATIENTS_URL: 'patients' })).toThrow(/PATIENTS_URL/);
  });

  it('wants the auth service, which it asks about the v1 `user` of a booking', () => {
    expect(() => parseConfig(configSchema, { ...base, AUTH_URL: undefined })).toThrow(/AUTH_URL/);
    expect(() => parseConfig(configSchema, { ...base, AUTH_URL: 'auth' })).toThrow(/AUTH_URL/);
  });

  it('moves its clock only when asked to, and never in production', () => {
    expect(parseConfig(configSchema, base).CLOCK_CONTROL).toBe(false);
    expect(parseConfig(configSchema, { ...base, NODE_ENV: 'test', CLOCK_CONTROL: 'true' }).CLOCK_CONTROL).toBe(true);
    expect(() => parseConfig(configSchema, { ...base, NODE_ENV: 'production', CLOCK_CONTROL: 'true' })).toThrow(/CLOCK_CONTROL/);
  });
});
