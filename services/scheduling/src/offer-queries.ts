import { offerStatuses } from '@pep/contracts';
import { dateBoundsWhere, type Identity, notFound, onPage, pageOf, pageWindow } from '@pep/service-kit';
import type { Db } from './events.js';
import type { Offer, OfferRecipient, Prisma, PrismaClient } from './generated/prisma/client.js';
import type { OfferFilters, OfferResponse, OfferSummaryResponse } from './offer.schemas.js';
import type { ListQuery, Page } from './schemas.js';
import { oneOf, toOfferResponse, toWaitlistResponse } from './views.js';

/** An offer with the waitlist entries it was made to. */
export type WithRecipients = Offer & { recipients: OfferRecipient[] };

/** Reads an offer with its recipients. */
export const withRecipients = { recipients: true } as const;

/** The offers of an organization as the v1 API lists and reports them; every change to one is in offer-lifecycle.ts. */
export class OfferQueries {
  constructor(private readonly prisma: PrismaClient) {}

  /** One page of the organization's offers matching the filters, newest first. */
  async list(identity: Identity, query: ListQuery, filters: OfferFilters): Promise<Page<OfferResponse>> {
    const where = whereOf(identity.organization, filters);
    const [rows, total] = await Promise.all([
      this.prisma.offer.findMany({ where, include: withRecipients, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.offer.count({ where }),
    ]);
    return pageOf(rows.map(toOfferResponse), query, total);
  }

  /** An offer of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<OfferResponse> {
    return toOfferResponse(await ownOffer(this.prisma, identity.organization, id));
  }

  /** The waitlist entries an offer was made to, in rank order, each with where it stands in the offer. */
  async waitlists(identity: Identity, id: string, query: ListQuery) {
    const offer = await ownOffer(this.prisma, identity.organization, id);
    const ranked = [...offer.recipients].sort((a, b) => a.rank - b.rank);
    const shown = onPage(ranked, query);
    const entries = await this.prisma.waitlist.findMany({ where: { id: { in: shown.map((recipient) => recipient.waitlistId) } } });
    const byId = new Map(entries.map((entry) => [entry.id, entry]));
    return pageOf(
      shown.map((recipient) => ({
        ...toWaitlistResponse(byId.get(recipient.waitlistId)!),
        recipient: {
          rank: recipient.rank,
          status: recipient.status,
          offeredAt: recipient.offeredAt?.toISOString() ?? null,
          respondedAt: recipient.respondedAt?.toISOString() ?? null,
        },
      })),
      query,
      ranked.length,
    );
  }

  /** Counts of offers by status and source over the filters, and the share of finished ones that found a patient. */
  async summary(identity: Identity, filters: OfferFilters): Promise<OfferSummaryResponse> {
    const groups = await this.prisma.offer.groupBy({
      by: ['status', 'source'],
      where: whereOf(identity.organization, filters),
      _count: { _all: true },
    });
    const byStatus: Record<(typeof offerStatuses)[number], number> = {
      'in-progress': 0,
      'patient-found': 0,
      'patient-not-found': 0,
      cancelled: 0,
    };
    const bySource: Record<string, number> = {};
    for (const group of groups) {
      byStatus[oneOf(offerStatuses, group.status)] += group._count._all;
      bySource[group.source] = (bySource[group.source] ?? 0) + group._count._all;
    }
    const total = Object.values(byStatus).reduce((sum, n) => sum + n, 0);
    const finished = total - byStatus['in-progress'];
    return { total, byStatus, bySource, fillRate: finished === 0 ? 0 : byStatus['patient-found'] / finished };
  }
}

/** The organization's live offer with its recipients, locked for the transaction when asked; 404 otherwise. */
export async function ownOffer(db: Db, organization: string, id: string, lock = false): Promise<WithRecipients> {
  if (lock)
    await db.$executeRawUnsafe('SELECT 1 FROM "offer" WHERE "id" = $1::uuid AND "organization" = $2::uuid FOR UPDATE', id, organization);
  const offer = await db.offer.findFirst({ where: { id, organization, deleted: false }, include: withRecipients });
  if (!offer) throw notFound('offer');
  return offer;
}

function whereOf(organization: string, filters: OfferFilters): Prisma.OfferWhereInput {
  return {
    organization,
    deleted: false,
    ...(filters.status ? { status: filters.status } : {}),
    ...(filters.source ? { source: filters.source } : {}),
    ...(filters.provider ? { providerId: filters.provider } : {}),
    ...(filters.facility ? { facilityId: filters.facility } : {}),
    ...(filters.patient ? { recipients: { some: { patient: filters.patient } } } : {}),
    ...dateBoundsWhere('date', filters.date),
  };
}
