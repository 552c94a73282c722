import { PLATFORM_ADMIN } from './roles.js';
import { recordRevocation } from './revocation.repository.js';
import type { PrismaClient } from './generated/prisma/client.js';

const ROLE = PLATFORM_ADMIN[0];

/** A platform operator as listed by the operator command. */
export interface OperatorEntry {
  email: string;
  organizations: string[];
}

/** A request the operator command cannot carry out, with what to do instead. */
export class OperatorError extends Error {}

/**
 * Grants or takes the platform-admin role, which the API never grants: the role is added to every membership of the
 * user, so whichever organization they log in to, their token carries it.
 */
export class OperatorService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Makes the user with this e-mail a platform operator; true when they were not one already. */
  async add(email: string): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const user = await tx.user.findUnique({ where: { email: email.toLowerCase() }, include: { memberships: true } });
      if (!user || user.memberships.length === 0) {
        throw new OperatorError(
          `no account with the e-mail ${email}: sign up first (POST /api/users/signup, or the web app), then run this again`,
        );
      }
      const missing = user.memberships.filter((membership) => !membership.roles.includes(ROLE));
      for (const membership of missing)
        await tx.membership.update({ where: { id: membership.id }, data: { roles: [...membership.roles, ROLE] } });
      return missing.length > 0;
    });
  }

  /**
   * Takes the role back; tokens issued before now stop working at once (a revocation the gateway reads), so the
   * former operator logs in again without it. True when they were an operator.
   */
  async remove(email: string): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const user = await tx.user.findUnique({ where: { email: email.toLowerCase() }, include: { memberships: true } });
      const holding = user?.memberships.filter((membership) => membership.roles.includes(ROLE)) ?? [];
      for (const membership of holding) {
        await tx.membership.update({ where: { id: membership.id }, data: { roles: membership.roles.filter((role) => role !== ROLE) } });
      }
      if (user && holding.length > 0)
        await recordRevocation(tx, { scope: 'subject', subject: user.id, notBefore: this.clock(), reason: 'sessions-revoked' });
      return holding.length > 0;
    });
  }

  /** Every platform operator, by e-mail. */
  async list(): Promise<OperatorEntry[]> {
    const memberships = await this.prisma.membership.findMany({
      where: { roles: { has: ROLE } },
      include: { user: { select: { email: true } }, organization: { select: { name: true } } },
      orderBy: { createdAt: 'asc' },
    });
    const byEmail = new Map<string, string[]>();
    for (const membership of memberships)
      byEmail.set(membership.user.email, [...(byEmail.get(membership.user.email) ?? []), membership.organization.name]);
    return [...byEmail].sort(([a], [b]) => a.localeCompare(b)).map(([email, organizations]) => ({ email, organizations }));
  }
}
