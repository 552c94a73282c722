import { dateBoundsWhere, pageWindow, type ListQuery } from '@pep/service-kit';
import type { Prisma, Referral } from './generated/prisma/client.js';
import type { Db } from './patient.repository.js';
import type { ReferralFilters, REFERRAL_SORTS } from './referral.schemas.js';

/** Referrals of the organization that are not deleted. */
export const liveReferrals = (organization: string): Prisma.ReferralWhereInput => ({ organization, deletedAt: null });

/** The `where` of the referral lists for their filters, scoped to the organization's live referrals. */
export function referralWhere(organization: string, filters: ReferralFilters): Prisma.ReferralWhereInput {
  return {
    AND: [
      liveReferrals(organization),
      ...(filters.status ? [{ status: { in: filters.status } }] : []),
      ...(filters.patient ? [{ patientId: filters.patient }] : []),
      ...(filters.referringProvider ? [{ referringProviderId: filters.referringProvider }] : []),
      ...(filters.facility ? [{ facility: filters.facility }] : []),
      ...(filters.provider ? [{ provider: filters.provider }] : []),
      ...(filters.appointmentType ? [{ appointmentType: filters.appointmentType }] : []),
      ...(filters.source ? [{ source: filters.source }] : []),
      ...(filters.externalId ? [{ externalId: filters.externalId }] : []),
      ...(filters.processedReferralFollowup ? [{ processedReferralFollowup: filters.processedReferralFollowup }] : []),
      dateBoundsWhere('createdAt', filters.createdAt),
      dateBoundsWhere('startOn', filters.startOn),
    ],
  };
}

/** The order of a referral list; the id breaks ties so pages never overlap. */
export function referralOrder(sort: (typeof REFERRAL_SORTS)[number]): Prisma.ReferralOrderByWithRelationInput[] {
  switch (sort) {
    case 'createdAt':
      return [{ createdAt: 'asc' }, { id: 'asc' }];
    case '-createdAt':
      return [{ createdAt: 'desc' }, { id: 'asc' }];
    case 'startOn':
      return [{ startOn: 'asc' }, { id: 'asc' }];
    case '-startOn':
      return [{ startOn: 'desc' }, { id: 'asc' }];
    case 'expireAt':
      return [{ expireAt: { sort: 'asc', nulls: 'last' } }, { id: 'asc' }];
    case '-updatedAt':
      return [{ updatedAt: 'desc' }, { id: 'asc' }];
  }
}

/** One page of referrals matching `where` (already scoped by the caller), with the total. */
export async function pageReferrals(
  db: Db,
  where: Prisma.ReferralWhereInput,
  orderBy: Prisma.ReferralOrderByWithRelationInput[],
  query: ListQuery,
): Promise<{ referrals: Referral[]; total: number }> {
  const [referrals, total] = await Promise.all([
    db.referral.findMany({ where, orderBy, ...pageWindow(query) }),
    db.referral.count({ where }),
  ]);
  return { referrals, total };
}

/** A live referral of the organization, or null (also when it is another organization's). */
export function findReferral(db: Db, organization: string, id: string): Promise<Referral | null> {
  return db.referral.findFirst({ where: { id, ...liveReferrals(organization) } });
}

/**
 * Locks referral rows for the rest of the transaction, in id order so two batches never wait on each other crosswise,
 * and answers the ids of those that are the organization's and live.
 */
export async function lockReferrals(db: Db, organization: string, ids: string[]): Promise<Set<string>> {
  const rows = await db.$queryRawUnsafe<Array<{ id: string }>>(
    'SELECT "id"::text AS "id" FROM "referral" WHERE "id" = ANY($1::uuid[]) AND "organization" = $2::uuid AND "deleted_at" IS NULL ORDER BY "id" FOR UPDATE',
    [...ids].sort(),
    organization,
  );
  return new Set(rows.map((row) => row.id));
}

/** Names of the organization's referring providers by id, for the answers that show them. */
export async function referringProviderNames(
  db: Db,
  organization: string,
  ids: Array<string | null>,
): Promise<Map<string, { name: string }>> {
  const wanted = [...new Set(ids.filter((id): id is string => id !== null))];
  if (wanted.length === 0) return new Map();
  const rows = await db.referringProvider.findMany({ where: { organization, id: { in: wanted } }, select: { id: true, name: true } });
  return new Map(rows.map((row) => [row.id, { name: row.name }]));
}

/** Names of the organization's patients by id (deleted ones left out), for crudList's rows. */
export async function patientNames(db: Db, organization: string, ids: string[]): Promise<Map<string, string>> {
  const wanted = [...new Set(ids)];
  if (wanted.length === 0) return new Map();
  const rows = await db.patient.findMany({
    where: { organization, id: { in: wanted }, deletedAt: null },
    select: { id: true, firstname: true, lastname: true },
  });
  return new Map(rows.map((row) => [row.id, `${row.firstname} ${row.lastname}`]));
}
