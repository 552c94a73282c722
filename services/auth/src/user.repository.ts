import { pageWindow } from '@pep/service-kit';
import type { Membership, Organization, Prisma, PrismaClient, User } from './generated/prisma/client.js';

/** The Prisma client or one of its transactions. */
export type Db = PrismaClient | Prisma.TransactionClient;

/** A user together with their membership of one organization. */
export type Member = Membership & { user: User };

/** The user with this (already lower-cased) e-mail, or null. */
export function findUserByEmail(db: Db, email: string): Promise<User | null> {
  return db.user.findUnique({ where: { email } });
}

/** The user's membership of the organization, with the user; null when not a member. */
export function findMember(db: Db, organization: string, user: string): Promise<Member | null> {
  return db.membership.findUnique({
    where: { organizationId_userId: { organizationId: organization, userId: user } },
    include: { user: true },
  });
}

/** The membership a login lands in: the user's oldest active one (holding `role`, when given). */
export function findDefaultMembership(db: Db, user: string, role?: string): Promise<Membership | null> {
  return db.membership.findFirst({
    where: { userId: user, active: true, organization: { active: true }, ...(role ? { roles: { has: role } } : {}) },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
}

/** One page of an organization's members, by name. */
export async function listMembers(
  db: Db,
  organization: string,
  page: number,
  limit: number,
): Promise<{ members: Member[]; total: number }> {
  const where = { organizationId: organization };
  const [members, total] = await Promise.all([
    db.membership.findMany({
      where,
      include: { user: true },
      orderBy: [{ user: { lastname: 'asc' } }, { user: { firstname: 'asc' } }, { id: 'asc' }],
      ...pageWindow({ page, limit }),
    }),
    db.membership.count({ where }),
  ]);
  return { members, total };
}

/** Organizations the user is an active member of. */
export function listOrganizationsOf(db: Db, user: string): Promise<Organization[]> {
  return db.organization.findMany({
    where: { deletedAt: null, memberships: { some: { userId: user, active: true } } },
    orderBy: [{ name: 'asc' }, { id: 'asc' }],
  });
}

/** The organization, or null. */
export function findOrganization(db: Db, id: string): Promise<Organization | null> {
  return db.organization.findUnique({ where: { id } });
}

/** Whether the user is an active admin of the organization, and it is not deleted. */
export async function isActiveAdmin(db: Db, organization: string, user: string): Promise<boolean> {
  const member = await db.membership.findFirst({
    where: { organizationId: organization, userId: user, active: true, roles: { has: 'admin' }, organization: { deletedAt: null } },
    select: { id: true },
  });
  return member !== null;
}

/** Locks the organization row for the rest of the transaction, so checks over its members (the last admin) hold. */
export async function lockOrganization(db: Db, organization: string): Promise<void> {
  await db.$queryRawUnsafe('SELECT "id" FROM "organization" WHERE "id" = $1::uuid FOR UPDATE', organization);
}
