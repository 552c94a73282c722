import {
  appointmentTypeCreatedV1,
  appointmentTypeDeletedV1,
  appointmentTypeUpdatedV1,
  facilityCreatedV1,
  facilityDeletedV1,
  facilityUpdatedV1,
  providerCreatedV1,
  providerDeletedV1,
  providerUpdatedV1,
} from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { on, type Tx } from './events.js';

/** The kinds of scheduling's records that settings and groups name. */
export type SchedulingKind = 'provider' | 'facility' | 'appointment-type';

/**
 * Keeps `scheduling_record` from scheduling's catalog events: each provider's, facility's and appointment type's id,
 * organization and whether it was deleted. Names and everything else stay with scheduling.
 */
export function schedulingRecordBindings(): EventBinding<Tx>[] {
  return [
    on(providerCreatedV1, (event, tx) => keep(tx, 'provider', event.data._id, event.organization, false)),
    on(providerUpdatedV1, (event, tx) => keep(tx, 'provider', event.data._id, event.organization, false)),
    on(providerDeletedV1, (event, tx) => keep(tx, 'provider', event.data._id, event.organization, true)),
    on(facilityCreatedV1, (event, tx) => keep(tx, 'facility', event.data._id, event.organization, false)),
    on(facilityUpdatedV1, (event, tx) => keep(tx, 'facility', event.data._id, event.organization, false)),
    on(facilityDeletedV1, (event, tx) => keep(tx, 'facility', event.data._id, event.organization, true)),
    on(appointmentTypeCreatedV1, (event, tx) => keep(tx, 'appointment-type', event.data._id, event.organization, false)),
    on(appointmentTypeUpdatedV1, (event, tx) => keep(tx, 'appointment-type', event.data._id, event.organization, false)),
    on(appointmentTypeDeletedV1, (event, tx) => keep(tx, 'appointment-type', event.data._id, event.organization, true)),
  ];
}

/**
 * Records a record's organization; a deletion stays a deletion whatever arrives after it, and a record never moves to
 * another organization (an event claiming so changes nothing).
 */
async function keep(tx: Tx, kind: SchedulingKind, id: string, organization: string, deleted: boolean): Promise<void> {
  await tx.$executeRawUnsafe(
    `INSERT INTO "scheduling_record" ("id", "kind", "organization", "deleted", "updated_at") VALUES ($1::uuid, $2, $3::uuid, $4, now())
     ON CONFLICT ("id") DO UPDATE SET "deleted" = "scheduling_record"."deleted" OR EXCLUDED."deleted", "updated_at" = now()
     WHERE "scheduling_record"."organization" = EXCLUDED."organization" AND "scheduling_record"."kind" = EXCLUDED."kind"`,
    id,
    kind,
    organization,
    deleted,
  );
}
