import { SETTING_DEFAULTS } from '@pep/contracts';
import type { Db } from './events.js';
import type { OrganizationSetting } from './generated/prisma/client.js';
import type { AllowedHours } from './send-time.js';

/** What patients asking for HELP are told when the organization wrote nothing of its own. */
export const DEFAULT_HELP_TEXT =
  'Reply YES to confirm, NO to cancel, WAITLIST to join the waitlist, STOP to stop messages. For anything else, please call the clinic.';

/** The settings messaging acts on, for one organization. */
export interface MessagingSettings {
  reminderOffsetsHours: number[];
  allowed: AllowedHours;
  helpText: string;
  /** Days after a referral's start on which its outreach attempts go, ascending. */
  referralOutreachDays: number[];
  /** The organization's IANA time zone, for what has no facility to take one from; null when it set none. */
  timeZone: string | null;
  /** Whether a new broadcast waits for a second user's approval. */
  broadcastReviewRequired: boolean;
  /** Broadcast texts per hour; 0 for no limit. */
  broadcastRatePerHour: number;
}

/** The organization's settings, with the platform defaults for what it has not set. */
export async function messagingSettings(db: Db, organization: string): Promise<MessagingSettings> {
  return settingsOf(await db.organizationSetting.findUnique({ where: { organization } }));
}

/** {@link messagingSettings} from the organization's row, already loaded; null for an organization that set nothing. */
export function settingsOf(row: OrganizationSetting | null): MessagingSettings {
  return {
    reminderOffsetsHours: row?.reminderOffsetsHours ?? [...SETTING_DEFAULTS.reminderOffsetsHours],
    allowed: row
      ? { start: row.quietHoursStart, end: row.quietHoursEnd }
      : { start: SETTING_DEFAULTS.quietHoursStart, end: SETTING_DEFAULTS.quietHoursEnd },
    helpText: row?.helpText ?? DEFAULT_HELP_TEXT,
    referralOutreachDays: row?.referralOutreachDays.length ? row.referralOutreachDays : [...SETTING_DEFAULTS.referralOutreachDays],
    timeZone: row?.timeZone ?? null,
    broadcastReviewRequired: row?.broadcastReviewRequired ?? SETTING_DEFAULTS.broadcastReviewRequired,
    broadcastRatePerHour: row?.broadcastRatePerHour ?? SETTING_DEFAULTS.broadcastRatePerHour,
  };
}
