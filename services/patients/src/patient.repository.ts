import type { Patient, PrismaClient } from './generated/prisma/client.js';
import type { Prisma } from './generated/prisma/client.js';

/** The Prisma client or one of its transactions. */
export type Db = PrismaClient | Prisma.TransactionClient;

/** Stores a new patient. */
export function insertPatient(db: Db, data: Prisma.PatientCreateInput): Promise<Patient> {
  return db.patient.create({ data });
}

/** A patient of the organization, or null (also when it belongs to another organization). */
export function findPatient(db: Db, organization: string, id: string): Promise<Patient | null> {
  return db.patient.findFirst({ where: { id, organization } });
}

/** The patient's journey, oldest first. */
export function listJourney(db: Db, organization: string, patient: string) {
  return db.journeyEntry.findMany({ where: { organization, patient }, orderBy: [{ occurredAt: 'asc' }, { createdAt: 'asc' }] });
}

/** Records one journey entry. */
export function insertJourneyEntry(db: Db, data: Prisma.JourneyEntryCreateInput) {
  return db.journeyEntry.create({ data });
}
