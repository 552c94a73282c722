import { randomUUID } from 'node:crypto';
import { userCreatedV1, userDeactivatedV1, userUpdatedV1 } from '@pep/contracts';
import { HttpProblem, type Identity, notFound, pageOf, pageWindow } from '@pep/service-kit';
import type { AuthWork } from './events.js';
import type { Membership, PrismaClient, User } from './generated/prisma/client.js';
import type { PasswordResetService } from './password-reset.service.js';
import { recordRevocation } from './revocation.repository.js';
import { revokeUserTokens } from './token.repository.js';
import { findMember, findOrganization, findUserByEmail, isActiveAdmin, type Member } from './user.repository.js';
import type { CreateUserBody, PlatformSearchBody, PlatformUserResponse, TransferBody, UserResponse } from './user.schemas.js';
import { isUniqueViolation } from './user.service.js';
import { isPending, NO_PASSWORD, toUserResponse, userSnapshot } from './views.js';

const emailTaken = () =>
  new HttpProblem(
    409,
    'email-taken',
    'An account with this e-mail already exists; invite it with POST /api/organizations/:id/users/:invitedUserId/invite.',
  );

/** What admins do to users beyond their profiles (create, re-activate, send links, move), and what platform admins see. */
export class UserAdminService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly resets: PasswordResetService,
    private readonly clock: () => Date,
    private readonly work: AuthWork,
  ) {}

  /** Creates a pending user in the caller's organization and mails them a link to choose a password; user.created. */
  async create(identity: Identity, body: CreateUserBody, correlationId: string): Promise<UserResponse> {
    const email = body.email.toLowerCase();
    if (await findUserByEmail(this.prisma, email)) throw emailTaken();
    const organization = await findOrganization(this.prisma, identity.organization);
    if (!organization || organization.deletedAt) throw notFound('organization');
    const userId = randomUUID();
    try {
      const { member, link } = await this.work.run({ correlationId }, async (tx, emit) => {
        await tx.user.create({
          data: { id: userId, email, passwordHash: NO_PASSWORD, firstname: body.firstname, lastname: body.lastname },
        });
        await tx.membership.create({
          data: { id: randomUUID(), organizationId: identity.organization, userId, roles: [...new Set(body.roles)] },
        });
        const created = (await findMember(tx, identity.organization, userId))!;
        const link = await this.resets.createAccountLink(tx, userId, 'welcome');
        emit(userCreatedV1, { organization: identity.organization, subject: userId, data: userSnapshot(created) });
        return { member: created, link };
      });
      this.resets.mailAccountLink(member.user, link.token, 'welcome', organization.name);
      return toUserResponse(member);
    } catch (error) {
      if (isUniqueViolation(error)) throw emailTaken();
      throw error;
    }
  }

  /**
   * Re-activates a decommissioned member (user.updated) and, for a user who has not chosen a password yet, mails a
   * fresh link to do so. An active member with a password is answered as is.
   */
  async activate(identity: Identity, id: string, correlationId: string): Promise<UserResponse> {
    const existing = await this.member(identity, id);
    let member = existing;
    if (!existing.active) {
      member = await this.work.run({ correlationId }, async (tx, emit) => {
        await tx.membership.update({ where: { id: existing.id }, data: { active: true } });
        const activated = (await findMember(tx, identity.organization, id))!;
        emit(userUpdatedV1, {
          organization: identity.organization,
          subject: id,
          data: { ...userSnapshot(activated), changed: ['active'] },
        });
        return activated;
      });
    }
    if (isPending(member.user)) await this.sendLink(identity, member, 'welcome');
    return toUserResponse(member);
  }

  /**
   * Mails an active member a link to set a new password (a first one when they have none yet). The link is never
   * shown to the admin: the account may belong to other organizations, which this admin must not be able to enter.
   */
  async resetPasswordLink(identity: Identity, id: string): Promise<{ message: string; expiresAt: string }> {
    const member = await this.member(identity, id);
    if (!member.active) throw new HttpProblem(409, 'inactive-member', 'The user is decommissioned here; activate them first.');
    const expiresAt = await this.sendLink(identity, member, isPending(member.user) ? 'welcome' : 'reset');
    return { message: 'A link to set a password has been sent to the user.', expiresAt: expiresAt.toISOString() };
  }

  /** Sets or clears the caller's unsubscribe from platform e-mails; user.updated when it changes. */
  async unsubscribe(identity: Identity, unsubscribed: boolean, correlationId: string): Promise<UserResponse> {
    const existing = await this.member(identity, identity.user);
    if (existing.user.unsubscribed === unsubscribed) return toUserResponse(existing);
    const member = await this.work.run({ correlationId }, async (tx, emit) => {
      await tx.user.update({ where: { id: identity.user }, data: { unsubscribed } });
      const changed = (await findMember(tx, identity.organization, identity.user))!;
      emit(userUpdatedV1, {
        organization: identity.organization,
        subject: identity.user,
        data: { ...userSnapshot(changed), changed: ['unsubscribed'] },
      });
      return changed;
    });
    return toUserResponse(member);
  }

  /**
   * Moves a user's membership from one organization the caller administers to another: deactivated (and signed out)
   * in `from`, active in `to`. Organizations the caller does not administer answer 404.
   */
  async transfer(identity: Identity, body: TransferBody, correlationId: string): Promise<UserResponse> {
    const [adminOfFrom, adminOfTo] = await Promise.all([
      isActiveAdmin(this.prisma, body.from, identity.user),
      isActiveAdmin(this.prisma, body.to, identity.user),
    ]);
    if (!adminOfFrom || !adminOfTo) throw notFound('organization');
    if (body.user === identity.user) throw new HttpProblem(409, 'self-transfer', 'You may not transfer yourself.');
    const source = await findMember(this.prisma, body.from, body.user);
    if (!source) throw notFound('user');
    if (!source.active)
      throw new HttpProblem(409, 'inactive-member', 'The user is not an active member of the organization they would leave.');
    const roles = body.roles ? [...new Set(body.roles)] : source.roles;
    const member = await this.work.run({ correlationId }, async (tx, emit) => {
      const now = this.clock();
      await tx.membership.update({ where: { id: source.id }, data: { active: false } });
      await revokeUserTokens(tx, body.user, now, body.from);
      await recordRevocation(tx, {
        scope: 'member',
        subject: body.user,
        organization: body.from,
        notBefore: now,
        reason: 'user-transferred',
      });
      const existing = await findMember(tx, body.to, body.user);
      if (existing) await tx.membership.update({ where: { id: existing.id }, data: { active: true, roles } });
      else await tx.membership.create({ data: { id: randomUUID(), organizationId: body.to, userId: body.user, roles } });
      const joined = (await findMember(tx, body.to, body.user))!;
      const changed = existing ? [...(existing.active ? [] : ['active']), ...(sameRoles(existing.roles, roles) ? [] : ['roles'])] : [];
      emit(userDeactivatedV1, { organization: body.from, subject: body.user, time: now, data: { _id: body.user } });
      if (!existing) emit(userCreatedV1, { organization: body.to, subject: body.user, data: userSnapshot(joined) });
      else if (changed.length > 0)
        emit(userUpdatedV1, { organization: body.to, subject: body.user, data: { ...userSnapshot(joined), changed } });
      return joined;
    });
    return toUserResponse(member);
  }

  /** One page of users across every organization, for platform admins. */
  async search(body: PlatformSearchBody) {
    const where = {
      ...(body.email ? { email: { contains: body.email.toLowerCase() } } : {}),
      ...(body.organization ? { memberships: { some: { organizationId: body.organization } } } : {}),
    };
    const [users, total] = await Promise.all([
      this.prisma.user.findMany({ where, include: { memberships: true }, orderBy: [{ email: 'asc' }], ...pageWindow(body) }),
      this.prisma.user.count({ where }),
    ]);
    return pageOf(users.map(toPlatformUser), body, total);
  }

  /** One user with every membership, for platform admins. */
  async platformUser(id: string): Promise<PlatformUserResponse> {
    const user = await this.prisma.user.findUnique({ where: { id }, include: { memberships: true } });
    if (!user) throw notFound('user');
    return toPlatformUser(user);
  }

  private async sendLink(identity: Identity, member: Member, kind: 'welcome' | 'reset'): Promise<Date> {
    const organization = await findOrganization(this.prisma, identity.organization);
    const link = await this.resets.createAccountLink(this.prisma, member.userId, kind);
    this.resets.mailAccountLink(member.user, link.token, kind, organization?.name ?? 'your organization');
    return link.expiresAt;
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

function toPlatformUser(user: User & { memberships: Membership[] }): PlatformUserResponse {
  return {
    _id: user.id,
    email: user.email,
    firstname: user.firstname,
    lastname: user.lastname,
    name: `${user.firstname} ${user.lastname}`,
    displayStatus: isPending(user) ? 'pending' : 'active',
    unsubscribed: user.unsubscribed,
    emailVerified: user.emailVerifiedAt !== null,
    lastLogin: user.lastLogin?.toISOString() ?? null,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
    memberships: user.memberships.map((membership) => ({
      _id: membership.id,
      organization: membership.organizationId,
      roles: membership.roles,
      active: membership.active,
    })),
  };
}
