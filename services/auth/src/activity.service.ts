import { type Identity, notFound, pageOf, pageWindow, rootAccountOf } from '@pep/service-kit';
import type { Activity, Prisma, PrismaClient } from './generated/prisma/client.js';
import type { ActivityListQuery, ActivityResponse } from './activity.schemas.js';

/** The organization's activity feed: listing, filtering and read flags. */
export class ActivityService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly clock: () => Date,
  ) {}

  /** One page of the caller's organization's activities, newest first. */
  async list(identity: Identity, query: ActivityListQuery) {
    const where: Prisma.ActivityWhereInput = {
      organizationId: identity.organization,
      ...(query.type ? { type: query.type } : {}),
      ...(query.subject ? { subject: query.subject } : {}),
      ...(query.read !== undefined ? { read: query.read === 'true' } : {}),
    };
    const [rows, total] = await Promise.all([
      this.prisma.activity.findMany({ where, orderBy: [{ time: 'desc' }, { id: 'desc' }], ...pageWindow(query) }),
      this.prisma.activity.count({ where }),
    ]);
    return pageOf(rows.map(toResponse), query, total);
  }

  /** Marks an activity of the caller's organization read or unread. */
  async setRead(identity: Identity, id: string, read: boolean): Promise<ActivityResponse> {
    const existing = await this.prisma.activity.findFirst({ where: { id, organizationId: identity.organization } });
    if (!existing) throw notFound('activity');
    if (existing.read === read) return toResponse(existing);
    const updated = await this.prisma.activity.update({
      where: { id },
      data: read ? { read: true, readAt: this.clock(), readBy: identity.user } : { read: false, readAt: null, readBy: null },
    });
    return toResponse(updated);
  }
}

function toResponse(activity: Activity): ActivityResponse {
  return {
    _id: activity.id,
    organization: activity.organizationId,
    user: rootAccountOf(activity.organizationId),
    type: activity.type,
    subject: activity.subject,
    actor: activity.actor,
    source: activity.source,
    time: activity.time.toISOString(),
    summary: activity.summary as Record<string, unknown>,
    read: activity.read,
    readAt: activity.readAt?.toISOString() ?? null,
    readBy: activity.readBy,
  };
}
