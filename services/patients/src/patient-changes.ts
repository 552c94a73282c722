import { patientContactPreferencesChangedV1, patientUpdatedV1 } from '@pep/contracts';
import type { Emit } from '@pep/db';
import type { Identity } from '@pep/service-kit';
import { foldName } from './contact.js';
import type { Prisma } from './generated/prisma/client.js';
import { lockDuplicateKey, findDuplicates, withSubscribers, type Db, type PatientRecord } from './patient.repository.js';
import { contactPreferences, patientSnapshot, preferencesDiffer } from './views.js';

/** Fields whose change patient.updated names, in the order it names them. */
const TRACKED = [
  'firstname',
  'lastname',
  'middlename',
  'email',
  'phone',
  'contact',
  'dateOfBirth',
  'gender',
  'language',
  'address',
  'city',
  'state',
  'country',
  'postcode',
  'externalId',
  'doNotContact',
  'doNotContactMessage',
  'tags',
  'possibleDuplicateOf',
  'verifiedAt',
  'verifiedBy',
] as const satisfies ReadonlyArray<keyof PatientRecord>;

/** New values for some tracked fields. */
export type PatientChange = Partial<Pick<PatientRecord, (typeof TRACKED)[number]>>;

/**
 * Applies a change to a locked patient and publishes what it means, in the caller's transaction: patient.updated
 * naming the changed fields, plus patient.contact-preferences-changed when consent, language or reachable channels
 * moved. The duplicate flag is recomputed when the phone or name changes. Returns null when nothing changed.
 */
export async function applyPatientChange(
  tx: Db,
  identity: Identity,
  before: PatientRecord,
  change: PatientChange,
  emit: Emit,
  extraChanged: string[] = [],
): Promise<PatientRecord | null> {
  const next: PatientChange = { ...change };
  const firstname = change.firstname ?? before.firstname;
  const lastname = change.lastname ?? before.lastname;
  const phone = change.phone !== undefined ? change.phone : before.phone;
  const normalizedName = foldedName(firstname, lastname);
  if (phone !== before.phone || normalizedName !== before.normalizedName) {
    await lockDuplicateKey(tx, before.organization, phone);
    next.possibleDuplicateOf = await findDuplicates(tx, before.organization, phone, normalizedName, before.id);
  }
  const changed = TRACKED.filter((field) => next[field] !== undefined && !same(next[field], before[field]));
  if (changed.length === 0 && extraChanged.length === 0) return null;
  const data: Prisma.PatientUpdateInput = { updatedBy: identity.user, normalizedName };
  for (const field of changed) Object.assign(data, { [field]: next[field] });
  const after = await tx.patient.update({ where: { id: before.id }, data, include: withSubscribers });
  publishPatientChange(emit, before, after, [...changed, ...extraChanged]);
  return after;
}

/** Emits patient.updated (and patient.contact-preferences-changed when it applies) for a change already written. */
export function publishPatientChange(emit: Emit, before: PatientRecord, after: PatientRecord, changed: string[]): void {
  const common = { organization: after.organization, subject: after.id };
  emit(patientUpdatedV1, { ...common, data: { ...patientSnapshot(after), changed } });
  const preferences = contactPreferences(after);
  if (preferencesDiffer(contactPreferences(before), preferences))
    emit(patientContactPreferencesChangedV1, { ...common, data: preferences });
}

/** The folded "first last" name duplicates and search compare. */
export function foldedName(firstname: string, lastname: string): string {
  return foldName(`${firstname} ${lastname}`);
}

function same(a: unknown, b: unknown): boolean {
  if (a instanceof Date || b instanceof Date) return (a as Date | null)?.getTime() === (b as Date | null)?.getTime();
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}
