import { settingsChangedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { on, type Tx } from './events.js';

/**
 * Keeps the organization-wide settings scheduling acts on from auth's settings.changed. Settings of other subjects
 * are not used yet. Events of one setting arrive in order, but a deleted and re-created setting has a new id (and
 * key), so the event time decides which change is the latest.
 */
export const settingsChangedHandler: EventBinding<Tx> = on(settingsChangedV1, async (event, tx) => {
  if (event.data.ref !== 'organization') return;
  const settings = event.data.deleted ? {} : event.data.settings;
  const allow = settings.allowDoubleBooking === true;
  await tx.$executeRawUnsafe(
    `INSERT INTO "organization_setting" ("organization", "allow_double_booking", "offer_protocol", "max_offers_per_slot", "offer_expiry_minutes", "front_office_acceptance",
       "appointment_duration_minutes", "changed_at")
     VALUES ($1::uuid, $2, $3::"offer_protocol", $4, $5, $6, $8, $7::timestamptz)
     ON CONFLICT ("organization") DO UPDATE SET "allow_double_booking" = EXCLUDED."allow_double_booking", "offer_protocol" = EXCLUDED."offer_protocol",
       "max_offers_per_slot" = EXCLUDED."max_offers_per_slot", "offer_expiry_minutes" = EXCLUDED."offer_expiry_minutes",
       "front_office_acceptance" = EXCLUDED."front_office_acceptance", "appointment_duration_minutes" = EXCLUDED."appointment_duration_minutes",
       "changed_at" = EXCLUDED."changed_at"
     WHERE "organization_setting"."changed_at" <= EXCLUDED."changed_at"`,
    event.organization,
    allow,
    settings.offerProtocol ?? null,
    settings.maxOffersPerSlot ?? null,
    settings.offerExpiryMinutes ?? null,
    settings.frontOfficeAcceptance ?? null,
    event.time,
    settings.appointmentDurationMinutes ?? null,
  );
});
