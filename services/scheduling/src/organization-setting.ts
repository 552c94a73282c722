import { settingsChangedV1 } from '@pep/contracts';
import { on } from '@pep/db';
import type { Db } from './events.js';

/** Whether the organization lets two appointments share a provider's time; no setting kept means it does not. */
export async function allowsDoubleBooking(db: Db, organization: string): Promise<boolean> {
  const setting = await db.organizationSetting.findUnique({ where: { organization } });
  return setting?.allowDoubleBooking ?? false;
}

/**
 * Keeps the organization-wide settings scheduling acts on from auth's settings.changed. Settings of other subjects
 * are not used yet. Events of one setting arrive in order, but a deleted and re-created setting has a new id (and
 * key), so the event time decides which change is the latest.
 */
export const settingsChangedHandler = on(settingsChangedV1, async (event, tx) => {
  if (event.data.ref !== 'organization') return;
  const allow = !event.data.deleted && event.data.settings.allowDoubleBooking === true;
  await tx.$executeRawUnsafe(
    `INSERT INTO "organization_setting" ("organization", "allow_double_booking", "changed_at") VALUES ($1::uuid, $2, $3::timestamptz)
     ON CONFLICT ("organization") DO UPDATE SET "allow_double_booking" = EXCLUDED."allow_double_booking", "changed_at" = EXCLUDED."changed_at"
     WHERE "organization_setting"."changed_at" <= EXCLUDED."changed_at"`,
    event.organization,
    allow,
    event.time,
  );
});
