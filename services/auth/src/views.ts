import { rootAccountOf } from '@pep/service-kit';
import type { Organization, User } from './generated/prisma/client.js';
import type { Member } from './user.repository.js';
import type { OrganizationResponse, UserResponse } from './user.schemas.js';

/** A member as the API shows them (the product's UserResponse fields). */
export function toUserResponse(member: Member): UserResponse {
  const { user } = member;
  return {
    _id: user.id,
    email: user.email,
    firstname: user.firstname,
    lastname: user.lastname,
    name: `${user.firstname} ${user.lastname}`,
    organization: member.organizationId,
    user: rootAccountOf(member.organizationId),
    roles: member.roles,
    type: 'staff',
    active: member.active ? 1 : 0,
    displayStatus: !member.active ? 'suspended' : isPending(user) ? 'pending' : 'active',
    unsubscribed: user.unsubscribed,
    avatar: member.avatarId ? avatarPath(user.id, member.avatarId) : null,
    lastLogin: user.lastLogin?.toISOString() ?? null,
    createdAt: user.createdAt.toISOString(),
    updatedAt: (user.updatedAt > member.updatedAt ? user.updatedAt : member.updatedAt).toISOString(),
  };
}

/** Where the API serves a user's avatar; the avatar's own id makes each upload's URL new, so it can be cached forever. */
export function avatarPath(userId: string, avatarId: string): string {
  return `/api/users/${userId}/avatar/${avatarId}`;
}

/** An organization as the API shows it. */
export function toOrganizationResponse(organization: Organization): OrganizationResponse {
  return {
    _id: organization.id,
    user: rootAccountOf(organization.id),
    name: organization.name,
    active: organization.active,
    deleted: organization.deletedAt !== null,
    demo: organization.demo,
    createdAt: organization.createdAt.toISOString(),
    updatedAt: organization.updatedAt.toISOString(),
  };
}

/** The password hash of a user created by an admin who has not set a password yet; no password verifies against it. */
export const NO_PASSWORD = '';

/** Whether the user was created by an admin and has not set a password yet. */
export function isPending(user: User): boolean {
  return user.passwordHash === NO_PASSWORD;
}

/** The user snapshot events carry (no e-mail). */
export function userSnapshot(member: Member) {
  return {
    _id: member.user.id,
    firstname: member.user.firstname,
    lastname: member.user.lastname,
    roles: member.roles,
    active: member.active,
    unsubscribed: member.user.unsubscribed,
  };
}
