import { randomUUID } from 'node:crypto';
import { userCreatedV1, userUpdatedV1 } from '@pep/contracts';
import type { Emit } from '@pep/db';
import { HttpProblem, type Identity, type Logger, notFound, pageOf, pageWindow, rootAccountOf } from '@pep/service-kit';
import type { AuthWork, Tx } from './events.js';
import type { GroupInvite, Prisma, PrismaClient } from './generated/prisma/client.js';
import type { AcceptInvitationBody, GroupInviteResponse, InviteUserBody } from './group.schemas.js';
import { addMembers, lockGroup, toGroupResponse } from './group.service.js';
import { mailFailure, type Mailer } from '@pep/service-kit';
import type { BackgroundMail } from './mailer.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { RULES, type RateLimiter } from './rate-limiter.js';
import { GROUP_WRITERS } from './roles.js';
import { hashToken, newOpaqueToken } from './session.service.js';
import { findMember, findUserByEmail } from './user.repository.js';
import type { ListQuery } from './user.schemas.js';
import { isUniqueViolation } from './user.service.js';
import { toUserResponse, userSnapshot } from './views.js';

const INVITE_TTL_MS = 7 * 86_400_000;

const invitationNotFound = () => notFound('invitation');

/** Invitations to join an organization and one of its groups: mailed single-use links, accepted once. */
export class GroupInviteService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly limiter: RateLimiter,
    private readonly mailer: Mailer,
    /** Sends mail after the answer. */
    private readonly background: BackgroundMail,
    private readonly publicUrl: string,
    private readonly clock: () => Date,
    private readonly logger: Logger,
    private readonly work: AuthWork,
  ) {}

  /** Invites an e-mail to the group; an earlier pending invitation of the same e-mail to the group is replaced. */
  async invite(identity: Identity, groupId: string, body: InviteUserBody, correlationId: string): Promise<GroupInviteResponse> {
    const group = await this.prisma.group.findFirst({
      where: { id: groupId, organizationId: identity.organization },
      include: { organization: true },
    });
    if (!group) throw notFound('group');
    const email = body.email.toLowerCase();
    const token = newOpaqueToken();
    const now = this.clock();
    const invite = await this.prisma.$transaction(async (tx) => {
      // The newest link is the one that works, so a resend leaves no older link alive.
      await tx.groupInvite.deleteMany({ where: { groupId, email, acceptedAt: null } });
      return tx.groupInvite.create({
        data: {
          id: randomUUID(),
          organizationId: identity.organization,
          groupId,
          email,
          roles: [...new Set(body.roles)],
          tokenHash: hashToken(token),
          invitedBy: identity.user,
          createdAt: now,
          expiresAt: new Date(now.getTime() + INVITE_TTL_MS),
        },
      });
    });
    this.background.track(this.sendInvitation(invite, token, group.organization.name, group.name, correlationId));
    return this.toResponse(invite);
  }

  /**
   * Invites a user of the caller's organization (a deactivated member coming back) into it again, without a group.
   * Only the organization's own users can be named by id: anyone else answers 404 exactly like an unknown id and is
   * not mailed, so an id never confirms that someone exists elsewhere; people from outside are invited by e-mail.
   * Answers the invitation with the e-mail masked, because the inviter named the user by id.
   */
  async inviteToOrganization(
    identity: Identity,
    organizationId: string,
    userId: string,
    roles: string[],
    correlationId: string,
  ): Promise<GroupInviteResponse> {
    const organization =
      organizationId === identity.organization
        ? await this.prisma.organization.findFirst({ where: { id: organizationId, deletedAt: null } })
        : null;
    if (!organization) throw notFound('organization');
    const member = await findMember(this.prisma, organizationId, userId);
    if (!member) throw notFound('user');
    if (member.active) throw new HttpProblem(409, 'already-member', 'The user is already a member of the organization.');
    const user = member.user;
    const token = newOpaqueToken();
    const now = this.clock();
    const invite = await this.prisma.$transaction(async (tx) => {
      await tx.groupInvite.deleteMany({ where: { organizationId, groupId: null, email: user.email, acceptedAt: null } });
      return tx.groupInvite.create({
        data: {
          id: randomUUID(),
          organizationId,
          groupId: null,
          email: user.email,
          roles: [...new Set(roles)],
          tokenHash: hashToken(token),
          invitedBy: identity.user,
          createdAt: now,
          expiresAt: new Date(now.getTime() + INVITE_TTL_MS),
        },
      });
    });
    this.background.track(this.sendInvitation(invite, token, organization.name, null, correlationId));
    return this.toResponse(invite);
  }

  /**
   * One page of pending invitations to a user's e-mail: every organization's when the caller asks about themselves,
   * otherwise only the caller's organization's (admins and managers, about its members).
   */
  async ofUser(identity: Identity, userId: string, query: ListQuery) {
    if (identity.user === userId) {
      const user = await this.prisma.user.findUnique({ where: { id: userId } });
      if (!user) throw notFound('user');
      return this.pendingPage({ email: user.email, organization: { active: true, deletedAt: null } }, query);
    }
    const member = await findMember(this.prisma, identity.organization, userId);
    if (!member) throw notFound('user');
    if (!identity.roles.some((role) => (GROUP_WRITERS as readonly string[]).includes(role)))
      throw new HttpProblem(403, 'forbidden', 'Your role may not do this.');
    return this.pendingPage({ organizationId: identity.organization, email: member.user.email }, query);
  }

  /** One page of a group's pending invitations. */
  async ofGroup(identity: Identity, groupId: string, query: ListQuery) {
    if (!(await this.prisma.group.findFirst({ where: { id: groupId, organizationId: identity.organization }, select: { id: true } })))
      throw notFound('group');
    return this.pendingPage({ organizationId: identity.organization, groupId }, query);
  }

  /** One page of the organization's pending invitations. */
  async ofOrganization(identity: Identity, query: ListQuery) {
    return this.pendingPage({ organizationId: identity.organization }, query);
  }

  /** What a valid link invites to, for the page that accepts it; 404 for any other token. */
  async publicInvite(token: string) {
    const invite = await this.pending(token);
    return {
      _id: invite.id,
      email: invite.email,
      organization: invite.organizationId,
      organizationName: invite.organization.name,
      group: invite.groupId,
      groupName: invite.group?.name ?? null,
      expiresAt: invite.expiresAt.toISOString(),
      accountExists: Boolean(await findUserByEmail(this.prisma, invite.email)),
    };
  }

  /**
   * Accepts an invitation with its token. A new e-mail gets an account with the given password and names; an
   * existing account joins when the caller is signed in as it or gives its password, so a link alone never joins
   * someone else's account to the organization.
   */
  async accept(identity: Identity | null, groupId: string, body: AcceptInvitationBody, address: string, correlationId: string) {
    await this.limiter.hit(RULES.acceptInvitePerAddress, address);
    const invite = await this.pending(body.token);
    // Organization invitations have no group; their accept route names the organization instead.
    if ((invite.groupId ?? invite.organizationId) !== groupId) throw invitationNotFound();
    const existing = await findUserByEmail(this.prisma, invite.email);
    let newUser: { passwordHash: string; firstname: string; lastname: string } | null = null;
    if (existing) {
      const signedIn = identity?.user === existing.id;
      // Password guesses here count against the account like failed logins.
      if (!signedIn) await this.limiter.check(RULES.loginPerAccount, existing.email);
      if (!signedIn && !(body.password !== undefined && (await verifyPassword(existing.passwordHash, body.password)))) {
        await this.limiter.hit(RULES.loginPerAccount, existing.email);
        throw new HttpProblem(401, 'invalid-credentials', 'This e-mail has an account; sign in as it or give its password.');
      }
    } else {
      const missing = (['password', 'firstname', 'lastname'] as const).filter((field) => body[field] === undefined);
      if (missing.length > 0) {
        throw new HttpProblem(400, 'validation', 'The request is invalid.', {
          errors: missing.map((field) => ({ field: `body.${field}`, message: 'required for a new account' })),
        });
      }
      newUser = { passwordHash: await hashPassword(body.password!), firstname: body.firstname!, lastname: body.lastname! };
    }
    try {
      return await this.work.run({ correlationId }, async (tx, emit) => {
        const userId = existing?.id ?? randomUUID();
        if (newUser) await tx.user.create({ data: { id: userId, email: invite.email, ...newUser, emailVerifiedAt: this.clock() } });
        return this.join(tx, emit, invite, userId);
      });
    } catch (error) {
      // Two acceptances creating one account at once: the unique e-mail lets one through.
      if (isUniqueViolation(error)) throw new HttpProblem(409, 'email-taken', 'An account with this e-mail already exists.');
      throw error;
    }
  }

  /**
   * Accepts every pending invitation addressed to the caller's e-mail. Only for an e-mail the caller has proven
   * (by an invitation or reset link): signing up does not prove it, and an unproven address would let anyone who
   * signs up with someone else's e-mail take that person's invitations.
   */
  async acceptPending(identity: Identity, correlationId: string): Promise<{ accepted: GroupInviteResponse[] }> {
    const user = await this.prisma.user.findUnique({ where: { id: identity.user } });
    if (!user) throw notFound('user');
    if (!user.emailVerifiedAt) {
      throw new HttpProblem(
        403,
        'email-unverified',
        'Your e-mail address is not verified yet; accept with the link in the invitation e-mail.',
      );
    }
    const invites = await this.prisma.groupInvite.findMany({
      where: { email: user.email, acceptedAt: null, expiresAt: { gt: this.clock() }, organization: { active: true, deletedAt: null } },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
    const accepted: GroupInviteResponse[] = [];
    for (const invite of invites) {
      const joined = await this.work
        .run({ correlationId }, (tx, emit) => this.join(tx, emit, invite, user.id))
        .then(() => true)
        .catch((error: unknown) => {
          // Accepted or deleted meanwhile: nothing left to do for this one.
          if (error instanceof HttpProblem && error.status === 404) return false;
          throw error;
        });
      if (joined) accepted.push(this.toResponse({ ...invite, acceptedAt: this.clock(), acceptedBy: user.id }));
    }
    return { accepted };
  }

  /**
   * Uses the invitation once and makes the user a member of its organization (user.created, or user.updated when
   * a deactivated member returns) and of its group (group.member-added).
   */
  private async join(tx: Tx, emit: Emit, invite: GroupInvite, userId: string) {
    const now = this.clock();
    const used = await tx.$executeRawUnsafe(
      `UPDATE "group_invite" SET "accepted_at" = $2::timestamptz, "accepted_by" = $3::uuid
       WHERE "id" = $1::uuid AND "accepted_at" IS NULL AND "expires_at" > $2::timestamptz`,
      invite.id,
      now,
      userId,
    );
    if (used !== 1) throw invitationNotFound();
    const organization = invite.organizationId;
    const member = await findMember(tx, organization, userId);
    if (!member) {
      await tx.membership.create({ data: { id: randomUUID(), organizationId: organization, userId, roles: invite.roles } });
      const joined = (await findMember(tx, organization, userId))!;
      emit(userCreatedV1, { organization, subject: userId, data: userSnapshot(joined) });
    } else if (!member.active) {
      await tx.membership.update({ where: { id: member.id }, data: { active: true, roles: invite.roles } });
      const returned = (await findMember(tx, organization, userId))!;
      emit(userUpdatedV1, { organization, subject: userId, data: { ...userSnapshot(returned), changed: ['active', 'roles'] } });
    }
    // Following the link (or holding a proven address) shows the mailbox is theirs.
    await tx.user.updateMany({ where: { id: userId, emailVerifiedAt: null }, data: { emailVerifiedAt: now } });
    const user = toUserResponse((await findMember(tx, organization, userId))!);
    if (!invite.groupId) return { user, group: null };
    const group = await lockGroup(tx, organization, invite.groupId);
    if (!group) throw invitationNotFound();
    await addMembers(tx, emit, group, [userId]);
    const full = (await lockGroup(tx, organization, invite.groupId))!;
    return { user, group: toGroupResponse(full) };
  }

  /** The pending invitation of a token in an active organization, with its group and organization; 404 otherwise. */
  private async pending(token: string) {
    const invite = await this.prisma.groupInvite.findUnique({
      where: { tokenHash: hashToken(token) },
      include: { group: true, organization: true },
    });
    if (!invite || invite.acceptedAt || invite.expiresAt <= this.clock() || !invite.organization.active || invite.organization.deletedAt)
      throw invitationNotFound();
    return invite;
  }

  private async pendingPage(where: Prisma.GroupInviteWhereInput, query: ListQuery) {
    const filter = { ...where, acceptedAt: null, expiresAt: { gt: this.clock() } };
    const [invites, total] = await Promise.all([
      this.prisma.groupInvite.findMany({ where: filter, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.groupInvite.count({ where: filter }),
    ]);
    return pageOf(
      invites.map((invite) => this.toResponse(invite)),
      query,
      total,
    );
  }

  private toResponse(invite: GroupInvite): GroupInviteResponse {
    return {
      _id: invite.id,
      organization: invite.organizationId,
      user: rootAccountOf(invite.organizationId),
      group: invite.groupId,
      email: invite.groupId ? invite.email : maskEmail(invite.email),
      roles: invite.roles,
      status: invite.acceptedAt ? 'accepted' : invite.expiresAt <= this.clock() ? 'expired' : 'pending',
      invitedBy: invite.invitedBy,
      expiresAt: invite.expiresAt.toISOString(),
      acceptedAt: invite.acceptedAt?.toISOString() ?? null,
      createdAt: invite.createdAt.toISOString(),
    };
  }

  private async sendInvitation(
    invite: GroupInvite,
    token: string,
    organizationName: string,
    groupName: string | null,
    correlationId: string,
  ): Promise<void> {
    const link = `${this.publicUrl.replace(/\/+$/, '')}/accept-invitation?token=${token}`;
    try {
      await this.mailer.send({
        to: invite.email,
        subject: `You are invited to join ${organizationName}`,
        text:
          `You have been invited to join ${organizationName}${groupName ? ` (group: ${groupName})` : ''}.\n\n` +
          `To accept, open this link within 7 days:\n${link}\n\nIf you did not expect this invitation, ignore this e-mail.\n`,
      });
    } catch (error) {
      this.logger.error({ err: mailFailure(error), invite: invite.id, correlationId }, 'invitation mail not sent');
    }
  }
}

/**
 * An e-mail shown as its first character and domain. Organization invitations name the invitee by user id, so the
 * inviting organization sees only this much of an address it did not already know.
 */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  return at > 0 ? `${email[0]}***${email.slice(at)}` : '***';
}
