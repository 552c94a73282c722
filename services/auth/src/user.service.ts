import { randomUUID } from 'node:crypto';
import { organizationCreatedV1, userCreatedV1, userDeactivatedV1, userUpdatedV1 } from '@pep/contracts';
import { HttpProblem, type Identity, notFound, pageOf } from '@pep/service-kit';
import type { AuthWork } from './events.js';
import type { PrismaClient } from './generated/prisma/client.js';
import { hashPassword } from './passwords.js';
import { RULES, type RateLimiter } from './rate-limiter.js';
import type { SessionService } from './session.service.js';
import { recordRevocation } from './revocation.repository.js';
import { revokeUserTokens } from './token.repository.js';
import { findMember, findUserByEmail, listMembers, type Member } from './user.repository.js';
import type { ListQuery, SignupBody, UpdateUserBody, UserResponse } from './user.schemas.js';
import { toOrganizationResponse, toUserResponse, userSnapshot } from './views.js';

const emailTaken = () => new HttpProblem(409, 'email-taken', 'An account with this e-mail already exists.');

/** Whether an error is Prisma's unique-constraint violation. */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string }).code === 'P2002';
}

/** Users: signup, the organization's user list, profile changes and decommissioning. */
export class UserService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly sessions: SessionService,
    private readonly limiter: RateLimiter,
    private readonly clock: () => Date,
    private readonly work: AuthWork,
  ) {}

  /** Creates an organization and its first admin, signed in; organization.created and user.created. */
  async signup(body: SignupBody, address: string, correlationId: string) {
    await this.limiter.hit(RULES.signupPerAddress, address);
    const email = body.email.toLowerCase();
    if (await findUserByEmail(this.prisma, email)) throw emailTaken();
    const passwordHash = await hashPassword(body.password);
    const organizationId = randomUUID();
    const userId = randomUUID();
    try {
      return await this.work.run({ correlationId }, async (tx, emit) => {
        const organization = await tx.organization.create({ data: { id: organizationId, name: body.organizationName } });
        await tx.user.create({
          data: { id: userId, email, passwordHash, firstname: body.firstname, lastname: body.lastname, lastLogin: this.clock() },
        });
        await tx.membership.create({ data: { id: randomUUID(), organizationId, userId, roles: ['admin'] } });
        const member = (await findMember(tx, organizationId, userId))!;
        emit(organizationCreatedV1, {
          organization: organizationId,
          subject: organizationId,
          data: { _id: organizationId, name: organization.name, active: organization.active },
        });
        emit(userCreatedV1, { organization: organizationId, subject: userId, data: userSnapshot(member) });
        const pair = await this.sessions.issue(tx, member);
        return { ...pair, user: toUserResponse(member), organization: toOrganizationResponse(organization) };
      });
    } catch (error) {
      // Two signups with one e-mail at once: the unique index lets one through.
      if (isUniqueViolation(error)) throw emailTaken();
      throw error;
    }
  }

  /** One page of the caller's organization's users. */
  async list(identity: Identity, query: ListQuery) {
    const { members, total } = await listMembers(this.prisma, identity.organization, query.page, query.limit);
    return pageOf(members.map(toUserResponse), query, total);
  }

  /** A user of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<UserResponse> {
    return toUserResponse(await this.member(identity, id));
  }

  /** Changes a user's profile (themselves or an admin) or roles (admins, not their own); user.updated. */
  async update(identity: Identity, id: string, body: UpdateUserBody, correlationId: string): Promise<UserResponse> {
    const isAdmin = identity.roles.includes('admin');
    if (identity.user !== id && !isAdmin) {
      // Non-admins may not learn whether other users exist beyond what they can list.
      await this.member(identity, id);
      throw new HttpProblem(403, 'forbidden', 'Only admins may change other users.');
    }
    const existing = await this.member(identity, id);
    if (body.roles && (!isAdmin || identity.user === id)) {
      throw new HttpProblem(403, 'forbidden', isAdmin ? 'You may not change your own roles.' : 'Only admins may change roles.');
    }
    const email = body.email?.toLowerCase();
    const changed = [
      ...(body.firstname !== undefined && body.firstname !== existing.user.firstname ? ['firstname'] : []),
      ...(body.lastname !== undefined && body.lastname !== existing.user.lastname ? ['lastname'] : []),
      ...(email !== undefined && email !== existing.user.email ? ['email'] : []),
      ...(body.roles && !sameRoles(body.roles, existing.roles) ? ['roles'] : []),
    ];
    if (changed.length === 0) return toUserResponse(existing);
    try {
      const updated = await this.work.run({ correlationId }, async (tx, emit) => {
        await tx.user.update({
          where: { id },
          data: {
            ...(body.firstname !== undefined ? { firstname: body.firstname } : {}),
            ...(body.lastname !== undefined ? { lastname: body.lastname } : {}),
            // A new address is unproven until a link sent to it is followed.
            ...(email !== undefined && email !== existing.user.email ? { email, emailVerifiedAt: null } : {}),
          },
        });
        if (body.roles) await tx.membership.update({ where: { id: existing.id }, data: { roles: body.roles } });
        const member = (await findMember(tx, identity.organization, id))!;
        emit(userUpdatedV1, { organization: identity.organization, subject: id, data: { ...userSnapshot(member), changed } });
        return member;
      });
      return toUserResponse(updated);
    } catch (error) {
      if (isUniqueViolation(error)) throw emailTaken();
      throw error;
    }
  }

  /** Deactivates a user in the caller's organization and revokes their sessions there; user.deactivated. */
  async decommission(identity: Identity, id: string, correlationId: string): Promise<UserResponse> {
    const existing = await this.member(identity, id);
    if (identity.user === id) throw new HttpProblem(409, 'self-decommission', 'You may not decommission yourself.');
    if (!existing.active) return toUserResponse(existing);
    const updated = await this.work.run({ correlationId }, async (tx, emit) => {
      const now = this.clock();
      await tx.membership.update({ where: { id: existing.id }, data: { active: false } });
      await revokeUserTokens(tx, id, now, identity.organization);
      await recordRevocation(tx, {
        scope: 'member',
        subject: id,
        organization: identity.organization,
        notBefore: now,
        reason: 'user-decommissioned',
      });
      emit(userDeactivatedV1, { organization: identity.organization, subject: id, time: now, data: { _id: id } });
      return (await findMember(tx, identity.organization, id))!;
    });
    return toUserResponse(updated);
  }

  private async member(identity: Identity, id: string): Promise<Member> {
    const member = await findMember(this.prisma, identity.organization, id);
    if (!member) throw notFound('user');
    return member;
  }
}

function sameRoles(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join() === [...b].sort().join();
}
