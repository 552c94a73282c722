import { randomUUID } from 'node:crypto';
import {
  appointmentCancelledV1,
  appointmentConfirmedV1,
  appointmentCreatedV1,
  appointmentRescheduledV1,
  patientContactPreferencesChangedV1,
  patientCreatedV1,
  patientMergedV1,
  patientUpdatedV1,
  referralCreatedV1,
  referralStatusChangedV1,
  type EventDefinition,
  type EventEnvelope,
} from '@pep/contracts';
import { on, type EventBinding, type RawSqlClient } from '@pep/db';
import type { z } from 'zod';

/**
 * Records one journey entry. An event about a patient that was merged away lands on the survivor, so the
 * timeline stays whole whichever id other services still use.
 */
async function record(tx: RawSqlClient, event: EventEnvelope, patient: string, summary: Record<string, unknown>): Promise<void> {
  await tx.$executeRawUnsafe(
    `INSERT INTO "journey_entry" ("id", "organization", "patient", "type", "occurred_at", "summary")
     SELECT $1::uuid, $2::uuid,
            COALESCE((SELECT "merged_into" FROM "patient" WHERE "id" = $3::uuid AND "organization" = $2::uuid), $3::uuid),
            $4, $5::timestamptz, $6::jsonb`,
    randomUUID(),
    event.organization,
    patient,
    event.type,
    event.time,
    JSON.stringify({ eventId: event.id, ...summary }),
  );
}

/** A binding that records each event of a definition on the patient it names. */
function journeyOf<TSchema extends z.ZodType>(
  definition: EventDefinition<string, TSchema>,
  describe: (event: EventEnvelope<z.output<TSchema>>) => { patient: string; summary?: Record<string, unknown> },
): EventBinding {
  return on(definition, async (event, tx) => {
    const { patient, summary } = describe(event);
    await record(tx, event, patient, summary ?? {});
  });
}

/** Starts a patient's journey with the creation of the record. */
export const patientCreatedHandler = journeyOf(patientCreatedV1, (event) => ({ patient: event.subject }));

/** Notes which fields of the record changed (names only: the journey holds no contact details). */
const patientUpdatedHandler = journeyOf(patientUpdatedV1, (event) => ({
  patient: event.subject,
  summary: { changed: event.data.changed },
}));

/** Notes consent and channel changes, which explain why messages stopped or resumed. */
const contactPreferencesHandler = journeyOf(patientContactPreferencesChangedV1, (event) => ({
  patient: event.subject,
  summary: { doNotContact: event.data.doNotContact, language: event.data.language, channels: event.data.channels },
}));

/**
 * Notes the merge on the survivor and moves onto it entries the merged record received after the merge committed
 * (events already in flight under the merged id).
 */
const patientMergedHandler = on(patientMergedV1, async (event, tx) => {
  await tx.$executeRawUnsafe(
    'UPDATE "journey_entry" SET "patient" = $1::uuid WHERE "organization" = $2::uuid AND "patient" = $3::uuid',
    event.data.survivor,
    event.organization,
    event.data.merged,
  );
  await record(tx, event, event.data.survivor, { survivor: event.data.survivor, merged: event.data.merged });
});

/** Scheduling's appointment milestones, on the appointment's patient; ids and times only. */
const appointmentHandlers = [appointmentCreatedV1, appointmentConfirmedV1, appointmentCancelledV1, appointmentRescheduledV1].map(
  (definition) =>
    journeyOf(definition, (event) => ({
      patient: event.data.patient,
      summary: {
        appointment: event.data._id,
        date: event.data.date,
        status: event.data.status,
        provider: event.data.provider,
        facility: event.data.facility,
      },
    })),
);

/** A referral's arrival and each move of its status, on the referred patient; ids, statuses and reasons only. */
const referralHandlers = [
  journeyOf(referralCreatedV1, (event) => ({
    patient: event.data.patient,
    summary: {
      referral: event.data._id,
      status: event.data.status,
      source: event.data.source,
      referringProvider: event.data.referringProvider,
    },
  })),
  journeyOf(referralStatusChangedV1, (event) => ({
    patient: event.data.patient,
    summary: {
      referral: event.data._id,
      status: event.data.status,
      previousStatus: event.data.previousStatus,
      statusReason: event.data.statusReason,
      scheduledByAppointment: event.data.scheduledByAppointment,
    },
  })),
];

/** Everything the journey consumer records. */
export const journeyBindings: EventBinding[] = [
  patientCreatedHandler,
  patientUpdatedHandler,
  contactPreferencesHandler,
  patientMergedHandler,
  ...appointmentHandlers,
  ...referralHandlers,
];
