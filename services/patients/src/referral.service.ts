import { randomUUID } from 'node:crypto';
import {
  referralCreatedV1,
  referralDeletedV1,
  referralUpdatedV1,
  SETTING_DEFAULTS,
  type ReferralStatus,
  type referralSources,
  type referralStatusReasons,
} from '@pep/contracts';
import type { Emit } from '@pep/db';
import { HttpProblem, invalidFields, notFound, pageOf, type Identity } from '@pep/service-kit';
import { foldName, toE164 } from './contact.js';
import type { PatientsWork, Tx } from './events.js';
import type { Prisma, PrismaClient, Referral } from './generated/prisma/client.js';
import type { Db } from './patient.repository.js';
import { phoneMatch } from './patient.service.js';
import {
  findReferral,
  lockReferrals,
  pageReferrals,
  patientNames,
  referralOrder,
  referralWhere,
  referringProviderNames,
} from './referral.repository.js';
import type {
  BatchUpdateBody,
  CreateReferralBody,
  ReferralFilters,
  ReferralListQuery,
  ReferralSearchQuery,
  ReferralSummary,
  RejectBody,
  UpdateReferralBody,
} from './referral.schemas.js';
import { changeStatus, OPEN_STATUSES, referralSnapshot, type StatusChange } from './referral-status.js';
import { toReferralResponse } from './referral.views.js';
import { resolveReferringProvider, type ReferringProviderInput } from './referring-provider.repository.js';

const DAY_MS = 86_400_000;
// A search word matching more patients or providers than this is too broad to answer usefully.
const SEARCH_MATCH_LIMIT = 10_000;

const invalid = (field: string, message: string) => invalidFields([{ field, message }]);

/** A referral as the API answers it, its enums typed as the schema declares them. */
function view(referral: Referral, providers: Map<string, { name: string }>) {
  return {
    ...toReferralResponse(referral, referral.referringProviderId ? providers.get(referral.referringProviderId) : null),
    status: referral.status as ReferralStatus,
    source: referral.source as (typeof referralSources)[number],
    statusReason: referral.statusReason as (typeof referralStatusReasons)[number] | null,
    deleted: referral.deletedAt ? (1 as const) : (0 as const),
  };
}
export type ReferralView = ReturnType<typeof view>;

/** What one change (PUT of one referral, or of a batch) asks, with its referring provider already resolved. */
type Change = Omit<UpdateReferralBody, 'referringProvider' | 'referringProviderId'> & { referringProviderId?: string | null };

/** The columns a change may write, with how the body's value is stored. */
const FIELD_COLUMNS = [
  'facility',
  'provider',
  'appointmentType',
  'referringProviderId',
  'name',
  'duration',
  'source',
  'startOn',
  'expireAt',
  'notes',
  'customerNotes',
  'reason',
  'departmentOrFacility',
  'externalId',
  'referringProviderFaxNumberOverride',
  'processedReferralFollowup',
] as const;
type FieldColumn = (typeof FIELD_COLUMNS)[number];

// Names the API and referral.updated's `changed` use for a column.
const API_NAME: Partial<Record<FieldColumn, string>> = { referringProviderId: 'referringProvider' };

/** The stored form of a body value: instants as dates, fax numbers in E.164. */
function stored(column: FieldColumn, value: unknown): unknown {
  if (value === null) return null;
  if (column === 'startOn' || column === 'expireAt') return new Date(value as string);
  if (column === 'referringProviderFaxNumberOverride') return toE164(value as string);
  return value;
}

const same = (a: unknown, b: unknown) => (a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b);

