import { ConfigError, parseConfig } from '@pep/service-kit';
import { describe, expect, it } from 'vitest';
import { configSchema } from './config.js';

const base = {
  DATABASE_URL: 'postgres://billing@db:5432/billing',
  INTERNAL_AUTH_SECRET: 'i'.repeat(32),
};

describe('billing configuration', () => {
  it('fills in the defaults: a sandbox on real time with a 14-day grace period', () => {
    expect(parseConfig(configSchema, base)).toMatchObject({
      KAFKA_CLIENT_ID: 'billing',
      TOPIC_PREFIX: '',
      MIGRATE_ON_START: true,
      BILLING_GRACE_DAYS: 14,
      BILLING_GRACE_REMINDER_DAYS: 3,
      BILLING_GRACE_POLL_SECONDS: 60,
      CLOCK_CONTROL: false,
    });
    expect(parseConfig(configSchema, base).STRIPE_SECRET_KEY).toBeUndefined();
  });

  it('wants a database and a long enough secret', () => {
    expect(() => parseConfig(configSchema, { ...base, DATABASE_URL: undefined })).toThrow(/DATABASE_URL/);
    expect(parseConfig(configSchema, { ...base, DATABASE_URL: undefined, PGLITE_DIR: '.data/billing' }).PGLITE_DIR).toBe('.data/billing');
    expect(() => parseConfig(configSchema, { ...base, INTERNAL_AUTH_SECRET: 'short' })).toThrow(ConfigError);
  });

  it('refuses plans that are not a JSON array of valid plans, naming BILLING_PLANS', () => {
    expect(() => parseConfig(configSchema, { ...base, BILLING_PLANS: 'not json' })).toThrow(/BILLING_PLANS/);
    expect(() => parseConfig(configSchema, { ...base, BILLING_PLANS: '[{"id":"basic"}]' })).toThrow(/BILLING_PLANS/);
  });

  it('moves its clock only when asked to, and never in production', () => {
    expect(parseConfig(configSchema, { ...base, NODE_ENV: 'test', CLOCK_CONTROL: 'true' }).CLOCK_CONTROL).toBe(true);
    expect(parseConfig(configSchema, { ...base, NODE_ENV: 'production', CLOCK_CONTROL: 'false' }).CLOCK_CONTROL).toBe(false);
    expect(() => parseConfig(configSchema, { ...base, NODE_ENV: 'production', CLOCK_CONTROL: 'true' })).toThrow(/CLOCK_CONTROL/);
    expect(() => parseConfig(configSchema, { ...base, CLOCK_CONTROL: 'yes' })).toThrow(/CLOCK_CONTROL/);
  });
});
