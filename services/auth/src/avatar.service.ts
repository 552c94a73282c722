import { randomUUID } from 'node:crypto';
import { userUpdatedV1 } from '@pep/contracts';
import { HttpProblem, notFound, type Identity } from '@pep/service-kit';
import type { AuthWork } from './events.js';
import type { PrismaClient } from './generated/prisma/client.js';
import { findMember, type Member } from './user.repository.js';
import type { UserResponse } from './user.schemas.js';
import { toUserResponse, userSnapshot } from './views.js';

/** Image types an avatar may be, told by their first bytes. SVG is left out: it can carry script. */
const SIGNATURES: ReadonlyArray<{ type: string; matches: (bytes: Buffer) => boolean }> = [
  { type: 'image/png', matches: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) },
  { type: 'image/jpeg', matches: (b) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { type: 'image/gif', matches: (b) => ['GIF87a', 'GIF89a'].includes(b.subarray(0, 6).toString('latin1')) },
  { type: 'image/webp', matches: (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP' },
];

/** Image types avatars may have. */
export const AVATAR_TYPES = SIGNATURES.map((signature) => signature.type);

/** The image type of the bytes, read from the bytes themselves; null when they are no accepted image. */
export function sniffImageType(bytes: Buffer): string | null {
  return SIGNATURES.find((signature) => signature.matches(bytes))?.type ?? null;
}

/** Avatars: one image per user and organization, kept in the database and served by its own id. */
export class AvatarService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: AuthWork,
  ) {}

  /**
   * Who may change a user's avatar: the user themselves, or an admin of the caller's organization. Another
   * organization's user answers 404; another member of the same organization 403. Checked before the upload is read.
   */
  async authorize(identity: Identity, id: string): Promise<Member> {
    const member = await findMember(this.prisma, identity.organization, id);
    if (!member) throw notFound('user');
    if (identity.user !== id && !identity.roles.includes('admin'))
      throw new HttpProblem(403, 'forbidden', 'Only the user or an admin may change the avatar.');
    return member;
  }

  /** Replaces the member's avatar in the organization with the image; user.updated (changed avatar). */
  async replace(identity: Identity, member: Member, image: Buffer, contentType: string, correlationId: string): Promise<UserResponse> {
    const avatarId = randomUUID();
    const updated = await this.work.run({ correlationId }, async (tx, emit) => {
      await tx.avatar.deleteMany({ where: { organizationId: member.organizationId, userId: member.userId } });
      await tx.avatar.create({
        data: {
          id: avatarId,
          organizationId: member.organizationId,
          userId: member.userId,
          contentType,
          size: image.length,
          data: new Uint8Array(image),
        },
      });
      await tx.membership.update({ where: { id: member.id }, data: { avatarId } });
      const changed = (await findMember(tx, member.organizationId, member.userId))!;
      emit(userUpdatedV1, {
        organization: identity.organization,
        subject: member.userId,
        data: { ...userSnapshot(changed), changed: ['avatar'] },
      });
      return changed;
    });
    return toUserResponse(updated);
  }

  /** The avatar image with this id of this user; 404 otherwise (including a replaced one). */
  async image(userId: string, avatarId: string): Promise<{ contentType: string; data: Buffer }> {
    const avatar = await this.prisma.avatar.findFirst({ where: { id: avatarId, userId } });
    if (!avatar) throw notFound('avatar');
    return { contentType: avatar.contentType, data: Buffer.from(avatar.data) };
  }
}
