import { randomUUID } from 'node:crypto';
import { groupCreatedV1, groupDeletedV1, groupMemberAddedV1, groupMemberRemovedV1, groupUpdatedV1 } from '@pep/contracts';
import type { Emit } from '@pep/db';
import { type Identity, notFound, pageOf, pageWindow, rootAccountOf } from '@pep/service-kit';
import type { AuthWork } from './events.js';
import type { Group, GroupMember, PrismaClient } from './generated/prisma/client.js';
import type { CreateGroupBody, GroupResponse, UpdateGroupBody } from './group.schemas.js';
import type { SchedulingRefs } from './scheduling-refs.js';
import type { Db } from './user.repository.js';
import type { ListQuery } from './user.schemas.js';

/** A group with its members. */
export type GroupWithMembers = Group & { members: GroupMember[] };

const withMembers = { members: { orderBy: [{ createdAt: 'asc' as const }, { userId: 'asc' as const }] } };

/** A group as the API shows it. */
export function toGroupResponse(group: GroupWithMembers): GroupResponse {
  return {
    _id: group.id,
    organization: group.organizationId,
    user: rootAccountOf(group.organizationId),
    name: group.name,
    type: group.type as GroupResponse['type'],
    users: group.members.map((member) => member.userId),
    facilities: group.facilities,
    createdBy: group.createdBy,
    createdAt: group.createdAt.toISOString(),
    updatedAt: group.updatedAt.toISOString(),
  };
}

/** The group of the organization, locked for the rest of the transaction; null when there is none. */
export async function lockGroup(db: Db, organization: string, id: string): Promise<GroupWithMembers | null> {
  await db.$executeRawUnsafe('SELECT 1 FROM "user_group" WHERE "id" = $1::uuid AND "organization" = $2::uuid FOR UPDATE', id, organization);
  return db.group.findFirst({ where: { id, organizationId: organization }, include: withMembers });
}

/** Adds users to a group (those already in it are skipped) and emits group.member-added for each one added. */
export async function addMembers(db: Db, emit: Emit, group: Group, users: string[]): Promise<number> {
  const existing = new Set(
    (await db.groupMember.findMany({ where: { groupId: group.id, userId: { in: users } } })).map((member) => member.userId),
  );
  const added = [...new Set(users)].filter((user) => !existing.has(user));
  if (added.length === 0) return 0;
  await db.groupMember.createMany({ data: added.map((userId) => ({ groupId: group.id, userId })) });
  for (const user of added) emitMember(emit, groupMemberAddedV1, group, user);
  return added.length;
}

function emitMember(emit: Emit, definition: typeof groupMemberAddedV1 | typeof groupMemberRemovedV1, group: Group, user: string): void {
  emit(definition, { organization: group.organizationId, subject: group.id, data: { _id: group.id, user } });
}