/** Referrals: creation from the organization's settings, changes through the state machine, lists and search. */
export class ReferralService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: PatientsWork,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * Creates a referral for a live patient of the organization: `pending`, or `active` when the organization approves
   * referrals automatically; `expireAt` defaults from its referralExpiryDays. referral.created in the same transaction.
   */
  async create(identity: Identity, body: CreateReferralBody, correlationId: string): Promise<ReferralView> {
    const { organization } = identity;
    const referral = await this.work.run({ correlationId }, async (tx, emit) => {
      await this.referablePatient(tx, organization, body.patient);
      const settings = await this.settingsOf(tx, organization);
      const referringProvider = await this.resolveProvider(tx, identity, body);
      const startOn = body.startOn ? new Date(body.startOn) : this.clock();
      const expireAt =
        body.expireAt === undefined ? new Date(startOn.getTime() + settings.expiryDays * DAY_MS) : stored('expireAt', body.expireAt);
      checkDates(startOn, expireAt as Date | null, body.expireAt !== undefined ? 'body.expireAt' : 'body.startOn');
      const created = await tx.referral.create({
        data: {
          id: randomUUID(),
          organization,
          patientId: body.patient,
          facility: body.facility ?? null,
          provider: body.provider ?? null,
          appointmentType: body.appointmentType ?? null,
          referringProviderId: referringProvider === undefined ? null : referringProvider,
          name: body.name ?? null,
          duration: body.duration ?? null,
          status: settings.autoApprove ? 'active' : 'pending',
          source: body.source ?? 'ui',
          startOn,
          expireAt: expireAt as Date | null,
          notes: body.notes ?? null,
          customerNotes: body.customerNotes ?? null,
          reason: body.reason ?? null,
          departmentOrFacility: body.departmentOrFacility ?? null,
          externalId: body.externalId ?? null,
          referringProviderFaxNumberOverride: body.referringProviderFaxNumberOverride
            ? toE164(body.referringProviderFaxNumberOverride)
            : null,
          createdBy: identity.user,
          updatedBy: identity.user,
        },
      });
      emit(referralCreatedV1, { organization, subject: created.id, data: referralSnapshot(created) });
      return created;
    });
    return this.viewOne(this.prisma, referral);
  }

  /** One live referral of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<ReferralView> {
    return this.viewOne(this.prisma, await this.find(this.prisma, identity, id));
  }

  /** One page of the organization's referrals, filtered and sorted. */
  async list(identity: Identity, query: ReferralListQuery) {
    const { referrals, total } = await pageReferrals(
      this.prisma,
      referralWhere(identity.organization, query),
      referralOrder(query.sort),
      query,
    );
    return pageOf(await this.viewMany(this.prisma, identity.organization, referrals), query, total);
  }

  /** The page of {@link list} in the compact form of tables, with the patient's name on each row. */
  async crudList(identity: Identity, query: ReferralListQuery) {
    const { referrals, total } = await pageReferrals(
      this.prisma,
      referralWhere(identity.organization, query),
      referralOrder(query.sort),
      query,
    );
    const [providers, patients] = await Promise.all([
      referringProviderNames(
        this.prisma,
        identity.organization,
        referrals.map((referral) => referral.referringProviderId),
      ),
      patientNames(
        this.prisma,
        identity.organization,
        referrals.map((referral) => referral.patientId),
      ),
    ]);
    const rows: ReferralSummary[] = referrals.map((referral) => ({
      _id: referral.id,
      patient: referral.patientId,
      patientName: patients.get(referral.patientId) ?? null,
      referringProviderId: referral.referringProviderId,
      referringProvider: referral.referringProviderId ? (providers.get(referral.referringProviderId)?.name ?? null) : null,
      name: referral.name,
      status: referral.status as ReferralStatus,
      source: referral.source as (typeof referralSources)[number],
      startOn: referral.startOn.toISOString(),
      expireAt: referral.expireAt?.toISOString() ?? null,
      attempt: referral.attempt,
      scheduledAt: referral.scheduledAt?.toISOString() ?? null,
      updatedAt: referral.updatedAt.toISOString(),
    }));
    return pageOf(rows, query, total);
  }

  /** How many of the organization's referrals match the filters. */
  async count(identity: Identity, filters: ReferralFilters): Promise<{ count: number }> {
    return { count: await this.prisma.referral.count({ where: referralWhere(identity.organization, filters) }) };
  }

  /**
   * The filters of {@link list}, and `q`: the words of the patient's or the referring provider's name (every word,
   * case and accents ignored), the patient's phone in any format (E.164 against every phone of the patient), or the
   * referring provider's NPI.
   */
  async search(identity: Identity, query: ReferralSearchQuery) {
    const { organization } = identity;
    const conditions: Prisma.ReferralWhereInput[] = [referralWhere(organization, query)];
    if (query.q !== undefined) conditions.push(await this.matchingQ(organization, query.q));
    const { referrals, total } = await pageReferrals(this.prisma, { AND: conditions }, referralOrder(query.sort), query);
    return pageOf(await this.viewMany(this.prisma, organization, referrals), query, total);
  }

  /**
   * Changes the fields given (referral.updated names them) and, when `status` is a new one, the status through the
   * state machine (referral.status-changed; 409 when it refuses), in one transaction.
   */
  async update(identity: Identity, id: string, body: UpdateReferralBody, correlationId: string): Promise<ReferralView> {
    const referral = await this.work.run({ correlationId }, async (tx, emit) => {
      await lockReferrals(tx, identity.organization, [id]);
      const before = await this.find(tx, identity, id);
      const change = await this.withProvider(tx, identity, body);
      return this.applyChange(tx, emit, identity, before, change);
    });
    return this.viewOne(this.prisma, referral);
  }

  /** Soft-deletes a referral: it leaves lists and answers 404 from then on; referral.deleted stops its outreach. */
  async remove(identity: Identity, id: string, correlationId: string): Promise<ReferralView> {
    const [referral] = await this.removeMany(identity, [id], correlationId);
    return referral!;
  }

  /** Approves a pending referral: it becomes active and outreach starts; 409 from any other status. */
  async approve(identity: Identity, id: string, correlationId: string): Promise<ReferralView> {
    const referral = await this.work.run({ correlationId }, async (tx, emit) => {
      await lockReferrals(tx, identity.organization, [id]);
      const before = await this.find(tx, identity, id);
      if (before.status !== 'pending')
        throw new HttpProblem(409, 'referral-transition', `Only a pending referral can be approved; this one is ${before.status}.`, {
          current: before.status,
        });
      return changeStatus(tx, emit, before, { to: 'active', by: identity.user });
    });
    return this.viewOne(this.prisma, referral);
  }

  /** Rejects a referral: it is closed with the reason given; 409 when it is already cancelled or closed. */
  async reject(identity: Identity, id: string, body: RejectBody, correlationId: string): Promise<ReferralView> {
    const referral = await this.work.run({ correlationId }, async (tx, emit) => {
      await lockReferrals(tx, identity.organization, [id]);
      const before = await this.find(tx, identity, id);
      return changeStatus(tx, emit, before, {
        to: 'closed',
        reason: body.statusReason,
        reasonDescription: body.statusReasonDescription ?? null,
        by: identity.user,
      });
    });
    return this.viewOne(this.prisma, referral);
  }

  /**
   * Applies one change to many referrals, all or nothing: an id that is not a live referral of the organization
   * answers 404 naming it, a transition the state machine refuses answers 409, and in both cases nothing changes and
   * nothing is published. One event per referral changed.
   */
  async batchUpdate(identity: Identity, body: BatchUpdateBody, correlationId: string): Promise<ReferralView[]> {
    const { ids, ...rest } = body;
    const unique = [...new Set(ids)];
    const referrals = await this.work.run({ correlationId }, async (tx, emit) => {
      await this.lockAll(tx, identity.organization, unique);
      const change = await this.withProvider(tx, identity, rest);
      const changed: Referral[] = [];
      for (const id of unique) changed.push(await this.applyChange(tx, emit, identity, await this.find(tx, identity, id), change));
      return changed;
    });
    return this.viewMany(this.prisma, identity.organization, referrals);
  }

  /** Soft-deletes many referrals, all or nothing (404 naming the ids that are not the organization's); one referral.deleted each. */
  async removeMany(identity: Identity, ids: string[], correlationId: string): Promise<ReferralView[]> {
    const unique = [...new Set(ids)];
    const referrals = await this.work.run({ correlationId }, async (tx, emit) => {
      await this.lockAll(tx, identity.organization, unique);
      const now = this.clock();
      const deleted: Referral[] = [];
      for (const id of unique) {
        const referral = await tx.referral.update({
          where: { id },
          data: { deletedAt: now, deletedBy: identity.user, updatedBy: identity.user },
        });
        emit(referralDeletedV1, { organization: identity.organization, subject: id, data: { _id: id, patient: referral.patientId } });
        deleted.push(referral);
      }
      return deleted;
    });
    return this.viewMany(this.prisma, identity.organization, referrals);
  }

  /** Locks every referral named; 404 naming those that are not live referrals of the organization. */
  private async lockAll(tx: Tx, organization: string, ids: string[]): Promise<void> {
    const found = await lockReferrals(tx, organization, ids);
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0)
      throw new HttpProblem(404, 'not-found', `referrals not found: ${missing.join(', ')}`, {
        ids: missing,
        errors: missing.map((id) => ({ field: 'ids', message: `no referral of your organization has the id ${id}` })),
      });
  }

  /** Writes one change to a locked referral; see {@link update}. */
  private async applyChange(tx: Tx, emit: Emit, identity: Identity, before: Referral, change: Change): Promise<Referral> {
    const statusChanges = change.status !== undefined && change.status !== before.status;
    const data: Record<string, unknown> = {};
    const changed: string[] = [];
    for (const column of FIELD_COLUMNS) {
      if (change[column] === undefined) continue;
      const value = stored(column, change[column]);
      if (same(value, before[column])) continue;
      data[column] = value;
      changed.push(API_NAME[column] ?? column);
    }
    // With the same status, a reason given corrects the recorded one.
    if (!statusChanges)
      for (const column of ['statusReason', 'statusReasonDescription'] as const) {
        if (change[column] === undefined || change[column] === before[column]) continue;
        data[column] = change[column];
        changed.push(column);
      }
    if ('startOn' in data || 'expireAt' in data)
      checkDates(
        (data['startOn'] as Date | undefined) ?? before.startOn,
        'expireAt' in data ? (data['expireAt'] as Date | null) : before.expireAt,
        'expireAt' in data ? 'body.expireAt' : 'body.startOn',
      );
    let after = before;
    if (changed.length > 0) {
      after = await tx.referral.update({ where: { id: before.id }, data: { ...data, updatedBy: identity.user } });
      emit(referralUpdatedV1, { organization: after.organization, subject: after.id, data: { ...referralSnapshot(after), changed } });
    }
    if (statusChanges) {
      const to = change.status!;
      // Reopened with its deadline still past, the expiry sweep would expire it again within a minute.
      if (after.status === 'expired' && OPEN_STATUSES.includes(to) && after.expireAt && after.expireAt <= this.clock())
        throw invalidFields([
          {
            field: 'body.expireAt',
            message: `the referral expired on ${after.expireAt.toISOString()}: give a later expireAt to reopen it`,
          },
        ]);
      after = await changeStatus(tx, emit, after, {
        to,
        ...(change.statusReason !== undefined ? { reason: change.statusReason } : {}),
        ...(change.statusReasonDescription !== undefined ? { reasonDescription: change.statusReasonDescription } : {}),
        fields: this.stampsOf(after, to),
        by: identity.user,
      });
    }
    return after;
  }

  /** The times a status set by staff records when the referral has none yet (when it was called, scheduled). */
  private stampsOf(referral: Referral, to: ReferralStatus): StatusChange['fields'] {
    const now = this.clock();
    if ((to === 'called' || to === 'called-late') && !referral.calledAt) return { calledAt: now };
    if ((to === 'scheduled' || to === 'scheduled-late') && !referral.scheduledAt) return { scheduledAt: now };
    return {};
  }

  /** The change with its referring provider resolved to an id (created from its details when new). */
  private async withProvider(tx: Tx, identity: Identity, body: UpdateReferralBody): Promise<Change> {
    const { referringProvider: _details, referringProviderId: _id, ...rest } = body;
    const resolved = await this.resolveProvider(tx, identity, body);
    return { ...rest, ...(resolved !== undefined ? { referringProviderId: resolved } : {}) };
  }

  /** The referring provider id a body names (undefined: not named; null: cleared). */
  private async resolveProvider(
    tx: Tx,
    identity: Identity,
    body: { referringProvider?: ReferringProviderInput | null; referringProviderId?: string | null },
  ): Promise<string | null | undefined> {
    if (body.referringProvider === null || body.referringProviderId === null) return null;
    const [input, field] = body.referringProvider
      ? ([body.referringProvider, 'body.referringProvider'] as const)
      : body.referringProviderId
        ? ([{ id: body.referringProviderId }, 'body.referringProviderId'] as const)
        : [undefined, ''];
    if (!input) return undefined;
    return (await resolveReferringProvider(tx, identity.organization, input, identity.user, field)).id;
  }

  /** Checks the referred patient is a live patient of the organization and keeps it so until the transaction ends. */
  private async referablePatient(tx: Tx, organization: string, id: string): Promise<void> {
    // FOR SHARE: a concurrent delete or merge of the patient waits for this referral, then sees it.
    const rows = await tx.$queryRawUnsafe<Array<{ merged_into: string | null }>>(
      'SELECT "merged_into" FROM "patient" WHERE "id" = $1::uuid AND "organization" = $2::uuid AND "deleted_at" IS NULL FOR SHARE',
      id,
      organization,
    );
    const patient = rows[0];
    if (!patient) throw invalid('body.patient', 'no patient of your organization has this id; find one at GET /api/patients/search');
    if (patient.merged_into) throw invalid('body.patient', `this patient was merged into ${patient.merged_into}; refer that one`);
  }

  /** The organization's referral settings, or the platform's defaults until it has any. */
  private async settingsOf(db: Db, organization: string): Promise<{ autoApprove: boolean; expiryDays: number }> {
    const row = await db.referralSetting.findUnique({ where: { organization } });
    return {
      autoApprove: row?.autoApprove ?? SETTING_DEFAULTS.referralAutoApprove,
      expiryDays: row?.expiryDays ?? SETTING_DEFAULTS.referralExpiryDays,
    };
  }

  /** The referrals `q` of a search finds: by the patient's name or phone, the referring provider's name or NPI. */
  private async matchingQ(organization: string, q: string): Promise<Prisma.ReferralWhereInput> {
    const words = foldName(q).split(' ').filter(Boolean);
    const phone = toE164(q);
    const digits = q.trim();
    if (words.length === 0 && !phone)
      throw invalid('querystring.q', 'give words of a name, a phone number or an NPI (at least one letter or digit)');
    const patientWhere: Prisma.PatientWhereInput[] = [];
    if (words.length > 0) patientWhere.push({ AND: words.map((word) => ({ normalizedName: { contains: word } })) });
    if (phone) patientWhere.push(phoneMatch(phone));
    const providerWhere: Prisma.ReferringProviderWhereInput[] = [];
    if (words.length > 0) providerWhere.push({ AND: words.map((word) => ({ normalizedName: { contains: word } })) });
    if (/^\d{10}$/.test(digits)) providerWhere.push({ npi: digits });
    const [patients, providers] = await Promise.all([
      this.prisma.patient.findMany({
        where: { organization, deletedAt: null, OR: patientWhere },
        select: { id: true },
        take: SEARCH_MATCH_LIMIT + 1,
      }),
      this.prisma.referringProvider.findMany({
        where: { organization, deletedAt: null, OR: providerWhere },
        select: { id: true },
        take: SEARCH_MATCH_LIMIT + 1,
      }),
    ]);
    if (patients.length > SEARCH_MATCH_LIMIT || providers.length > SEARCH_MATCH_LIMIT)
      throw invalid('querystring.q', `matches more than ${SEARCH_MATCH_LIMIT} patients or providers; add words to narrow it`);
    return {
      OR: [{ patientId: { in: patients.map((row) => row.id) } }, { referringProviderId: { in: providers.map((row) => row.id) } }],
    };
  }

  private async find(db: Db, identity: Identity, id: string): Promise<Referral> {
    const referral = await findReferral(db, identity.organization, id);
    if (!referral) throw notFound('referral');
    return referral;
  }

  private async viewOne(db: Db, referral: Referral): Promise<ReferralView> {
    const [one] = await this.viewMany(db, referral.organization, [referral]);
    return one!;
  }

  private async viewMany(db: Db, organization: string, referrals: Referral[]): Promise<ReferralView[]> {
    const providers = await referringProviderNames(
      db,
      organization,
      referrals.map((referral) => referral.referringProviderId),
    );
    return referrals.map((referral) => view(referral, providers));
  }
}

/** 400 naming `field` unless the referral expires after it starts. */
function checkDates(startOn: Date, expireAt: Date | null, field: string): void {
  if (expireAt && expireAt.getTime() <= startOn.getTime()) throw invalid(field, 'expireAt must be after startOn');
}
