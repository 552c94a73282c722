import { createEvent, organizationUpdatedV1 } from '@pep/contracts';
import { notFound, type Identity } from '@pep/service-kit';
import { enqueue, SOURCE } from './events.js';
import type { PrismaClient } from './generated/prisma/client.js';
import { findMember, findOrganization, listMembers, listOrganizationsOf } from './user.repository.js';
import type { ListQuery, OrganizationResponse } from './user.schemas.js';
import { toOrganizationResponse, toUserResponse } from './views.js';

/** Organizations: the caller's own one, its members, and which others the caller belongs to. */
export class OrganizationService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly eventsWritten: () => void,
  ) {}

  /** Organizations the caller is an active member of (to switch between). */
  async list(identity: Identity, query: ListQuery) {
    const all = await listOrganizationsOf(this.prisma, identity.user);
    const page = all.slice((query.page - 1) * query.limit, query.page * query.limit);
    return { response: page.map(toOrganizationResponse), page: query.page, limit: query.limit, total: all.length };
  }

  /** The caller's organization; any other id answers 404. */
  async get(identity: Identity, id: string): Promise<OrganizationResponse> {
    return toOrganizationResponse(await this.own(identity, id));
  }

  /** Renames the caller's organization; organization.updated. */
  async update(identity: Identity, id: string, body: { name: string }, correlationId: string): Promise<OrganizationResponse> {
    const existing = await this.own(identity, id);
    if (existing.name === body.name) return toOrganizationResponse(existing);
    const updated = await this.prisma.$transaction(async (tx) => {
      const organization = await tx.organization.update({ where: { id }, data: { name: body.name } });
      await enqueue(tx, [
        createEvent(organizationUpdatedV1, {
          source: SOURCE,
          organization: id,
          subject: id,
          correlationId,
          data: { _id: id, name: organization.name, active: organization.active, changed: ['name'] },
        }),
      ]);
      return organization;
    });
    this.eventsWritten();
    return toOrganizationResponse(updated);
  }

  /** One page of the caller's organization's users. */
  async users(identity: Identity, id: string, query: ListQuery) {
    await this.own(identity, id);
    const { members, total } = await listMembers(this.prisma, id, query.page, query.limit);
    return { response: members.map(toUserResponse), page: query.page, limit: query.limit, total };
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
    if (!organization) throw notFound('organization');
    return organization;
  }
}
