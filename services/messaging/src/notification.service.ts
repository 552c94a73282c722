import { randomUUID } from 'node:crypto';
import { HttpProblem, pageOf, pageWindow, type Identity } from '@pep/service-kit';
import type { Tx } from './events.js';
import type { Notification, Prisma, PrismaClient } from './generated/prisma/client.js';
import type {
  ClearNotificationsBody,
  NOTIFICATION_REFS,
  NotificationListQuery,
  NotificationResponse,
  NotificationType,
} from './notification.schemas.js';
import { rootAccountOf, type Page } from './schemas.js';
import { checkPlaceFilters } from './references.js';

/** What a new notification says and what it is about. */
export interface NewNotification {
  organization: string;
  type: NotificationType;
  ref: (typeof NOTIFICATION_REFS)[number];
  refId: string;
  patient?: string | null;
  facility?: string | null;
  provider?: string | null;
  title: string;
  body: string;
}

/** A stored notification as the caller sees it. */
export function toNotificationResponse(row: Notification, user: string): NotificationResponse {
  return {
    _id: row.id,
    organization: row.organization,
    user: rootAccountOf(row.organization),
    type: row.type as NotificationType,
    ref: row.ref as (typeof NOTIFICATION_REFS)[number],
    refId: row.refId,
    patient: row.patient,
    facility: row.facility,
    provider: row.provider,
    title: row.title,
    body: row.body,
    cleared: row.clearedBy.includes(user),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/**
 * Raises a notification inside the caller's transaction, once per organization, type and record: a second raise of the
 * same (a redelivered cause) changes nothing.
 */
export async function raiseNotification(tx: Tx, notification: NewNotification): Promise<void> {
  await tx.notification.createMany({
    data: [
      {
        id: randomUUID(),
        organization: notification.organization,
        type: notification.type,
        ref: notification.ref,
        refId: notification.refId,
        patient: notification.patient ?? null,
        facility: notification.facility ?? null,
        provider: notification.provider ?? null,
        title: notification.title,
        body: notification.body,
      },
    ],
    skipDuplicates: true,
  });
}

/**
 * Staff notifications (the v1 `notifications`): what messaging raises for staff to act on, listed per organization and
 * cleared per user.
 */
export class NotificationService {
  constructor(private readonly prisma: PrismaClient) {}

  /** One page of the organization's notifications, the latest first. */
  async list(identity: Identity, query: NotificationListQuery): Promise<Page<NotificationResponse>> {
    await checkPlaceFilters(this.prisma, identity.organization, query);
    const where: Prisma.NotificationWhereInput = {
      organization: identity.organization,
      ...(query.type ? { type: query.type } : {}),
      ...(query.facility ? { facility: query.facility } : {}),
      ...(query.provider ? { provider: query.provider } : {}),
      ...(query.cleared === 'true' ? { clearedBy: { has: identity.user } } : {}),
      ...(query.cleared === 'false' ? { NOT: { clearedBy: { has: identity.user } } } : {}),
    };
    const [rows, total] = await Promise.all([
      this.prisma.notification.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], ...pageWindow(query) }),
      this.prisma.notification.count({ where }),
    ]);
    return pageOf(
      rows.map((row) => toNotificationResponse(row, identity.user)),
      query,
      total,
    );
  }

  /**
   * Clears notifications from the caller's list: those named, else every one of the organization. A name that is not
   * the organization's answers 404 naming `body.ids`, and nothing is cleared.
   */
  async clear(identity: Identity, body: ClearNotificationsBody | null | undefined): Promise<{ cleared: number }> {
    const ids = body?.ids ? [...new Set(body.ids)] : null;
    return this.prisma.$transaction(async (tx) => {
      if (ids) {
        const own = await tx.notification.findMany({
          where: { organization: identity.organization, id: { in: ids } },
          select: { id: true },
        });
        const known = new Set(own.map((row) => row.id));
        const errors = body!.ids!.flatMap((id, index) =>
          known.has(id) ? [] : [{ field: `body.ids.${index}`, message: 'no such notification in your organization' }],
        );
        if (errors.length > 0) throw new HttpProblem(404, 'not-found', 'notification not found', { errors });
      }
      // One statement per call, so two clears racing each add the user once.
      const cleared = await tx.$executeRawUnsafe(
        `UPDATE "notification" SET "cleared_by" = array_append(COALESCE("cleared_by", '{}'), $2), "updated_at" = now()
         WHERE "organization" = $1::uuid AND NOT ($2 = ANY(COALESCE("cleared_by", '{}'))) AND ($3::uuid[] IS NULL OR "id" = ANY($3::uuid[]))`,
        identity.organization,
        identity.user,
        ids,
      );
      return { cleared };
    });
  }
}
