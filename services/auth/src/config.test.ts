import { ConfigError, parseConfig } from '@pep/service-kit';
import { describe, expect, it } from 'vitest';
import { configSchema } from './config.js';

const base = {
  DATABASE_URL: 'postgres://auth@db:5432/auth',
  INTERNAL_AUTH_SECRET: 'i'.repeat(32),
  SIGNING_KEY_SECRET: 's'.repeat(32),
  SMTP_URL: 'smtp://mail:1025',
  SCHEDULING_URL: 'http://scheduling:3000',
};

describe('auth configuration', () => {
  it('fills in the defaults', () => {
    expect(parseConfig(configSchema, base)).toMatchObject({
      KAFKA_CLIENT_ID: 'auth',
      ACCESS_TOKEN_TTL_SECONDS: 900,
      SIGNING_KEY_ROTATION_DAYS: 30,
      MIGRATE_ON_START: true,
      OWNER_LOOKUP_TIMEOUT_MS: 2_000,
    });
  });

  it('refuses short secrets, a missing mail destination and no scheduling to ask about its records', () => {
    expect(() => parseConfig(configSchema, { ...base, SCHEDULING_URL: undefined })).toThrow(/SCHEDULING_URL/);
    expect(() => parseConfig(configSchema, { ...base, SIGNING_KEY_SECRET: 'short' })).toThrow(ConfigError);
    expect(() => parseConfig(configSchema, { ...base, SMTP_URL: undefined })).toThrow(/SMTP_URL/);
    expect(parseConfig(configSchema, { ...base, SMTP_URL: undefined, MAIL_DIR: '.data/mail' }).MAIL_DIR).toBe('.data/mail');
  });
});