/** Groups of an organization's users: CRUD and membership; group.* events. */
export class GroupService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: AuthWork,
    private readonly schedulingRefs: SchedulingRefs,
  ) {}

  /** One page of the organization's groups, by name. */
  async list(identity: Identity, query: ListQuery) {
    return this.page({ organizationId: identity.organization }, query);
  }

  /** One page of the groups a user of the organization belongs to; 404 for anyone else. */
  async ofUser(identity: Identity, user: string, query: ListQuery) {
    await this.requireMembers(this.prisma, identity.organization, [user]);
    return this.page({ organizationId: identity.organization, members: { some: { userId: user } } }, query);
  }

  /** A group of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<GroupResponse> {
    return toGroupResponse(await this.own(this.prisma, identity, id));
  }

  /** Creates a group of users and facilities of the organization (404 naming any other); group.created and a member-added per user. */
  async create(identity: Identity, body: CreateGroupBody, correlationId: string): Promise<GroupResponse> {
    const users = [...new Set(body.users)];
    await this.requireMembers(this.prisma, identity.organization, users);
    await this.schedulingRefs.requireAll(identity, 'facility', body.facilities, 'body.facilities');
    const created = await this.work.run({ correlationId }, async (tx, emit) => {
      const group = await tx.group.create({
        data: {
          id: randomUUID(),
          organizationId: identity.organization,
          name: body.name,
          type: body.type,
          facilities: [...new Set(body.facilities)],
          createdBy: identity.user,
        },
      });
      if (users.length > 0) await tx.groupMember.createMany({ data: users.map((userId) => ({ groupId: group.id, userId })) });
      const full = (await tx.group.findUnique({ where: { id: group.id }, include: withMembers }))!;
      emit(groupCreatedV1, { organization: identity.organization, subject: group.id, data: snapshot(full) });
      for (const user of users) emitMember(emit, groupMemberAddedV1, group, user);
      return full;
    });
    return toGroupResponse(created);
  }

  /** Changes name, type, facilities, or the member list (publishing who joined and who left). */
  async update(identity: Identity, id: string, body: UpdateGroupBody, correlationId: string): Promise<GroupResponse> {
    // Another organization's group answers 404 before anything about the body is told.
    await this.own(this.prisma, identity, id);
    if (body.users) await this.requireMembers(this.prisma, identity.organization, body.users);
    if (body.facilities) await this.schedulingRefs.requireAll(identity, 'facility', body.facilities, 'body.facilities');
    const result = await this.work.run({ correlationId }, async (tx, emit) => {
      const group = await this.own(tx, identity, id, true);
      const facilities = body.facilities ? [...new Set(body.facilities)] : undefined;
      const changed = [
        ...(body.name !== undefined && body.name !== group.name ? ['name'] : []),
        ...(body.type !== undefined && body.type !== group.type ? ['type'] : []),
        ...(facilities && facilities.join('\n') !== group.facilities.join('\n') ? ['facilities'] : []),
      ];
      const current = group.members.map((member) => member.userId);
      const wanted = body.users ? [...new Set(body.users)] : current;
      const removed = current.filter((user) => !wanted.includes(user));
      if (changed.length > 0) {
        await tx.group.update({
          where: { id },
          data: {
            ...(body.name !== undefined ? { name: body.name } : {}),
            ...(body.type !== undefined ? { type: body.type } : {}),
            ...(facilities ? { facilities } : {}),
          },
        });
      }
      if (removed.length > 0) {
        await tx.groupMember.deleteMany({ where: { groupId: id, userId: { in: removed } } });
        for (const user of removed) emitMember(emit, groupMemberRemovedV1, group, user);
      }
      await addMembers(tx, emit, group, wanted);
      const full = (await tx.group.findUnique({ where: { id }, include: withMembers }))!;
      if (changed.length > 0)
        emit(groupUpdatedV1, { organization: identity.organization, subject: id, data: { ...snapshot(full), changed } });
      return full;
    });
    return toGroupResponse(result);
  }

  /** Deletes a group, its memberships and its pending invitations; answers the deleted group. */
  async remove(identity: Identity, id: string, correlationId: string): Promise<GroupResponse> {
    const removed = await this.work.run({ correlationId }, async (tx, emit) => {
      const group = await this.own(tx, identity, id, true);
      await tx.group.delete({ where: { id } });
      emit(groupDeletedV1, { organization: identity.organization, subject: id, data: { _id: id } });
      return group;
    });
    return toGroupResponse(removed);
  }

  /** Adds a user of the organization to the group; already a member changes nothing. */
  async addMember(identity: Identity, id: string, user: string, correlationId: string): Promise<GroupResponse> {
    const group = await this.work.run({ correlationId }, async (tx, emit) => {
      const locked = await this.own(tx, identity, id, true);
      await this.requireMembers(tx, identity.organization, [user]);
      await addMembers(tx, emit, locked, [user]);
      return (await tx.group.findUnique({ where: { id }, include: withMembers }))!;
    });
    return toGroupResponse(group);
  }

  /** Takes a user out of the group; one who is not in it changes nothing. */
  async removeMember(identity: Identity, id: string, user: string, correlationId: string): Promise<GroupResponse> {
    const group = await this.work.run({ correlationId }, async (tx, emit) => {
      const locked = await this.own(tx, identity, id, true);
      const { count } = await tx.groupMember.deleteMany({ where: { groupId: id, userId: user } });
      if (count > 0) emitMember(emit, groupMemberRemovedV1, locked, user);
      return (await tx.group.findUnique({ where: { id }, include: withMembers }))!;
    });
    return toGroupResponse(group);
  }

  private async page(where: { organizationId: string; members?: { some: { userId: string } } }, query: ListQuery) {
    const [groups, total] = await Promise.all([
      this.prisma.group.findMany({ where, include: withMembers, orderBy: [{ name: 'asc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.group.count({ where }),
    ]);
    return pageOf(groups.map(toGroupResponse), query, total);
  }

  /** 404 unless every user is a member of the organization (another organization's users look like unknown ones). */
  private async requireMembers(db: Db, organization: string, users: string[]): Promise<void> {
    const unique = [...new Set(users)];
    if (unique.length === 0) return;
    const found = await db.membership.count({ where: { organizationId: organization, userId: { in: unique } } });
    if (found !== unique.length) throw notFound('user');
  }

  private async own(db: Db, identity: Identity, id: string, lock = false): Promise<GroupWithMembers> {
    const group = lock
      ? await lockGroup(db, identity.organization, id)
      : await db.group.findFirst({ where: { id, organizationId: identity.organization }, include: withMembers });
    if (!group) throw notFound('group');
    return group;
  }
}

function snapshot(group: GroupWithMembers) {
  return {
    _id: group.id,
    name: group.name,
    type: group.type as GroupResponse['type'],
    users: group.members.map((member) => member.userId),
    facilities: group.facilities,
  };
}
