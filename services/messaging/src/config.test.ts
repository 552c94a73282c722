import { ConfigError, parseConfig } from '@pep/service-kit';
import { describe, expect, it } from 'vitest';
import { configSchema } from './config.js';

const base = {
  DATABASE_URL: 'postgres://messaging@db:5432/messaging',
  INTERNAL_AUTH_SECRET: 'i'.repeat(32),
  MAIL_DIR: '/var/mail/pep',
  PATIENTS_URL: 'http://patients:3000',
  SCHEDULING_URL: 'http://scheduling:3000',
};
const twilio = { TWILIO_ACCOUNT_SID: `AC${'0a'.repeat(16)}`, TWILIO_AUTH_TOKEN: 't'.repeat(32), TWILIO_FROM: '+15005550006' };

describe('messaging configuration', () => {
  it('fills in the defaults and runs without Twilio (development sink)', () => {
    expect(parseConfig(configSchema, base)).toMatchObject({
      KAFKA_CLIENT_ID: 'messaging',
      MIGRATE_ON_START: true,
      PUBLIC_URL: 'http://localhost:3000',
      TWILIO_API_URL: 'https://api.twilio.com',
      DISPATCH_INTERVAL_MS: 5_000,
      DISPATCH_BATCH_SIZE: 250,
      DISPATCH_LANES: 2,
      REMINDER_STALE_AFTER_MINUTES: 120,
      REMINDER_MIN_LEAD_MINUTES: 120,
      PATIENT_TEXT_SPACING_SECONDS: 30,
      CLOCK_CONTROL: false,
      OWNER_LOOKUP_TIMEOUT_MS: 2_000,
      PENDING_SETTLE_AFTER_MINUTES: 10,
      PENDING_SETTLE_MIN_REAL_SECONDS: 120,
      PENDING_SWEEP_INTERVAL_MS: 60_000,
    });
    expect(parseConfig(configSchema, base).TWILIO_ACCOUNT_SID).toBeUndefined();
    // A pending message is settled only after the claim lease (5 min) and the vendor wait (60 s) have passed.
    expect(() => parseConfig(configSchema, { ...base, PENDING_SETTLE_AFTER_MINUTES: '5' })).toThrow(/PENDING_SETTLE_AFTER_MINUTES/);
    expect(() => parseConfig(configSchema, { ...base, PENDING_SETTLE_MIN_REAL_SECONDS: '60' })).toThrow(/PENDING_SETTLE_MIN_REAL_SECONDS/);
  });

  it('wants a database, somewhere for mail, a long enough secret, the owners of what requests refer to, and all of Twilio or none of it', () => {
    expect(() => parseConfig(configSchema, { ...base, PATIENTS_URL: undefined })).toThrow(/PATIENTS_URL/);
    expect(() => parseConfig(configSchema, { ...base, SCHEDULING_URL: 'scheduling' })).toThrow(/SCHEDULING_URL/);
    expect(() => parseConfig(configSchema, { ...base, DATABASE_URL: undefined })).toThrow(/DATABASE_URL/);
    expect(() => parseConfig(configSchema, { ...base, MAIL_DIR: undefined })).toThrow(/SMTP_URL/);
    expect(parseConfig(configSchema, { ...base, MAIL_DIR: undefined, SMTP_URL: 'smtp://mail:1025' }).SMTP_URL).toBe('smtp://mail:1025');
    expect(() => parseConfig(configSchema, { ...base, INTERNAL_AUTH_SECRET: 'short' })).toThrow(ConfigError);
    expect(parseConfig(configSchema, { ...base, ...twilio }).TWILIO_FROM).toBe('+15005550006');
    expect(() => parseConfig(configSchema, { ...base, TWILIO_ACCOUNT_SID: twilio.TWILIO_ACCOUNT_SID })).toThrow(/TWILIO_ACCOUNT_SID/);
    expect(() => parseConfig(configSchema, { ...base, ...twilio, TWILIO_ACCOUNT_SID: 'AC123' })).toThrow(/TWILIO_ACCOUNT_SID/);
  });

  it('refuses to start in production without an SMS vendor unless the development sink is asked for by name', () => {
    const production = { ...base, NODE_ENV: 'production' };
    let refused: unknown;
    try {
      parseConfig(configSchema, production);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).problems).toEqual([
      'TWILIO_ACCOUNT_SID: no SMS vendor in production: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM, or SMS_SINK=true to send texts and calls to the development sink (nothing reaches patients)',
    ]);
    expect(parseConfig(configSchema, { ...production, ...twilio }).TWILIO_ACCOUNT_SID).toBe(twilio.TWILIO_ACCOUNT_SID);
    expect(parseConfig(configSchema, { ...production, SMS_SINK: 'true' }).SMS_SINK).toBe(true);
    expect(() => parseConfig(configSchema, { ...production, SMS_SINK: 'false' })).toThrow(/no SMS vendor in production/);
    // Both at once is a mistake either way round.
    expect(() => parseConfig(configSchema, { ...production, ...twilio, SMS_SINK: 'true' })).toThrow(/SMS_SINK: SMS_SINK=true and Twilio/);
    // Development and tests keep the sink without being asked.
    expect(parseConfig(configSchema, { ...base, NODE_ENV: 'test' }).TWILIO_ACCOUNT_SID).toBeUndefined();
  });

  it('takes Bandwidth callback credentials as a pair, and none by default (loopback callers only)', () => {
    expect(parseConfig(configSchema, base).BANDWIDTH_CALLBACK_USERNAME).toBeUndefined();
    expect(
      parseConfig(configSchema, { ...base, BANDWIDTH_CALLBACK_USERNAME: 'bandwidth', BANDWIDTH_CALLBACK_PASSWORD: 'p'.repeat(16) }),
    ).toMatchObject({ BANDWIDTH_CALLBACK_USERNAME: 'bandwidth' });
    expect(() => parseConfig(configSchema, { ...base, BANDWIDTH_CALLBACK_USERNAME: 'bandwidth' })).toThrow(/BANDWIDTH_CALLBACK_USERNAME/);
    expect(() => parseConfig(configSchema, { ...base, BANDWIDTH_CALLBACK_PASSWORD: 'p'.repeat(16) })).toThrow(
      /BANDWIDTH_CALLBACK_USERNAME/,
    );
    expect(() =>
      parseConfig(configSchema, { ...base, BANDWIDTH_CALLBACK_USERNAME: 'bandwidth', BANDWIDTH_CALLBACK_PASSWORD: 'short' }),
    ).toThrow(/BANDWIDTH_CALLBACK_PASSWORD/);
  });

  it('moves its clock only when asked to, and never in production', () => {
    expect(parseConfig(configSchema, { ...base, NODE_ENV: 'test', CLOCK_CONTROL: 'true' }).CLOCK_CONTROL).toBe(true);
    expect(parseConfig(configSchema, { ...base, ...twilio, NODE_ENV: 'production', CLOCK_CONTROL: 'false' }).CLOCK_CONTROL).toBe(false);
    expect(() => parseConfig(configSchema, { ...base, NODE_ENV: 'production', CLOCK_CONTROL: 'true' })).toThrow(/CLOCK_CONTROL/);
    expect(() => parseConfig(configSchema, { ...base, CLOCK_CONTROL: 'yes' })).toThrow(/CLOCK_CONTROL/);
  });

  it('takes the send quota from the environment, with the defaults of ADR 0012, and refuses limits that could never send', () => {
    expect(parseConfig(configSchema, base)).toMatchObject({
      SEND_QUOTA_PATIENT_PER_HOUR: 20,
      SEND_QUOTA_PATIENT_PER_DAY: 50,
      SEND_QUOTA_ORGANIZATION_PER_MINUTE: 300,
      SEND_QUOTA_ORGANIZATION_PER_DAY: 10_000,
      SEND_QUOTA_AUTOMATED_FACTOR: 2,
    });
    expect(
      parseConfig(configSchema, { ...base, SEND_QUOTA_ORGANIZATION_PER_DAY: '50000', SEND_QUOTA_AUTOMATED_FACTOR: '1.5' }),
    ).toMatchObject({
      SEND_QUOTA_ORGANIZATION_PER_DAY: 50_000,
      SEND_QUOTA_AUTOMATED_FACTOR: 1.5,
    });
    expect(() => parseConfig(configSchema, { ...base, SEND_QUOTA_PATIENT_PER_HOUR: '0' })).toThrow(/SEND_QUOTA_PATIENT_PER_HOUR/);
    expect(() => parseConfig(configSchema, { ...base, SEND_QUOTA_ORGANIZATION_PER_MINUTE: 'many' })).toThrow(
      /SEND_QUOTA_ORGANIZATION_PER_MINUTE/,
    );
    expect(() => parseConfig(configSchema, { ...base, SEND_QUOTA_AUTOMATED_FACTOR: '0.5' })).toThrow(/SEND_QUOTA_AUTOMATED_FACTOR/);
  });
});
