import { randomUUID } from 'node:crypto';
import { HttpProblem, type Identity, type InvalidField, notFound, pageOf, pageWindow } from '@pep/service-kit';
import { BOOKABLE, canSet, effectiveStatus, stateOf, type AvailabilityState } from './availability-status.js';
import type {
  AvailabilityChange,
  AvailabilityFilters,
  AvailabilityItem,
  AvailabilityResponse,
  BookAvailabilityBody,
  CreateAvailabilitiesBody,
  FreeBusyQuery,
  FreeBusyResponse,
  SchedulerFilters,
  SlotCursor,
  WorkingHoursBody,
} from './availability.schemas.js';
import { encodeSlotCursor } from './availability.schemas.js';
import { bookAvailability, ownAvailability, slotBooked, slotOpened, withTimeZone } from './booking-core.js';
import type { SchedulingWork } from './events.js';
import type { AppointmentType, Availability, Prisma, PrismaClient } from './generated/prisma/client.js';
import {
  daysBetween,
  endOf,
  expandWorkingHours,
  intervalView,
  isDay,
  resolveRange,
  subtractIntervals,
  type Interval,
  type RangeBound,
} from './open-slots.js';
import { patientNotFound, type PatientDirectory } from './patient-directory.js';
import { invalidFields, sqlState, type ListQuery, type Page } from './schemas.js';
import { toAvailabilityResponse, type LocatedAvailability } from './views.js';

/** Most slots one POST may create; a year of 15-minute slots on weekdays is about 8,000, so hours are posted in parts. */
const MAX_CREATED = 1000;
/** Longest range of working hours one POST expands. */
const MAX_WORKING_DAYS = 366;
/** Longest range the scheduler and free/busy look at. */
const MAX_RANGE_DAYS = 92;

const availabilityExists = (errors: InvalidField[]) =>
  new HttpProblem(409, 'availability-exists', 'The provider already has an availability starting then.', { errors });

/**
 * Availabilities (a provider's bookable slots at a facility), booking them, and the open slots of the scheduler:
 * available, unlocked, future availabilities no live appointment of the provider overlaps.
 */
