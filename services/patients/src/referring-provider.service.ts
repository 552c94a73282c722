import { randomUUID } from 'node:crypto';
import type { ReferralStatus, referralSources, referralStatusReasons } from '@pep/contracts';
import { HttpProblem, type Identity, notFound, pageOf, pageWindow } from '@pep/service-kit';
import { foldName } from './contact.js';
import type { PatientsWork, Tx } from './events.js';
import type { Prisma, PrismaClient, ReferringProvider } from './generated/prisma/client.js';
import type { NpiRegistry } from './npi-registry.js';
import type {
  CreateReferringProviderBody,
  NpiSearchQuery,
  ProviderReferralsQuery,
  ReferringProviderListQuery,
  UpdateReferringProviderBody,
} from './referring-provider.schemas.js';
import { toReferralResponse, toReferringProviderResponse } from './referral.views.js';

/** 409 for an NPI the organization already has a referring provider for, naming that one. */
const npiTaken = (existing: Pick<ReferringProvider, 'id'>) =>
  new HttpProblem(409, 'referring-provider-exists', 'The organization already has a referring provider with this NPI.', {
    existing: existing.id,
  });

const displayName = (name: string | null | undefined, firstname: string | null | undefined, lastname: string | null | undefined) =>
  name?.trim() || [firstname, lastname].filter(Boolean).join(' ').trim();

/** Referring providers (outside providers who send patients): the organization's list, their referrals, the NPI registry. */
export class ReferringProviderService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: PatientsWork,
    private readonly registry: NpiRegistry,
  ) {}

  /** One page of the organization's referring providers, by folded name, filtered by name words, NPI and active. */
  async list(identity: Identity, query: ReferringProviderListQuery) {
    const words = query.name ? foldName(query.name).split(' ').filter(Boolean) : [];
    const where: Prisma.ReferringProviderWhereInput = {
      organization: identity.organization,
      deletedAt: null,
      ...(query.npi ? { npi: query.npi } : {}),
      ...(query.active !== undefined ? { active: query.active } : {}),
      AND: words.map((word) => ({ normalizedName: { contains: word } })),
    };
    const [providers, total] = await Promise.all([
      this.prisma.referringProvider.findMany({ where, orderBy: [{ normalizedName: 'asc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.referringProvider.count({ where }),
    ]);
    return pageOf(providers.map(toReferringProviderResponse), query, total);
  }

  /** One referring provider of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string) {
    return toReferringProviderResponse(await this.find(this.prisma, identity, id));
  }

  /** Adds a referring provider; 409 when the organization already has one with the NPI. */
  async create(identity: Identity, body: CreateReferringProviderBody, correlationId: string) {
    const name = displayName(body.name, body.firstname, body.lastname);
    const created = await this.work.run({ correlationId }, async (tx) => {
      if (body.npi) {
        const existing = await tx.referringProvider.findFirst({ where: { organization: identity.organization, npi: body.npi } });
        if (existing) throw npiTaken(existing);
      }
      return tx.referringProvider.create({
        data: {
          id: randomUUID(),
          organization: identity.organization,
          name,
          normalizedName: foldName(name),
          firstname: body.firstname ?? null,
          lastname: body.lastname ?? null,
          npi: body.npi ?? null,
          taxonomy: body.taxonomy ?? null,
          email: body.email ?? null,
          phone: body.phone ?? null,
          fax: body.fax ?? null,
          address: body.address ?? null,
          city: body.city ?? null,
          state: body.state ?? null,
          postcode: body.postcode ?? null,
          source: body.source ?? 'ui',
          createdBy: identity.user,
          updatedBy: identity.user,
        },
      });
    });
    return toReferringProviderResponse(created);
  }

  /** Changes the fields given; the display name follows first and last name unless one is given. 409 for a taken NPI. */
  async update(identity: Identity, id: string, body: UpdateReferringProviderBody, correlationId: string) {
    const updated = await this.work.run({ correlationId }, async (tx) => {
      const before = await this.find(tx, identity, id, true);
      if (body.npi && body.npi !== before.npi) {
        const existing = await tx.referringProvider.findFirst({ where: { organization: identity.organization, npi: body.npi } });
        if (existing) throw npiTaken(existing);
      }
      const firstname = body.firstname === undefined ? before.firstname : body.firstname;
      const lastname = body.lastname === undefined ? before.lastname : body.lastname;
      const renamed = body.name !== undefined || body.firstname !== undefined || body.lastname !== undefined;
      const name = renamed ? displayName(body.name, firstname, lastname) || before.name : before.name;
      return tx.referringProvider.update({
        where: { id },
        data: { ...body, name, normalizedName: foldName(name), updatedBy: identity.user },
      });
    });
    return toReferringProviderResponse(updated);
  }

  /** Activates or deactivates a referring provider; doing it twice changes nothing more. */
  async setActive(identity: Identity, id: string, active: boolean, correlationId: string) {
    const provider = await this.work.run({ correlationId }, async (tx) => {
      const before = await this.find(tx, identity, id, true);
      if (before.active === active) return before;
      return tx.referringProvider.update({ where: { id }, data: { active, updatedBy: identity.user } });
    });
    return toReferringProviderResponse(provider);
  }

  /** One page of the provider's live referrals, newest first, in the v1 referral shape. */
  async referrals(identity: Identity, id: string, query: ProviderReferralsQuery) {
    const provider = await this.find(this.prisma, identity, id);
    const where: Prisma.ReferralWhereInput = {
      organization: identity.organization,
      referringProviderId: provider.id,
      deletedAt: null,
      ...(query.status ? { status: query.status } : {}),
    };
    const [referrals, total] = await Promise.all([
      this.prisma.referral.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.referral.count({ where }),
    ]);
    const views = referrals.map((referral) => ({
      ...toReferralResponse(referral, provider),
      // The table's CHECK constraints hold these to the product's values.
      status: referral.status as ReferralStatus,
      source: referral.source as (typeof referralSources)[number],
      statusReason: referral.statusReason as (typeof referralStatusReasons)[number] | null,
      deleted: 0 as const,
    }));
    return pageOf(views, query, total);
  }

  /** Searches the NPI registry and names, for each result, the organization's referring provider with that NPI. */
  async searchRegistry(identity: Identity, query: NpiSearchQuery) {
    const records = await this.registry.search(query);
    const known = await this.prisma.referringProvider.findMany({
      where: { organization: identity.organization, deletedAt: null, npi: { in: records.map((record) => record.npi) } },
      select: { id: true, npi: true },
    });
    const byNpi = new Map(known.map((provider) => [provider.npi, provider.id]));
    return {
      response: records.map((record) => ({
        ...record,
        npi: Number(record.npi),
        type: 'doctor' as const,
        isReferringProvider: true as const,
        referringProvider: byNpi.get(record.npi) ?? null,
      })),
      limit: query.limit,
      skip: query.skip,
      count: records.length,
    };
  }

  private async find(db: Tx | PrismaClient, identity: Identity, id: string, lock = false): Promise<ReferringProvider> {
    // Writers lock the row so two changes to one provider apply one after the other, not over each other.
    if (lock)
      await (db as Tx)
        .$queryRaw`SELECT id FROM referring_provider WHERE id = ${id}::uuid AND organization = ${identity.organization}::uuid FOR UPDATE`;
    const provider = await db.referringProvider.findFirst({ where: { id, organization: identity.organization, deletedAt: null } });
    if (!provider) throw notFound('Referring provider');
    return provider;
  }
}
