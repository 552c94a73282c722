import { patientOptedInV1, patientOptedOutV1 } from '@pep/contracts';
import { on, type EventBinding } from '@pep/db';
import { applyPatientChange } from './patient-changes.js';
import { findPatient, lockPatients, type Db } from './patient.repository.js';

/**
 * A patient's STOP or START, which messaging heard, made the record's do-not-contact: the patient asked once, and
 * every part of the platform (staff screens, exports, other senders) must honour it. A merged-away record passes it
 * to its survivor. Unchanged records publish nothing, so a redelivery or a repeated STOP changes nothing.
 */
export const consentBindings: EventBinding[] = [
  on(patientOptedOutV1, async (event, tx) =>
    applyConsent(tx as unknown as Db, event.organization, event.data._id, event.correlationid, {
      doNotContact: true,
      doNotContactMessage: `Opted out by replying ${event.data.keyword} (${event.data.channel}).`,
    }),
  ),
  on(patientOptedInV1, async (event, tx) =>
    applyConsent(tx as unknown as Db, event.organization, event.data._id, event.correlationid, {
      doNotContact: false,
      doNotContactMessage: null,
    }),
  ),
];

async function applyConsent(
  tx: Db,
  organization: string,
  id: string,
  correlationId: string,
  change: { doNotContact: boolean; doNotContactMessage: string | null },
) {
  const named = await findPatient(tx, organization, id);
  const target = named?.mergedInto ?? named?.id;
  if (!target) return;
  await lockPatients(tx, organization, [target]);
  const patient = await findPatient(tx, organization, target);
  if (!patient || patient.doNotContact === change.doNotContact) return;
  await applyPatientChange(tx, { organization, user: `patient:${patient.id}`, roles: ['patient'] }, patient, change, correlationId);
}
