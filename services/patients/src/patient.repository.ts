import { pageWindow } from '@pep/service-kit';
import type { Patient, Prisma, PrismaClient } from './generated/prisma/client.js';

/** The Prisma client or one of its transactions. */
export type Db = PrismaClient | Prisma.TransactionClient;

/** A patient with the users following it, as every read returns it. */
export type PatientRecord = Patient & { subscribers: { user: string }[] };

/** What every read of a patient includes. */
export const withSubscribers = {
  subscribers: { select: { user: true }, orderBy: [{ createdAt: 'asc' }, { user: 'asc' }] },
} satisfies Prisma.PatientInclude;

/** Patients that count: not deleted and not merged into another. */
export const live = (organization: string): Prisma.PatientWhereInput => ({ organization, deletedAt: null, mergedInto: null });

/** Stores a new patient. */
export function insertPatient(db: Db, data: Prisma.PatientCreateInput): Promise<PatientRecord> {
  return db.patient.create({ data, include: withSubscribers });
}

/** A patient of the organization that is not deleted (merged ones included), or null, also when it is another organization's. */
export function findPatient(db: Db, organization: string, id: string): Promise<PatientRecord | null> {
  return db.patient.findFirst({ where: { id, organization, deletedAt: null }, include: withSubscribers });
}

/** Locks patient rows for the rest of the transaction, in id order so two transactions never wait on each other crosswise. */
export async function lockPatients(db: Db, organization: string, ids: string[]): Promise<void> {
  await db.$executeRawUnsafe(
    'SELECT 1 FROM "patient" WHERE "id" = ANY($1::uuid[]) AND "organization" = $2::uuid ORDER BY "id" FOR UPDATE',
    [...ids].sort(),
    organization,
  );
}

/**
 * Serializes writes that could make two patients duplicates of each other (same organization and phone), so two
 * concurrent creations of one person both see the other. A no-op exclusion on single-session databases.
 */
export async function lockDuplicateKey(db: Db, organization: string, phone: string | null): Promise<void> {
  if (phone) await db.$executeRawUnsafe('SELECT pg_advisory_xact_lock(hashtext($1))', `patient-duplicates:${organization}:${phone}`);
}

/** Ids of other live patients of the organization with this phone and folded name, oldest first. */
export async function findDuplicates(
  db: Db,
  organization: string,
  phone: string | null,
  normalizedName: string,
  self: string,
): Promise<string[]> {
  if (!phone || !normalizedName) return [];
  const rows = await db.patient.findMany({
    where: { ...live(organization), phone, normalizedName, id: { not: self } },
    select: { id: true },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    take: 50,
  });
  return rows.map((row) => row.id);
}

/** One page of patients matching `where` (already scoped by the caller), with the total. */
export async function pagePatients(
  db: Db,
  where: Prisma.PatientWhereInput,
  orderBy: Prisma.PatientOrderByWithRelationInput[],
  page: number,
  limit: number,
): Promise<{ patients: PatientRecord[]; total: number }> {
  const [patients, total] = await Promise.all([
    db.patient.findMany({ where, orderBy, ...pageWindow({ page, limit }), include: withSubscribers }),
    db.patient.count({ where }),
  ]);
  return { patients, total };
}

/** The patient's journey, oldest first. */
export function listJourney(db: Db, organization: string, patient: string) {
  return db.journeyEntry.findMany({ where: { organization, patient }, orderBy: [{ occurredAt: 'asc' }, { createdAt: 'asc' }] });
}
