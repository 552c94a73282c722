import { SETTING_DEFAULTS, settingsChangedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { on, type Tx } from './events.js';

/**
 * Keeps the organization-wide referral settings (auto-approval, expiry) from auth's settings.changed; settings of
 * other subjects do not apply to referrals. A deleted setting brings back the defaults. A deleted and re-created
 * setting has a new id (and key), so its events may arrive out of order: the event time decides which is the latest.
 */
export const referralSettingsHandler: EventBinding<Tx> = on(settingsChangedV1, async (event, tx) => {
  if (event.data.ref !== 'organization') return;
  const settings = event.data.deleted ? {} : event.data.settings;
  await tx.$executeRawUnsafe(
    `INSERT INTO "referral_setting" ("organization", "auto_approve", "expiry_days", "updated_at")
     VALUES ($1::uuid, $2, $3, $4::timestamptz)
     ON CONFLICT ("organization") DO UPDATE SET "auto_approve" = EXCLUDED."auto_approve", "expiry_days" = EXCLUDED."expiry_days",
       "updated_at" = EXCLUDED."updated_at"
     WHERE "referral_setting"."updated_at" <= EXCLUDED."updated_at"`,
    event.organization,
    settings.referralAutoApprove ?? SETTING_DEFAULTS.referralAutoApprove,
    settings.referralExpiryDays ?? SETTING_DEFAULTS.referralExpiryDays,
    event.time,
  );
});

/** The consumer bindings of the referral settings. */
export const referralSettingsBindings: ReadonlyArray<EventBinding<Tx>> = [referralSettingsHandler];