export class AvailabilityService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: SchedulingWork,
    private readonly patients: PatientDirectory,
    /** The clock slots expire by; tests move it. */
    private readonly now: () => Date = () => new Date(),
  ) {}

  // ---- reading -----------------------------------------------------------------------------------------------

  /** One page of the organization's availabilities matching the filters, soonest first. */
  async list(identity: Identity, query: ListQuery, filters: AvailabilityFilters): Promise<Page<AvailabilityResponse>> {
    const now = this.now();
    const where = whereOf(identity.organization, filters, now);
    const [rows, total] = await Promise.all([
      this.prisma.availability.findMany({ where, include: withTimeZone, orderBy: [{ date: 'asc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.availability.count({ where }),
    ]);
    return pageOf(
      rows.map((row) => toAvailabilityResponse(row, now)),
      query,
      total,
    );
  }

  /** A provider's availabilities; 404 when the provider is not the organization's. */
  async ofProvider(
    identity: Identity,
    provider: string,
    query: ListQuery,
    filters: Omit<AvailabilityFilters, 'provider'>,
  ): Promise<Page<AvailabilityResponse>> {
    if (
      !(await this.prisma.provider.findFirst({
        where: { id: provider, organization: identity.organization, deleted: false },
        select: { id: true },
      }))
    )
      throw notFound('provider');
    return this.list(identity, query, { ...filters, provider });
  }

  /** An availability of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<AvailabilityResponse> {
    return toAvailabilityResponse(await ownAvailability(this.prisma, identity.organization, id), this.now());
  }

  /**
   * One page of open slots, soonest first, and the cursor of the next page (null on the last). A page after a cursor
   * resumes from the cursor's slot through the open candidates' index and takes the total the listing began with; a
   * numbered page (the v1 way) skips the earlier pages' slots and counts them all.
   */
  async openSlots(
    identity: Identity,
    query: ListQuery & { after?: SlotCursor | undefined },
    filters: SchedulerFilters,
  ): Promise<{ page: Page<AvailabilityResponse>; next: string | null }> {
    const now = this.now();
    const open = await this.openSlotQuery(identity.organization, filters, now);
    if (!open) return { page: pageOf([], query, 0), next: null };
    const after = query.after;
    const skip = after ? 0 : pageWindow(query).skip;
    // A query text of its own when resuming, so the row comparison is always the index scan's start.
    const resume = after ? `AND (a."date", a."id") > ($12::timestamptz, $13::uuid)` : '';
    // One row past the page tells whether there is a next one. The page comes back as one JSON text: read as 19 columns,
    // decoding and mapping each cell was most of a page's time on PGlite (npm run bench:slots).
    const [page, total] = await Promise.all([
      this.prisma.$queryRawUnsafe<Array<{ slots: string }>>(
        `SELECT coalesce(json_agg(s.slot ORDER BY s."date", s."id"), '[]')::text AS "slots" FROM (
           SELECT a."date", a."id", ${OPEN_SLOT_FIELDS} AS slot ${open.from} WHERE ${open.where} AND NOT EXISTS (${LIVE_APPOINTMENT_OVERLAPS}) ${resume}
            ORDER BY a."date", a."id" LIMIT ${query.limit + 1} OFFSET ${skip}) s`,
        ...open.values,
        ...(after ? [after.date.toISOString(), after.id] : []),
      ),
      after ? after.total : this.countOpen(open),
    ]);
    const rows = (JSON.parse(page[0]?.slots ?? '[]') as OpenSlotFields[]).map(locatedOf);
    const slots = rows.slice(0, query.limit).map((row) => toAvailabilityResponse(row, now));
    const last = rows.length > query.limit ? rows[query.limit - 1] : undefined;
    return { page: pageOf(slots, query, total), next: last ? encodeSlotCursor({ date: last.date, id: last.id, total }) : null };
  }

  /** How many open slots match the filters. */
  async countOpenSlots(identity: Identity, filters: SchedulerFilters): Promise<{ count: number }> {
    const open = await this.openSlotQuery(identity.organization, filters, this.now());
    return { count: open ? await this.countOpen(open) : 0 };
  }

  /**
   * Counts open slots set-wise: each provider's live appointments in the range are merged once into a multirange, and
   * every candidate is tested against its provider's, instead of one index probe per candidate. The multiranges are
   * kept in one array, found by the provider's place in a second: joined as rows, each candidate was compared with
   * every provider's row.
   */
  private async countOpen(open: OpenSlotQuery): Promise<number> {
    const counted = await this.prisma.$queryRawUnsafe<Array<{ n: number }>>(
      // MATERIALIZED: inlined, the aggregate ran again for every candidate.
      `WITH busy AS MATERIALIZED (
         SELECT array_agg(b."provider") AS providers, array_agg(b.spans) AS spans FROM (
           SELECT p."provider", range_agg(tstzrange(p."date", p."end_at", '[)')) AS spans FROM "appointment" p
            WHERE p."organization" = $1::uuid AND p."status" <> 'cancelled' AND NOT p."deleted"
              AND ($6::uuid IS NULL OR p."provider" = $6::uuid)
              AND p."date" < $11::timestamptz AND p."date" > $10::timestamptz - interval '1440 minutes' AND p."end_at" > $10::timestamptz
            GROUP BY p."provider") b)
       SELECT count(*)::int AS n ${open.from} CROSS JOIN busy b
        WHERE ${open.where} AND NOT coalesce(b.spans[array_position(b.providers, a."provider")] && tstzrange(a."date", a."end_at", '[)'), false)`,
      ...open.values,
    );
    return counted[0]?.n ?? 0;
  }

  /**
   * The FROM and WHERE of open-slot candidates (live appointments not subtracted yet), with their values; null when no
   * facility can match. A day bound is a local day of each slot's facility, so the range is resolved once per time zone
   * and each slot is held to its own zone's range. Slots of a deleted facility, or of a provider deleted or not
   * schedulable, are not open.
   */
  private async openSlotQuery(organization: string, filters: SchedulerFilters, now: Date): Promise<OpenSlotQuery | null> {
    const zones = await this.zonesOf(organization, filters.facility);
    if (zones.length === 0) return null;
    const ranges = zones.map((zone) => ({ zone, ...checkedRange(filters.from, filters.to, zone) }));
    let minutes = 0;
    if (filters.appointmentType) {
      const type = await this.prisma.appointmentType.findFirst({ where: { id: filters.appointmentType, organization, deleted: false } });
      if (!type) return null;
      minutes = type.duration;
    }
    // The availabilities drive the query, each looking up its facility: OFFSET 0 keeps that lookup a subquery the planner
    // cannot turn around. Without statistics (PGlite never gathers any) it otherwise made the providers the outer loop and
    // read every candidate once per provider. The schedulable providers are read once, as an array each candidate's is
    // looked up in: a lookup per candidate scanned the organization's providers (npm run bench:slots).
    const from = `FROM "availability" a
      CROSS JOIN LATERAL (SELECT f."time_zone" FROM "facility" f WHERE f."id" = a."facility" AND f."organization" = a."organization" AND NOT f."deleted" OFFSET 0) f
      JOIN unnest($2::text[], $3::timestamptz[], $4::timestamptz[]) AS r(zone, from_at, to_at) ON r.zone = f."time_zone"`;
    // status, locked and deleted as the availability_open index has them, so the index serves the query.
    const where = `a."organization" = $1::uuid AND a."status" = 'available' AND NOT a."locked" AND NOT a."deleted"
        AND a."date" > $5::timestamptz AND a."date" >= r.from_at AND a."end_at" <= r.to_at
        AND a."date" >= $10::timestamptz AND a."date" < $11::timestamptz
        AND a."provider" = ANY (ARRAY(SELECT pr."id" FROM "provider" pr WHERE pr."organization" = $1::uuid AND NOT pr."deleted" AND pr."schedulable"))
        AND ($6::uuid IS NULL OR a."provider" = $6::uuid)
        AND ($7::uuid IS NULL OR a."facility" = $7::uuid)
        AND ($8::uuid IS NULL OR a."appointment_type" = $8::uuid OR (a."appointment_type" IS NULL AND a."duration" >= $9::int))`;
    const values = [
      organization,
      ranges.map((range) => range.zone),
      ranges.map((range) => new Date(range.start).toISOString()),
      ranges.map((range) => new Date(range.end).toISOString()),
      now.toISOString(),
      filters.provider ?? null,
      filters.facility ?? null,
      filters.appointmentType ?? null,
      minutes,
      // The widest of the zones' ranges, as plain bounds the index scans can start and stop at.
      new Date(Math.min(...ranges.map((range) => range.start))).toISOString(),
      new Date(Math.max(...ranges.map((range) => range.end))).toISOString(),
    ];
    return { from, where, values };
  }

  /** The time zones of the facility asked for, or of every facility of the organization. */
  private async zonesOf(organization: string, facility: string | undefined): Promise<string[]> {
    const rows = await this.prisma.facility.findMany({
      where: { organization, ...(facility ? { id: facility } : {}) },
      select: { timeZone: true },
      distinct: ['timeZone'],
    });
    return rows.map((row) => row.timeZone);
  }

  /**
   * A provider's busy time (live appointments, at any facility) and free time (open availabilities, at the
   * facility asked for or any, minus busy time) over a range, each merged into disjoint intervals.
   */
  async freeBusy(identity: Identity, query: FreeBusyQuery): Promise<FreeBusyResponse> {
    const organization = identity.organization;
    if (!(await this.prisma.provider.findFirst({ where: { id: query.provider, organization, deleted: false }, select: { id: true } })))
      throw notFound('provider');
    let zone = 'UTC';
    if (query.facility) {
      const facility = await this.prisma.facility.findFirst({ where: { id: query.facility, organization, deleted: false } });
      if (!facility) throw invalidFields([{ field: 'querystring.facility', message: 'no such facility' }]);
      zone = facility.timeZone;
    } else if (isDay(query.from) || isDay(query.to)) {
      throw invalidFields([
        { field: 'querystring.facility', message: 'needed to tell which local days from and to are; or give instants' },
      ]);
    }
    const range = checkedRange(query.from, query.to, zone);
    const overlapping = {
      organization,
      providerId: query.provider,
      deleted: false,
      date: { lt: new Date(range.end) },
      endAt: { gt: new Date(range.start) },
    };
    const [appointments, availabilities] = await Promise.all([
      this.prisma.appointment.findMany({ where: { ...overlapping, status: { not: 'cancelled' } }, select: { date: true, endAt: true } }),
      this.prisma.availability.findMany({
        where: {
          ...overlapping,
          ...(query.facility ? { facilityId: query.facility } : {}),
          status: 'available',
          locked: false,
          AND: [{ date: { gt: this.now() } }],
        },
        select: { date: true, endAt: true },
      }),
    ]);
    const toInterval = (row: { date: Date; endAt: Date }): Interval => ({ start: row.date.getTime(), end: row.endAt.getTime() });
    const busy = subtractIntervals(appointments.map(toInterval), [], range);
    const free = subtractIntervals(availabilities.map(toInterval), busy, range);
    return {
      provider: query.provider,
      from: new Date(range.start).toISOString(),
      to: new Date(range.end).toISOString(),
      busy: busy.map(intervalView),
      free: free.map(intervalView),
    };
  }

  // ---- changing ----------------------------------------------------------------------------------------------

  /**
   * Creates one availability, several, or the slots of weekly working hours (expanded in the facility's time zone),
   * all or none, publishing availability.opened for each unlocked one. One with the same provider and start as a
   * live availability answers 409.
   */
  async create(
    identity: Identity,
    body: CreateAvailabilitiesBody,
    correlationId: string,
  ): Promise<AvailabilityResponse | AvailabilityResponse[]> {
    const organization = identity.organization;
    const now = this.now();
    const planned =
      'workingHours' in body
        ? await this.expand(identity, body, now)
        : await this.items(identity, Array.isArray(body) ? body : [body], Array.isArray(body) ? 'body.' : 'body', now);
    const startKey = (row: { providerId: string; date: Date }) => `${row.providerId} ${row.date.getTime()}`;
    const created = await this.work
      .run({ correlationId }, async (tx, emit) => {
        const existing = await tx.availability.findMany({
          where: {
            organization,
            deleted: false,
            providerId: { in: [...new Set(planned.map((slot) => slot.row.providerId))] },
            date: { in: planned.map((slot) => slot.row.date) },
          },
          select: { providerId: true, date: true },
        });
        const taken = new Set(existing.map(startKey));
        const clashes = planned.filter((slot) => taken.has(startKey(slot.row)));
        if (clashes.length > 0)
          throw availabilityExists(
            clashes.map((slot) => ({ field: slot.field, message: 'the provider already has an availability starting then' })),
          );
        const rows = await tx.availability.createManyAndReturn({ data: planned.map((slot) => slot.row), include: withTimeZone });
        for (const row of rows) if (!row.locked) slotOpened(emit, row, 'created');
        return rows;
      })
      .catch((error: unknown) => {
        // A concurrent request added one of the starts after the check above.
        if (sqlState(error) === '23505') throw availabilityExists([]);
        throw error;
      });
    const byStart = created.sort((a, b) => a.date.getTime() - b.date.getTime() || a.providerId.localeCompare(b.providerId));
    const answers = byStart.map((row) => toAvailabilityResponse(row, now));
    return Array.isArray(body) || 'workingHours' in body ? answers : answers[0]!;
  }

  /** Rows of explicit availabilities, each checked; `base` is where they are in the body. */
  private async items(identity: Identity, items: AvailabilityItem[], base: string, now: Date) {
    const at = (index: number, field: string) => (base === 'body' ? `body.${field}` : `${base}${index}.${field}`);
    const references = await this.references(identity.organization, items);
    const errors: InvalidField[] = [];
    const seen = new Set<string>();
    const rows = items.map((item, index) => {
      errors.push(...references.errorsOf(item, (field) => at(index, field)));
      const type = item.appointmentType ? references.types.get(item.appointmentType) : undefined;
      const duration = item.duration ?? type?.duration;
      if (duration === undefined && !item.appointmentType)
        errors.push({ field: at(index, 'duration'), message: 'required without an appointment type' });
      const date = new Date(item.date);
      if (date.getTime() <= now.getTime()) errors.push({ field: at(index, 'date'), message: 'must be in the future' });
      const key = `${item.provider} ${date.getTime()}`;
      if (seen.has(key))
        errors.push({ field: at(index, 'date'), message: 'the provider has another availability starting then in this request' });
      seen.add(key);
      return { field: at(index, 'date'), row: newRow(identity, item, date, duration ?? 0) };
    });
    if (errors.length > 0) throw invalidFields(errors);
    return rows;
  }

  /** Rows of the slots of weekly working hours in the facility's time zone; slots already started are left out. */
  private async expand(identity: Identity, body: WorkingHoursBody, now: Date) {
    const references = await this.references(identity.organization, [body]);
    const errors = references.errorsOf(body, (field) => `body.${field}`);
    if (errors.length > 0) throw invalidFields(errors);
    const facility = references.facilities.get(body.facility)!;
    const type = body.appointmentType ? references.types.get(body.appointmentType) : undefined;
    const hours = body.workingHours;
    const slotMinutes = hours.slotMinutes ?? type?.duration;
    if (slotMinutes === undefined)
      throw invalidFields([{ field: 'body.workingHours.slotMinutes', message: 'required without an appointment type' }]);
    if (daysBetween(hours.from, hours.until, facility.timeZone) > MAX_WORKING_DAYS)
      throw invalidFields([{ field: 'body.workingHours.until', message: `at most ${MAX_WORKING_DAYS} days after from` }]);
    const slots = expandWorkingHours({ ...hours, slotMinutes }, facility.timeZone, { after: now.getTime(), limit: MAX_CREATED });
    if (slots.length === 0) throw invalidFields([{ field: 'body.workingHours', message: 'no future slot fits these hours' }]);
    if (slots.length > MAX_CREATED)
      throw invalidFields([{ field: 'body.workingHours', message: `more than ${MAX_CREATED} slots; at most ${MAX_CREATED} per request` }]);
    return slots.map((slot) => ({ field: 'body.workingHours', row: newRow(identity, body, new Date(slot.start), slotMinutes) }));
  }

  /** The live providers, facilities and types some bodies name, and a check naming each field that names none. */
  private async references(
    organization: string,
    bodies: Array<{ provider: string; facility: string; appointmentType?: string | undefined }>,
  ) {
    const live = { organization, deleted: false };
    const unique = (values: Array<string | undefined>) => [...new Set(values.filter((value): value is string => value !== undefined))];
    const [providers, facilities, types] = await Promise.all([
      this.prisma.provider.findMany({ where: { ...live, id: { in: unique(bodies.map((body) => body.provider)) } }, select: { id: true } }),
      this.prisma.facility.findMany({ where: { ...live, id: { in: unique(bodies.map((body) => body.facility)) } } }),
      this.prisma.appointmentType.findMany({ where: { ...live, id: { in: unique(bodies.map((body) => body.appointmentType)) } } }),
    ]);
    const providerIds = new Set(providers.map((provider) => provider.id));
    const result = {
      facilities: new Map(facilities.map((facility) => [facility.id, facility])),
      types: new Map<string, AppointmentType>(types.map((type) => [type.id, type])),
      errorsOf(
        body: { provider: string; facility: string; appointmentType?: string | undefined },
        at: (field: string) => string,
      ): InvalidField[] {
        return [
          ...(providerIds.has(body.provider) ? [] : [{ field: at('provider'), message: 'no such provider' }]),
          ...(result.facilities.has(body.facility) ? [] : [{ field: at('facility'), message: 'no such facility' }]),
          ...(body.appointmentType === undefined || result.types.has(body.appointmentType)
            ? []
            : [{ field: at('appointmentType'), message: 'no such appointment type' }]),
        ];
      },
    };
    return result;
  }

  /**
   * Applies changes to several availabilities under their row locks, all or none. A status change must be allowed
   * by the machine and settable by hand (409 otherwise); a slot held by an offer or an appointment, or expired, is
   * not moved (409). Another organization's id answers 404.
   */
  async update(identity: Identity, changes: AvailabilityChange[], correlationId: string): Promise<AvailabilityResponse[]> {
    const organization = identity.organization;
    const now = this.now();
    const ids = changes.map((change) => change._id);
    const newTypes = [
      ...new Set(changes.map((change) => change.appointmentType).filter((type): type is string => typeof type === 'string')),
    ];
    const types = new Map(
      (await this.prisma.appointmentType.findMany({ where: { organization, deleted: false, id: { in: newTypes } } })).map((type) => [
        type.id,
        type,
      ]),
    );
    const updated = await this.work
      .run({ correlationId }, async (tx, emit) => {
        await tx.$executeRawUnsafe(
          'SELECT 1 FROM "availability" WHERE "id" = ANY($1::uuid[]) AND "organization" = $2::uuid ORDER BY "id" FOR UPDATE',
          ids,
          organization,
        );
        const rows = new Map(
          (await tx.availability.findMany({ where: { id: { in: ids }, organization, deleted: false }, include: withTimeZone })).map(
            (row) => [row.id, row],
          ),
        );
        if (rows.size !== ids.length) throw notFound('availability');
        const errors: InvalidField[] = [];
        const conflicts: InvalidField[] = [];
        const plans = changes.map((change, index) => {
          const current = rows.get(change._id)!;
          const state = effectiveStatus(stateOf(current.status), current.date, now);
          const at = (field: string) => `body.${index}.${field}`;
          if (change.status !== undefined && !canSet(state, change.status))
            conflicts.push({ field: at('status'), message: `${state} → ${change.status} is not allowed` });
          const moves = change.date !== undefined || change.duration !== undefined || change.appointmentType !== undefined;
          if (moves && !BOOKABLE.has(state))
            conflicts.push({
              field: at(change.date !== undefined ? 'date' : change.duration !== undefined ? 'duration' : 'appointmentType'),
              message: `a ${state} availability cannot be changed`,
            });
          if (typeof change.appointmentType === 'string' && !types.has(change.appointmentType))
            errors.push({ field: at('appointmentType'), message: 'no such appointment type' });
          const date = change.date === undefined ? current.date : new Date(change.date);
          if (change.date !== undefined && date.getTime() <= now.getTime())
            errors.push({ field: at('date'), message: 'must be in the future' });
          const duration = change.duration ?? current.duration;
          return { current, state, change, date, duration, field: at('date') };
        });
        if (errors.length > 0) throw invalidFields(errors);
        if (conflicts.length > 0)
          throw new HttpProblem(409, 'invalid-transition', 'The availability cannot be changed that way in the state it is in.', {
            errors: conflicts,
          });
        const results: LocatedAvailability[] = [];
        for (const { current, state, change, date, duration } of plans) {
          const data: Prisma.AvailabilityUncheckedUpdateInput = {
            ...(change.status !== undefined && change.status !== state ? { status: change.status } : {}),
            ...(change.date !== undefined || change.duration !== undefined ? { date, duration, endAt: endOf(date, duration) } : {}),
            ...(change.appointmentType !== undefined ? { appointmentTypeId: change.appointmentType } : {}),
            ...(change.externalId !== undefined ? { externalId: change.externalId } : {}),
            ...(change.locked !== undefined ? { locked: change.locked } : {}),
          };
          if (Object.keys(data).length === 0) {
            results.push(current);
            continue;
          }
          const row = await tx.availability.update({
            where: { id: current.id },
            data: { ...data, updatedBy: identity.user },
            include: withTimeZone,
          });
          const after = effectiveStatus(stateOf(row.status), row.date, now);
          if (after === 'available' && !row.locked && (state !== 'available' || current.locked)) slotOpened(emit, row, 'released');
          if (after === 'booked-by-integrator' && state !== 'booked-by-integrator') slotBooked(emit, row, null);
          results.push(row);
        }
        return results;
      })
      .catch((error: unknown) => {
        if (sqlState(error) === '23505') throw availabilityExists([]);
        throw error;
      });
    return updated.map((row) => toAvailabilityResponse(row, now));
  }

  /**
   * Books an available slot for a patient, as the booking core books one ({@link bookAvailability}): of simultaneous
   * bookings of one slot exactly one wins and the others answer 409; a slot that is not available answers 409 and
   * nothing changes. The patient and type are checked first, outside the transaction.
   */
  async book(identity: Identity, id: string, body: BookAvailabilityBody, correlationId: string): Promise<AvailabilityResponse> {
    const organization = identity.organization;
    const now = this.now();
    const [patient, type] = await Promise.all([
      this.patients.problem(identity, body.patient, 'body.patient', 'write'),
      body.appointmentType
        ? this.prisma.appointmentType.findFirst({ where: { id: body.appointmentType, organization, deleted: false }, select: { id: true } })
        : undefined,
    ]);
    if (patient) throw patientNotFound(patient);
    if (type === null) throw invalidFields([{ field: 'body.appointmentType', message: 'no such appointment type' }]);
    const result = await this.work.run({ correlationId }, (tx, emit) =>
      bookAvailability(tx, emit, { organization, user: identity.user }, id, body, now),
    );
    return toAvailabilityResponse(result, now);
  }
}

// ---- helpers -------------------------------------------------------------------------------------------------

/** A new availability row. */
function newRow(
  identity: Identity,
  body: {
    provider: string;
    facility: string;
    appointmentType?: string | undefined;
    externalId?: string | undefined;
    locked?: boolean | undefined;
  },
  date: Date,
  duration: number,
) {
  return {
    id: randomUUID(),
    organization: identity.organization,
    providerId: body.provider,
    facilityId: body.facility,
    appointmentTypeId: body.appointmentType ?? null,
    date,
    duration,
    endAt: endOf(date, duration),
    externalId: body.externalId ?? null,
    locked: body.locked ?? false,
    createdBy: identity.user,
    updatedBy: identity.user,
  };
}

/** A range as instants in `zone`, checked: from before to, at most {@link MAX_RANGE_DAYS} long. */
function checkedRange(from: RangeBound, to: RangeBound, zone: string): Interval {
  const range = resolveRange(from, to, zone);
  if (!(range.end > range.start)) throw invalidFields([{ field: 'querystring.to', message: 'must be after from' }]);
  // A day longer than 24 hours (DST ends in the range) is the only slack.
  if (range.end - range.start > MAX_RANGE_DAYS * 86_400_000 + 3_600_000)
    throw invalidFields([{ field: 'querystring.to', message: `at most ${MAX_RANGE_DAYS} days after from` }]);
  return range;
}

/** The list filters as a Prisma `where`; a status filter means the state now, so expiry is computed here too. */
function whereOf(organization: string, filters: AvailabilityFilters, now: Date): Prisma.AvailabilityWhereInput {
  const lapsing: AvailabilityState[] = ['available', 'booked-pending', 'offered'];
  let status: Prisma.AvailabilityWhereInput = {};
  if (filters.status === 'expired') status = { OR: [{ status: 'expired' }, { status: { in: lapsing }, date: { lte: now } }] };
  else if (filters.status) {
    status = lapsing.includes(filters.status) ? { status: filters.status, date: { gt: now } } : { status: filters.status };
  }
  return {
    organization,
    deleted: false,
    ...(filters.provider ? { providerId: filters.provider } : {}),
    ...(filters.facility ? { facilityId: filters.facility } : {}),
    ...(filters.appointmentType ? { OR: [{ appointmentTypeId: filters.appointmentType }, { appointmentTypeId: null }] } : {}),
    AND: [status, ...(filters.date ?? []).map((bound) => ({ date: { [bound.op]: bound.at } }))],
  };
}

/** The candidates of open slots as {@link AvailabilityService.openSlotQuery} builds them: `a` is the availability. */
interface OpenSlotQuery {
  from: string;
  where: string;
  values: unknown[];
}

/**
 * Whether a live appointment of the slot's provider overlaps it: a short read of the appointment_live_start index, since
 * an appointment lasts at most a day (appointment_duration_check) and so starts less than a day before the slot.
 */
const LIVE_APPOINTMENT_OVERLAPS = `SELECT 1 FROM "appointment" p
   WHERE p."organization" = a."organization" AND p."provider" = a."provider" AND p."status" <> 'cancelled' AND NOT p."deleted"
     AND p."date" < a."end_at" AND p."date" > a."date" - interval '1440 minutes' AND p."end_at" > a."date"`;

/**
 * An availability's fields with its facility's zone, as one JSON array (instants in epoch milliseconds, as a Date holds
 * them); {@link locatedOf} reads them back in this order.
 */
const OPEN_SLOT_FIELDS = `json_build_array(a."id", a."organization", a."provider", a."facility", a."appointment_type",
  floor(extract(epoch FROM a."date") * 1000)::bigint, a."duration", floor(extract(epoch FROM a."end_at") * 1000)::bigint,
  a."external_id", a."status", a."offer", a."appointment", a."locked", a."deleted", a."created_by", a."updated_by",
  floor(extract(epoch FROM a."created_at") * 1000)::bigint, floor(extract(epoch FROM a."updated_at") * 1000)::bigint, f."time_zone")`;

type OpenSlotFields = [
  id: string,
  organization: string,
  providerId: string,
  facilityId: string,
  appointmentTypeId: string | null,
  date: number,
  duration: number,
  endAt: number,
  externalId: string | null,
  status: Availability['status'],
  offerId: string | null,
  appointmentId: string | null,
  locked: boolean,
  deleted: boolean,
  createdBy: string,
  updatedBy: string,
  createdAt: number,
  updatedAt: number,
  timeZone: string,
];

/** A slot of {@link OPEN_SLOT_FIELDS} as the model the views take. */
function locatedOf(fields: OpenSlotFields): LocatedAvailability {
  const [
    id,
    organization,
    providerId,
    facilityId,
    appointmentTypeId,
    date,
    duration,
    endAt,
    externalId,
    status,
    offerId,
    appointmentId,
    locked,
    deleted,
    createdBy,
    updatedBy,
    createdAt,
    updatedAt,
    timeZone,
  ] = fields;
  return {
    id,
    organization,
    providerId,
    facilityId,
    appointmentTypeId,
    date: new Date(date),
    duration,
    endAt: new Date(endAt),
    externalId,
    status,
    offerId,
    appointmentId,
    locked,
    deleted,
    createdBy,
    updatedBy,
    createdAt: new Date(createdAt),
    updatedAt: new Date(updatedAt),
    facility: { timeZone },
  };
}
