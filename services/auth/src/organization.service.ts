import { randomUUID } from 'node:crypto';
import { organizationCreatedV1, organizationDeletedV1, organizationUpdatedV1, userCreatedV1, userUpdatedV1 } from '@pep/contracts';
import { HttpProblem, type Identity, notFound, onPage, pageOf } from '@pep/service-kit';
import type { AuthWork } from './events.js';
import type { PrismaClient } from './generated/prisma/client.js';
import { STAFF_ROLES } from './roles.js';
import { recordRevocation } from './revocation.repository.js';
import { findMember, findOrganization, listMembers, listOrganizationsOf, lockOrganization } from './user.repository.js';
import type { ListQuery, OrganizationResponse } from './user.schemas.js';
import { toOrganizationResponse, toUserResponse, userSnapshot } from './views.js';

/** Organizations: the caller's own one, its members, and which others the caller belongs to. */
export class OrganizationService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: AuthWork,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Organizations the caller is an active member of (to switch between). */
  async list(identity: Identity, query: ListQuery) {
    const all = await listOrganizationsOf(this.prisma, identity.user);
    return pageOf(onPage(all, query).map(toOrganizationResponse), query, all.length);
  }

  /** The caller's organization; any other id answers 404. */
  async get(identity: Identity, id: string): Promise<OrganizationResponse> {
    return toOrganizationResponse(await this.own(identity, id));
  }

  /** Renames the caller's organization; organization.updated. */
  async update(identity: Identity, id: string, body: { name: string }, correlationId: string): Promise<OrganizationResponse> {
    const existing = await this.own(identity, id);
    if (existing.name === body.name) return toOrganizationResponse(existing);
    const updated = await this.work.run({ correlationId }, async (tx, emit) => {
      const organization = await tx.organization.update({ where: { id }, data: { name: body.name } });
      emit(organizationUpdatedV1, {
        organization: id,
        subject: id,
        data: {
          _id: id,
          name: organization.name,
          active: organization.active,
          billingSuspended: organization.billingSuspendedAt !== null,
          changed: ['name'],
        },
      });
      return organization;
    });
    return toOrganizationResponse(updated);
  }

  /** Creates another organization with the calling user as its admin; organization.created and user.created. */
  async create(identity: Identity, body: { name: string }, correlationId: string): Promise<OrganizationResponse> {
    // Integrator clients and other non-user callers carry staff roles too, but only people administer organizations.
    if (!(await this.prisma.user.findUnique({ where: { id: identity.user }, select: { id: true } }))) {
      throw new HttpProblem(403, 'forbidden', 'Only users may create organizations.');
    }
    const id = randomUUID();
    const created = await this.work.run({ correlationId }, async (tx, emit) => {
      const organization = await tx.organization.create({ data: { id, name: body.name } });
      await tx.membership.create({ data: { id: randomUUID(), organizationId: id, userId: identity.user, roles: ['admin'] } });
      const member = (await findMember(tx, id, identity.user))!;
      emit(organizationCreatedV1, {
        organization: id,
        subject: id,
        data: { _id: id, name: organization.name, active: organization.active },
      });
      emit(userCreatedV1, { organization: id, subject: identity.user, data: userSnapshot(member) });
      return organization;
    });
    return toOrganizationResponse(created);
  }

  /**
   * Deletes the caller's organization (soft): inactive, gone from every list and switch, every session there revoked;
   * organization.updated (active false) for read models and organization.deleted.
   */
  async remove(identity: Identity, id: string, correlationId: string): Promise<OrganizationResponse> {
    await this.own(identity, id);
    const now = this.clock();
    const deleted = await this.work.run({ correlationId }, async (tx, emit) => {
      const organization = await tx.organization.update({ where: { id }, data: { active: false, deletedAt: now } });
      await tx.refreshToken.updateMany({ where: { organizationId: id, revokedAt: null }, data: { revokedAt: now } });
      await recordRevocation(tx, { scope: 'organization', organization: id, notBefore: now, reason: 'organization-deleted' });
      emit(organizationUpdatedV1, {
        organization: id,
        subject: id,
        time: now,
        data: { _id: id, name: organization.name, active: false, changed: ['active'] },
      });
      emit(organizationDeletedV1, { organization: id, subject: id, time: now, data: { _id: id } });
      return organization;
    });
    return toOrganizationResponse(deleted);
  }

  /**
   * Sets a member's staff roles (roles granted outside the API, such as platform-admin, are kept). Taking admin from
   * the organization's last active admin answers 409, whoever asks.
   */
  async changeRoles(identity: Identity, id: string, userId: string, roles: string[], correlationId: string) {
    await this.own(identity, id);
    const updated = await this.work.run({ correlationId }, async (tx, emit) => {
      // Serializes role changes per organization, so two admins demoting each other cannot leave none.
      await lockOrganization(tx, id);
      const member = await findMember(tx, id, userId);
      if (!member) throw notFound('user');
      const kept = member.roles.filter((role) => !(STAFF_ROLES as readonly string[]).includes(role));
      const next = [...new Set([...roles, ...kept])];
      if (next.length === member.roles.length && next.every((role) => member.roles.includes(role))) return member;
      if (member.active && member.roles.includes('admin') && !next.includes('admin')) {
        const admins = await tx.membership.count({ where: { organizationId: id, active: true, roles: { has: 'admin' } } });
        if (admins <= 1) throw new HttpProblem(409, 'last-admin', 'The organization needs at least one admin.');
      }
      await tx.membership.update({ where: { id: member.id }, data: { roles: next } });
      const changed = (await findMember(tx, id, userId))!;
      emit(userUpdatedV1, { organization: id, subject: userId, data: { ...userSnapshot(changed), changed: ['roles'] } });
      return changed;
    });
    return toUserResponse(updated);
  }

  /** One page of the caller's organization's users. */
  async users(identity: Identity, id: string, query: ListQuery) {
    await this.own(identity, id);
    const { members, total } = await listMembers(this.prisma, id, query.page, query.limit);
    return pageOf(members.map(toUserResponse), query, total);
  }

  /** The caller's access to their organization: whether it is active and the caller's roles there. */
  async access(identity: Identity, id: string) {
    const organization = await this.own(identity, id);
    const member = await findMember(this.prisma, id, identity.user);
    return {
      _id: organization.id,
      organization: organization.id,
      user: identity.user,
      active: organization.active && Boolean(member?.active),
      roles: member?.active ? member.roles : [],
    };
  }

  private async own(identity: Identity, id: string) {
    const organization = id === identity.organization ? await findOrganization(this.prisma, id) : null;
    if (!organization || organization.deletedAt) throw notFound('organization');
    return organization;
  }
}
