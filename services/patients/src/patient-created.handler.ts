import { randomUUID } from 'node:crypto';
import { patientCreatedV1 } from '@pep/contracts';
import { on } from '@pep/db';

/** Starts a patient's journey with the creation of the record. */
export const patientCreatedHandler = on(patientCreatedV1, async (event, tx) => {
  await tx.$executeRawUnsafe(
    'INSERT INTO "journey_entry" ("id", "organization", "patient", "type", "occurred_at", "summary") VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5::timestamptz, $6::jsonb)',
    randomUUID(),
    event.organization,
    event.subject,
    event.type,
    event.time,
    JSON.stringify({ eventId: event.id }),
  );
});
