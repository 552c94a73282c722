import { patientMergedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { on, type Tx } from './events.js';

/**
 * Two patient records were merged (patients service): the merged record's appointments, waitlist entries and offers
 * now belong to the survivor, so the survivor's history and answers stay whole whichever id a caller still holds.
 * Ids change, nothing else: no slot moves, so the no-overlap rule and the offers' state are untouched. Replayed, it
 * finds nothing left to move.
 */
export const patientMergedHandler: EventBinding<Tx> = on(patientMergedV1, async (event, tx) => {
  const { merged, survivor } = event.data;
  const organization = event.organization;
  await tx.appointment.updateMany({ where: { organization, patient: merged }, data: { patient: survivor } });
  await tx.waitlist.updateMany({ where: { organization, patient: merged }, data: { patient: survivor } });
  await tx.offerRecipient.updateMany({ where: { patient: merged, offer: { organization } }, data: { patient: survivor } });
  await tx.offer.updateMany({ where: { organization, patientFound: merged }, data: { patientFound: survivor } });
});
