import { SETTING_DEFAULTS, settingsChangedV1 } from '@pep/contracts';
import { on } from './events.js';
import { isValidWindow } from './send-time.js';

/**
 * Keeps the organization-wide reminder settings and the organization's own send quota from auth's settings.changed. Settings of a single user, provider or
 * facility are not used yet. A deleted setting means the defaults again. An allowed-hours window that ends before it
 * starts (overnight) is not supported: the defaults are kept instead, so reminders never go out at night by mistake.
 */
export const settingsChangedHandler = on(settingsChangedV1, async (event, tx) => {
  if (event.data.ref !== 'organization') return;
  const settings = event.data.deleted ? {} : event.data.settings;
  const offsets = [...new Set(settings.reminderOffsetsHours ?? SETTING_DEFAULTS.reminderOffsetsHours)].sort((a, b) => b - a);
  const window = {
    start: settings.quietHoursStart ?? SETTING_DEFAULTS.quietHoursStart,
    end: settings.quietHoursEnd ?? SETTING_DEFAULTS.quietHoursEnd,
  };
  // Referral outreach days, ascending and once each; empty in the row means the platform's default.
  const referralDays = [...new Set(settings.referralOutreachDays ?? [])].sort((a, b) => a - b);
  const allowed = isValidWindow(window) ? window : { start: SETTING_DEFAULTS.quietHoursStart, end: SETTING_DEFAULTS.quietHoursEnd };
  await tx.$executeRawUnsafe(
    `INSERT INTO "organization_setting" ("organization", "reminder_offsets_hours", "quiet_hours_start", "quiet_hours_end", "help_text", "changed_at", "send_quota", "referral_outreach_days", "time_zone",
       "broadcast_review_required", "broadcast_rate_per_hour")
     VALUES ($1::uuid, $2::int[], $3, $4, $5, $6::timestamptz, $7::jsonb, $8::int[], $9, $10, $11::int)
     ON CONFLICT ("organization") DO UPDATE SET "reminder_offsets_hours" = EXCLUDED."reminder_offsets_hours",
       "quiet_hours_start" = EXCLUDED."quiet_hours_start", "quiet_hours_end" = EXCLUDED."quiet_hours_end",
       "help_text" = EXCLUDED."help_text", "changed_at" = EXCLUDED."changed_at", "send_quota" = EXCLUDED."send_quota",
       "referral_outreach_days" = EXCLUDED."referral_outreach_days", "time_zone" = EXCLUDED."time_zone",
       "broadcast_review_required" = EXCLUDED."broadcast_review_required", "broadcast_rate_per_hour" = EXCLUDED."broadcast_rate_per_hour"
     WHERE "organization_setting"."changed_at" <= EXCLUDED."changed_at"`,
    event.organization,
    offsets,
    allowed.start,
    allowed.end,
    settings.helpText ?? null,
    event.time,
    settings.sendQuota ? JSON.stringify(settings.sendQuota) : null,
    referralDays,
    settings.timeZone ?? null,
    settings.broadcastReviewRequired ?? SETTING_DEFAULTS.broadcastReviewRequired,
    settings.broadcastRatePerHour ?? SETTING_DEFAULTS.broadcastRatePerHour,
  );
});
