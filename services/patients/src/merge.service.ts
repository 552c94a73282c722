import { randomUUID } from 'node:crypto';
import { patientMergedV1 } from '@pep/contracts';
import { HttpProblem, notFound, type Identity } from '@pep/service-kit';
import { parseContacts, primaries, unionContacts } from './contact.js';
import type { PatientsWork } from './events.js';
import type { PrismaClient } from './generated/prisma/client.js';
import { applyPatientChange, type PatientChange } from './patient-changes.js';
import { findPatient, lockPatients, withSubscribers, type PatientRecord } from './patient.repository.js';
import type { MergeBody, PatientResponse } from './patient.schemas.js';
import { toPatientResponse } from './views.js';

/** Details the survivor takes from the merged record when it has none of its own. */
const GAP_FIELDS = ['middlename', 'dateOfBirth', 'gender', 'address', 'city', 'state', 'country', 'postcode', 'externalId'] as const;

/** Merges two records of one person. */
export class MergeService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: PatientsWork,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * Merges `merged` into `survivor`, both the caller's: the survivor fills its gaps from the merged record, gains
   * its contact details, followers and journey, and keeps do-not-contact if either had it (an opt-out is never
   * lost); the merged record gets `mergedInto` and leaves lists and search. Publishes patient.merged (so other
   * services re-point their rows) and patient.updated for the survivor when it changed.
   */
  async merge(identity: Identity, body: MergeBody, correlationId: string): Promise<PatientResponse> {
    const organization = identity.organization;
    const survivor = await this.work.run({ correlationId }, async (tx, emit) => {
      await lockPatients(tx, organization, [body.survivor, body.merged]);
      const kept = await findPatient(tx, organization, body.survivor);
      const gone = await findPatient(tx, organization, body.merged);
      if (!kept || !gone) throw notFound('patient');
      if (kept.id === gone.id) throw new HttpProblem(409, 'merge-self', 'A patient cannot be merged into itself.');
      if (kept.mergedInto || gone.mergedInto)
        throw new HttpProblem(409, 'already-merged', 'One of these patients was already merged into another.');

      const extraChanged: string[] = [];
      const followers = await tx.patientSubscriber.findMany({ where: { patientId: gone.id }, select: { user: true } });
      const added = await tx.patientSubscriber.createMany({
        data: followers.map((follower) => ({ id: randomUUID(), organization, patientId: kept.id, user: follower.user })),
        skipDuplicates: true,
      });
      if (added.count > 0) extraChanged.push('subscribers');
      await tx.recentPatient.deleteMany({ where: { patientId: gone.id } });
      await tx.journeyEntry.updateMany({ where: { organization, patient: gone.id }, data: { patient: kept.id } });
      // Records merged into the one merged now point straight at the survivor, so `mergedInto` is never a chain.
      await tx.patient.updateMany({ where: { organization, mergedInto: gone.id }, data: { mergedInto: kept.id } });
      await tx.patient.update({ where: { id: gone.id }, data: { mergedInto: kept.id, mergedAt: this.clock(), updatedBy: identity.user } });
      emit(patientMergedV1, { organization, subject: gone.id, data: { survivor: kept.id, merged: gone.id } });

      const after = await applyPatientChange(tx, identity, kept, gapsFilled(kept, gone), emit, extraChanged);
      return after ?? (await tx.patient.findUniqueOrThrow({ where: { id: kept.id }, include: withSubscribers }));
    });
    return toPatientResponse(survivor);
  }
}

function gapsFilled(kept: PatientRecord, gone: PatientRecord): PatientChange {
  const change: PatientChange = {};
  for (const field of GAP_FIELDS) {
    if (kept[field] === null && gone[field] !== null) Object.assign(change, { [field]: gone[field] });
  }
  const contact = unionContacts(parseContacts(kept.contact), parseContacts(gone.contact));
  Object.assign(change, { contact, ...primaries(contact) });
  if (gone.doNotContact && !kept.doNotContact)
    Object.assign(change, { doNotContact: true, doNotContactMessage: kept.doNotContactMessage ?? gone.doNotContactMessage });
  // The merged record is no longer a duplicate to look at.
  if (kept.possibleDuplicateOf.includes(gone.id)) change.possibleDuplicateOf = kept.possibleDuplicateOf.filter((id) => id !== gone.id);
  return change;
}
