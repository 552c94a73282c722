import { referralSources, referralStatuses, type ReferralStatus } from '@pep/contracts';
import { type Identity, type Page, pageOf, pageWindow } from '@pep/service-kit';
import { Prisma, type PrismaClient, type Referral } from './generated/prisma/client.js';
import type {
  FindReportQuery,
  ReferralReportRow,
  ReportDateField,
  ReportFilters,
  SummaryReport,
  SummaryReportQuery,
} from './referral-report.schemas.js';
import { toReferralResponse } from './referral.views.js';

/** The statuses whose `scheduledAt` the time to schedule is measured on. */
const SCHEDULED: readonly ReferralStatus[] = ['scheduled', 'scheduled-late'];

/** Column of each date a range may apply to; only these names ever reach the SQL text. */
const DATE_COLUMNS: Record<ReportDateField, Prisma.Sql> = {
  createdAt: Prisma.raw('created_at'),
  startOn: Prisma.raw('start_on'),
  scheduledAt: Prisma.raw('scheduled_at'),
};

/** The filters of a report as a Prisma `where`: the organization's live referrals in the range. */
function reportWhere(organization: string, filters: ReportFilters): Prisma.ReferralWhereInput {
  return {
    organization,
    deletedAt: null,
    [filters.dateField]: { gte: filters.from, lt: filters.to },
    ...(filters.status ? { status: { in: filters.status } } : {}),
    ...(filters.source ? { source: { in: filters.source } } : {}),
    ...(filters.referringProvider ? { referringProviderId: filters.referringProvider } : {}),
    ...(filters.facility ? { facility: filters.facility } : {}),
    ...(filters.provider ? { provider: filters.provider } : {}),
    ...(filters.appointmentType ? { appointmentType: filters.appointmentType } : {}),
  };
}

/** The same filters as SQL on the `referral` table, for the aggregate queries Prisma cannot express. */
function reportSql(organization: string, filters: ReportFilters): Prisma.Sql {
  const column = DATE_COLUMNS[filters.dateField];
  const conditions = [
    Prisma.sql`organization = ${organization}::uuid`,
    Prisma.sql`deleted_at IS NULL`,
    Prisma.sql`${column} >= ${filters.from}::timestamptz`,
    Prisma.sql`${column} < ${filters.to}::timestamptz`,
  ];
  if (filters.status) conditions.push(Prisma.sql`status IN (${Prisma.join(filters.status)})`);
  if (filters.source) conditions.push(Prisma.sql`source IN (${Prisma.join(filters.source)})`);
  if (filters.referringProvider) conditions.push(Prisma.sql`referring_provider = ${filters.referringProvider}::uuid`);
  if (filters.facility) conditions.push(Prisma.sql`facility = ${filters.facility}::uuid`);
  if (filters.provider) conditions.push(Prisma.sql`provider = ${filters.provider}::uuid`);
  if (filters.appointmentType) conditions.push(Prisma.sql`appointment_type = ${filters.appointmentType}::uuid`);
  return Prisma.join(conditions, ' AND ');
}

const ORDER = (field: ReportDateField): Prisma.ReferralOrderByWithRelationInput[] => [{ [field]: 'asc' }, { id: 'asc' }];

// The GROUPING() bits of the summary's grouping sets (status, source, referring_provider): a set has a 1 for each
// column it does not group by.
const BY_STATUS = 0b011;
const BY_SOURCE = 0b101;
const BY_REFERRING_PROVIDER = 0b110;
const TOTAL = 0b111;

interface SummaryRow {
  total: number | null;
  by_status: Record<string, number> | null;
  by_source: Record<string, number> | null;
  top: Array<{ _id: string; name: string | null; count: number }> | null;
  other_providers: number;
  other_count: number;
  without_referring_provider: number | null;
  scheduled: number;
  median_hours: number | null;
}

/** The referral reports: what they list and sum is always the caller's organization's live referrals. */
export class ReferralReportService {
  constructor(private readonly prisma: PrismaClient) {}

  /** One page of the referrals the filters select, in order of the range's date, with their people's names. */
  async find(identity: Identity, query: FindReportQuery): Promise<Page<ReferralReportRow>> {
    const where = reportWhere(identity.organization, query);
    const [total, referrals] = await Promise.all([
      this.prisma.referral.count({ where }),
      this.prisma.referral.findMany({ where, orderBy: ORDER(query.dateField), ...pageWindow(query) }),
    ]);
    return pageOf(await this.withNames(identity.organization, referrals), query, total);
  }

  /**
   * Every referral the filters select, a page at a time in order of the range's date: each page resumes after the
   * last row of the one before (keyset), so a long export reads each row once and never holds the range in memory.
   */
  async *all(identity: Identity, filters: ReportFilters, pageSize = 1000): AsyncGenerator<ReferralReportRow[]> {
    const where = reportWhere(identity.organization, filters);
    const field = filters.dateField;
    let after: Referral | undefined;
    for (;;) {
      // (date, id) > (last date, last id); the `gte` alone is what lets the index start at the last date instead of
      // at the range's start on every page.
      const resume: Prisma.ReferralWhereInput | undefined = after && {
        [field]: { gte: after[field] },
        OR: [{ [field]: { gt: after[field] } }, { id: { gt: after.id } }],
      };
      const referrals = await this.prisma.referral.findMany({
        where: resume ? { AND: [where, resume] } : where,
        orderBy: ORDER(field),
        take: pageSize,
      });
      if (referrals.length > 0) yield await this.withNames(identity.organization, referrals);
      if (referrals.length < pageSize) return;
      after = referrals[referrals.length - 1];
    }
  }

