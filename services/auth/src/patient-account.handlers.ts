import { patientCreatedV1, patientDeletedV1, patientMergedV1, patientUpdatedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { on, type Tx } from './events.js';

/**
 * Keeps `patient_account` from the patients service's events: a patient's id, organization and e-mail, and whether the
 * record still exists. Nothing else of the patient is stored, and nothing of it is logged.
 */
export function patientAccountBindings(): EventBinding<Tx>[] {
  const upsert = on(patientCreatedV1, async (event, tx) => {
    await tx.$executeRawUnsafe(
      `INSERT INTO "patient_account" ("patient", "organization", "email", "deleted", "updated_at") VALUES ($1::uuid, $2::uuid, $3, false, now())
       ON CONFLICT ("patient") DO UPDATE SET "email" = EXCLUDED."email", "updated_at" = now() WHERE "patient_account"."organization" = EXCLUDED."organization"`,
      event.data._id,
      event.organization,
      event.data.email?.trim().toLowerCase() || null,
    );
  });
  return [
    upsert,
    // An update carries the whole snapshot, so it is handled like a creation (an update seen first creates the account).
    on(patientUpdatedV1, (event, tx, emit) => upsert.handle(event, tx, emit)),
    on(patientDeletedV1, async (event, tx) => {
      await markDeleted(tx, event.data._id, event.organization);
    }),
    // The merged record is gone; its person logs in as the survivor, whose own events keep that account.
    on(patientMergedV1, async (event, tx) => {
      await markDeleted(tx, event.data.merged, event.organization);
    }),
  ];
}

async function markDeleted(tx: Tx, patient: string, organization: string): Promise<void> {
  await tx.$executeRawUnsafe(
    `INSERT INTO "patient_account" ("patient", "organization", "email", "deleted", "updated_at") VALUES ($1::uuid, $2::uuid, NULL, true, now())
     ON CONFLICT ("patient") DO UPDATE SET "deleted" = true, "updated_at" = now() WHERE "patient_account"."organization" = EXCLUDED."organization"`,
    patient,
    organization,
  );
}
