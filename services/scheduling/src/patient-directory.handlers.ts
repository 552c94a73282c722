import { patientCreatedV1, patientDeletedV1, patientMergedV1, patientUpdatedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { on, type Tx } from './events.js';

/**
 * The consumers that keep scheduling's patient read model (the `scheduling.patient-directory` group, read from the
 * start of the topic so a new deployment learns every patient). Events of one patient arrive in order (keyed by
 * patient); a merge is keyed by the merged record, so the survivor may not be known yet and is added live, never
 * overwriting what its own events said.
 */
export const patientDirectoryBindings: EventBinding<Tx>[] = [
  on(patientCreatedV1, async (event, tx) => {
    await upsert(tx, event.data._id, event.organization, {});
  }),
  on(patientUpdatedV1, async (event, tx) => {
    await upsert(tx, event.data._id, event.organization, {});
  }),
  on(patientDeletedV1, async (event, tx) => {
    await upsert(tx, event.data._id, event.organization, { deleted: true });
  }),
  on(patientMergedV1, async (event, tx) => {
    await upsert(tx, event.data.merged, event.organization, { mergedInto: event.data.survivor });
    await upsert(tx, event.data.survivor, event.organization, {});
  }),
];

/**
 * Records what an event says of one patient. A patient id names one record in one organization; an event naming it
 * under another organization is not allowed to move it there.
 */
async function upsert(tx: Tx, id: string, organization: string, change: { deleted?: true; mergedInto?: string }): Promise<void> {
  const updated = Object.keys(change).length === 0 ? 0 : (await tx.patient.updateMany({ where: { id, organization }, data: change })).count;
  if (updated === 0) await tx.patient.createMany({ data: [{ id, organization, ...change }], skipDuplicates: true });
}