  /**
   * Counts by status, source and referring provider and the median time to schedule, all computed by Postgres in one
   * statement (one snapshot, so the parts add up): the referrals are grouped in one pass with grouping sets, the
   * referring providers ranked there, and only the sums leave the database.
   */
  async summary(identity: Identity, query: SummaryReportQuery): Promise<SummaryReport> {
    const organization = identity.organization;
    const where = reportSql(organization, query);
    const [row] = await this.prisma.$queryRaw<SummaryRow[]>`
      WITH counts AS MATERIALIZED (
        SELECT GROUPING(status, source, referring_provider) AS grouping, status, source, referring_provider, count(*)::int AS count
        FROM referral
        WHERE ${where}
        GROUP BY GROUPING SETS ((status), (source), (referring_provider), ())
      ),
      ranked AS (
        SELECT referring_provider, count, row_number() OVER (ORDER BY count DESC, referring_provider) AS rank
        FROM counts
        WHERE grouping = ${BY_REFERRING_PROVIDER} AND referring_provider IS NOT NULL
      ),
      timing AS (
        SELECT count(*)::int AS scheduled,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM scheduled_at - created_at) / 3600) AS median_hours
        FROM referral
        WHERE ${where} AND status IN (${Prisma.join(SCHEDULED)}) AND scheduled_at IS NOT NULL
      )
      SELECT
        (SELECT count FROM counts WHERE grouping = ${TOTAL}) AS total,
        (SELECT json_object_agg(status, count) FROM counts WHERE grouping = ${BY_STATUS}) AS by_status,
        (SELECT json_object_agg(source, count) FROM counts WHERE grouping = ${BY_SOURCE}) AS by_source,
        (SELECT json_agg(json_build_object('_id', r.referring_provider, 'name', p.name, 'count', r.count) ORDER BY r.rank)
           FROM ranked r
           LEFT JOIN referring_provider p ON p.id = r.referring_provider AND p.organization = ${organization}::uuid
           WHERE r.rank <= ${query.top}) AS top,
        (SELECT count(*)::int FROM ranked WHERE rank > ${query.top}) AS other_providers,
        (SELECT coalesce(sum(count), 0)::int FROM ranked WHERE rank > ${query.top}) AS other_count,
        (SELECT count FROM counts WHERE grouping = ${BY_REFERRING_PROVIDER} AND referring_provider IS NULL) AS without_referring_provider,
        timing.scheduled,
        timing.median_hours::float8 AS median_hours
      FROM timing`;
    if (!row) throw new Error('the summary query answered no row');
    const countAll = <K extends string>(keys: readonly K[], counts: Record<string, number> | null) =>
      Object.fromEntries(keys.map((key) => [key, counts?.[key] ?? 0])) as Record<K, number>;
    return {
      from: query.from.toISOString(),
      to: query.to.toISOString(),
      dateField: query.dateField,
      total: row.total ?? 0,
      byStatus: countAll(referralStatuses, row.by_status),
      bySource: countAll(referralSources, row.by_source),
      byReferringProvider: row.top ?? [],
      otherReferringProviders: { providers: row.other_providers, count: row.other_count },
      withoutReferringProvider: row.without_referring_provider ?? 0,
      timeToSchedule: {
        scheduled: row.scheduled,
        medianHours: row.median_hours === null ? null : Math.round(row.median_hours * 100) / 100,
      },
    };
  }

  /** The referrals with the names of their patients and referring providers, read in one query each. */
  private async withNames(organization: string, referrals: Referral[]): Promise<ReferralReportRow[]> {
    const patientIds = [...new Set(referrals.map((referral) => referral.patientId))];
    const providerIds = [...new Set(referrals.flatMap((referral) => referral.referringProviderId ?? []))];
    const [patients, providers] = await Promise.all([
      this.prisma.patient.findMany({
        where: { organization, id: { in: patientIds } },
        select: { id: true, firstname: true, lastname: true },
      }),
      providerIds.length === 0
        ? []
        : this.prisma.referringProvider.findMany({ where: { organization, id: { in: providerIds } }, select: { id: true, name: true } }),
    ]);
    const patientNames = new Map(patients.map((patient) => [patient.id, `${patient.firstname} ${patient.lastname}`]));
    const providerById = new Map(providers.map((provider) => [provider.id, provider]));
    return referrals.map((referral) => ({
      ...(toReferralResponse(referral, referral.referringProviderId ? providerById.get(referral.referringProviderId) : null) as Omit<
        ReferralReportRow,
        'patientName'
      >),
      patientName: patientNames.get(referral.patientId) ?? null,
    }));
  }
}
