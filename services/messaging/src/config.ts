import {
  baseConfigSchema,
  databasePoolMax,
  internalAuthSecretSchema,
  clockControlRefinement,
  envBoolean,
  envList,
  kafkaConfigCheck,
} from '@pep/service-kit';
import { z } from 'zod';
import { DISPATCH_DEFAULTS } from './dispatcher.js';
import { PENDING_SWEEP_DEFAULTS } from './pending-sweep.js';
import { QUOTA_DEFAULTS } from './quota.js';

/**
 * The messaging service's environment. Either DATABASE_URL (Postgres) or PGLITE_DIR (embedded) is required.
 * SMS and voice go through Twilio when its account is configured, otherwise to a development sink that only
 * records them (in production only with SMS_SINK=true); mail goes to SMTP_URL or, when that is unset, as .eml files into
 * MAIL_DIR.
 */
export const configSchema = baseConfigSchema
  .extend({
    DATABASE_URL: z.string().url().optional(),
    DATABASE_POOL_MAX: databasePoolMax,
    PGLITE_DIR: z.string().min(1).optional(),
    KAFKA_BROKERS: envList.optional(),
    KAFKA_CLIENT_ID: z.string().default('messaging'),
    TOPIC_PREFIX: z.string().default(''),
    INTERNAL_AUTH_SECRET: internalAuthSecretSchema,
    MIGRATE_ON_START: envBoolean.default(true),
    /** The platform's public base URL: Twilio calls back at `${PUBLIC_URL}/api/callback/...` and signs that URL. */
    PUBLIC_URL: z.string().url().default('http://localhost:3000'),
    TWILIO_ACCOUNT_SID: z
      .string()
      .regex(/^AC[0-9a-fA-F]{32}$/, 'an account SID, AC followed by 32 hex digits')
      .optional(),
    TWILIO_AUTH_TOKEN: z.string().min(16).optional(),
    /** Sending number (E.164) or messaging service SID. */
    TWILIO_FROM: z.string().min(3).optional(),
    /** Base URL of Twilio's REST API; only changed to reach a stand-in. */
    TWILIO_API_URL: z.string().url().default('https://api.twilio.com'),
    /**
     * Without a Twilio account: the token replies to the development sink must be signed with (as Twilio would sign
     * them), so a developer can play the patient; unset, every callback is refused.
     */
    SMS_SINK_WEBHOOK_TOKEN: z.string().min(16).optional(),
    /**
     * `true`: send SMS and voice to the development sink (recorded, never sent) knowingly. Production refuses to start
     * without Twilio unless this is set, so a missing Secret never silently stops patients' texts; development and tests
     * use the sink whenever Twilio is not configured.
     */
    SMS_SINK: envBoolean.optional(),
    /**
     * HTTP Basic credentials Bandwidth is configured to send with its callbacks (`POST /webhooks/reply/bandwidth/sms`);
     * both or neither. Without them only callers on this machine (loopback, as the gateway saw them) are accepted.
     */
    BANDWIDTH_CALLBACK_USERNAME: z.string().min(1).optional(),
    BANDWIDTH_CALLBACK_PASSWORD: z.string().min(6, 'must be at least 6 characters, as Bandwidth asks').optional(),
    SMTP_URL: z.string().url().optional(),
    MAIL_FROM: z.string().min(3).default('no-reply@localhost'),
    MAIL_DIR: z.string().min(1).optional(),
    /** How often the reminder dispatcher looks for due reminders. */
    DISPATCH_INTERVAL_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
    /** Reminders the dispatcher claims and sends per round, and how many rounds one replica runs at once (ADR 0011). */
    DISPATCH_BATCH_SIZE: z.coerce.number().int().min(1).max(1_000).default(DISPATCH_DEFAULTS.batchSize),
    DISPATCH_LANES: z.coerce.number().int().min(1).max(16).default(2),
    /** A planned reminder later than this past its send time is skipped when its appointment is within REMINDER_MIN_LEAD_MINUTES. */
    REMINDER_STALE_AFTER_MINUTES: z.coerce
      .number()
      .int()
      .min(1)
      .default(DISPATCH_DEFAULTS.staleAfterMs / 60_000),
    REMINDER_MIN_LEAD_MINUTES: z.coerce
      .number()
      .int()
      .min(0)
      .default(DISPATCH_DEFAULTS.minLeadMs / 60_000),
    /** The least time between two texts to one patient (answers to the patient's own reply excepted); 0 turns spacing off. */
    PATIENT_TEXT_SPACING_SECONDS: z.coerce
      .number()
      .int()
      .min(0)
      .max(3_600)
      .default(DISPATCH_DEFAULTS.spacingMs / 1_000),
    /**
     * A message still `pending` this long after it was written (its sender died mid-send) is settled without sending
     * again: `sent` if the vendor reported on it, else `undelivered` (outcome-unknown). Longer than the claim lease (5 min).
     */
    PENDING_SETTLE_AFTER_MINUTES: z.coerce
      .number()
      .int()
      .min(6)
      .max(1_440)
      .default(PENDING_SWEEP_DEFAULTS.settleAfterMs / 60_000),
    /**
     * The least real time (the database's clock) such a message waits first, however the service's clock is moved
     * (CLOCK_CONTROL): longer than the consent lock waits for vendors (60 s), so a send still waiting is never settled.
     */
    PENDING_SETTLE_MIN_REAL_SECONDS: z.coerce
      .number()
      .int()
      .min(61)
      .max(86_400)
      .default(PENDING_SWEEP_DEFAULTS.minRealAgeMs / 1_000),
    /** How often messaging looks for such messages. */
    PENDING_SWEEP_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(PENDING_SWEEP_DEFAULTS.intervalMs),
    /** Base URL of the patients service, asked whether a patient id messaging has not heard of yet is the caller's. */
    PATIENTS_URL: z.string().url(),
    /** Base URL of the scheduling service, asked the same about appointment ids. */
    SCHEDULING_URL: z.string().url(),
    /** How long such a question may take before the request answers 503 with Retry-After. */
    OWNER_LOOKUP_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(2_000),
    /** Send quota (ADR 0012): the most messages to one patient per hour and per day. */
    SEND_QUOTA_PATIENT_PER_HOUR: z.coerce.number().int().min(1).default(QUOTA_DEFAULTS.patientPerHour),
    SEND_QUOTA_PATIENT_PER_DAY: z.coerce.number().int().min(1).default(QUOTA_DEFAULTS.patientPerDay),
    /** Send quota: the most messages of one organization per minute and per day. */
    SEND_QUOTA_ORGANIZATION_PER_MINUTE: z.coerce.number().int().min(1).default(QUOTA_DEFAULTS.organizationPerMinute),
    SEND_QUOTA_ORGANIZATION_PER_DAY: z.coerce.number().int().min(1).default(QUOTA_DEFAULTS.organizationPerDay),
    /** Send quota: how many times each limit automated messages (reminders, offers, acknowledgements) may fill; they wait, never fail, beyond it. */
    SEND_QUOTA_AUTOMATED_FACTOR: z.coerce.number().min(1).max(100).default(QUOTA_DEFAULTS.automatedFactor),
    /** Lets `PUT /internal/clock` move the service's clock (end-to-end tests, ADR 0009); refused in production. */
    CLOCK_CONTROL: envBoolean.default(false),
  })
  .refine((config) => config.DATABASE_URL || config.PGLITE_DIR, {
    message: 'set DATABASE_URL (Postgres) or PGLITE_DIR (embedded)',
    path: ['DATABASE_URL'],
  })
  .refine((config) => config.SMTP_URL || config.MAIL_DIR, {
    message: 'set SMTP_URL, or MAIL_DIR to keep outgoing mail as .eml files',
    path: ['SMTP_URL'],
  })
  .refine(...clockControlRefinement)
  .refine((config) => (config.BANDWIDTH_CALLBACK_USERNAME === undefined) === (config.BANDWIDTH_CALLBACK_PASSWORD === undefined), {
    message: 'set both BANDWIDTH_CALLBACK_USERNAME and BANDWIDTH_CALLBACK_PASSWORD, or neither (loopback callers only)',
    path: ['BANDWIDTH_CALLBACK_USERNAME'],
  })
  .refine(
    (config) =>
      [config.TWILIO_ACCOUNT_SID, config.TWILIO_AUTH_TOKEN, config.TWILIO_FROM].every((value) => value === undefined) ||
      (config.TWILIO_ACCOUNT_SID && config.TWILIO_AUTH_TOKEN && config.TWILIO_FROM),
    {
      message: 'set all of TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM, or none (development sink)',
      path: ['TWILIO_ACCOUNT_SID'],
    },
  )
  .refine((config) => config.NODE_ENV !== 'production' || config.TWILIO_ACCOUNT_SID !== undefined || config.SMS_SINK === true, {
    message:
      'no SMS vendor in production: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM, or SMS_SINK=true to send texts and calls to the development sink (nothing reaches patients)',
    path: ['TWILIO_ACCOUNT_SID'],
  })
  .refine((config) => !(config.SMS_SINK === true && config.TWILIO_ACCOUNT_SID !== undefined), {
    message: 'SMS_SINK=true and Twilio are both set: texts would go to Twilio; remove one',
    path: ['SMS_SINK'],
  })
  .superRefine(kafkaConfigCheck);

export type MessagingConfig = z.output<typeof configSchema>;
