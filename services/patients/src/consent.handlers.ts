import { patientOptedInV1, patientOptedOutV1 } from '@pep/contracts';
import type { EventBinding, Emit } from '@pep/db';
import { on, type Tx } from './events.js';
import { applyPatientChange } from './patient-changes.js';
import { findPatient, lockPatients } from './patient.repository.js';

/**
 * A patient's STOP or START, which messaging heard, made the record's do-not-contact: the patient asked once, and
 * every part of the platform (staff screens, exports, other senders) must honour it. A merged-away record passes it
 * to its survivor. Unchanged records publish nothing, so a redelivery or a repeated STOP changes nothing.
 */
export const consentBindings: EventBinding<Tx>[] = [
  on(patientOptedOutV1, async (event, tx, emit) =>
    applyConsent(tx, emit, event.organization, event.data._id, {
      doNotContact: true,
      doNotContactMessage: `Opted out by replying ${event.data.keyword} (${event.data.channel}).`,
    }),
  ),
  on(patientOptedInV1, async (event, tx, emit) =>
    applyConsent(tx, emit, event.organization, event.data._id, {
      doNotContact: false,
      doNotContactMessage: null,
    }),
  ),
];

async function applyConsent(
  tx: Tx,
  emit: Emit,
  organization: string,
  id: string,
  change: { doNotContact: boolean; doNotContactMessage: string | null },
) {
  const named = await findPatient(tx, organization, id);
  const target = named?.mergedInto ?? named?.id;
  if (!target) return;
  await lockPatients(tx, organization, [target]);
  const patient = await findPatient(tx, organization, target);
  if (!patient || patient.doNotContact === change.doNotContact) return;
  await applyPatientChange(tx, { organization, user: `patient:${patient.id}`, roles: ['patient'] }, patient, change, emit);
}
