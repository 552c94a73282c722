import { randomUUID } from 'node:crypto';
import { waitlistEntryChangedV1, waitlistRequestedV1 } from '@pep/contracts';
import type { Emit } from '@pep/db';
import { HttpProblem, type Identity, type InvalidField, notFound, pageOf, pageWindow } from '@pep/service-kit';
import type { Db, SchedulingWork } from './events.js';
import type { Prisma, PrismaClient, Waitlist } from './generated/prisma/client.js';
import { patientNotFound, type PatientDirectory } from './patient-directory.js';
import { rankCandidates } from './ranking.js';
import { invalidFields, type ListQuery, type Page } from './schemas.js';
import { toWaitlistResponse, waitlistSnapshot } from './views.js';
import type {
  BulkActionBody,
  CandidateResponse,
  CandidatesBody,
  CreateWaitlistBody,
  UpdateWaitlistBody,
  WaitlistFilters,
  WaitlistResponse,
} from './waitlist.schemas.js';

/** States in which an entry is part of an offer; it can then only leave through the offer. */
export const IN_OFFER: ReadonlySet<string> = new Set(['in-flight', 'offered', 'confirming']);

const inOffer = () =>
  new HttpProblem(409, 'waitlist-entry-in-offer', 'The waitlist entry is part of an offer in progress; cancel its offer first.');

/** Emits the waitlist.entry-changed event of an entry. */
export function entryChanged(emit: Emit, entry: Waitlist, changed: string[]): void {
  emit(waitlistEntryChangedV1, { organization: entry.organization, subject: entry.id, data: waitlistSnapshot(entry, changed) });
}

/** Waitlists: patients waiting for an earlier slot, in order, and the candidates for a freed slot. */
export class WaitlistService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: SchedulingWork,
    private readonly patients: PatientDirectory,
  ) {}

  /** One page of the organization's entries matching the filters, in waitlist order; a patient filter must name one of its patients (404). */
  async list(identity: Identity, query: ListQuery, filters: WaitlistFilters, search?: string): Promise<Page<WaitlistResponse>> {
    if (filters.patient) await this.patients.require(identity, filters.patient, 'querystring.patient', 'read');
    const where = await this.whereOf(identity.organization, filters, search);
    const [rows, total] = await Promise.all([
      this.prisma.waitlist.findMany({ where, orderBy: [{ position: 'asc' }, { createdAt: 'asc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.waitlist.count({ where }),
    ]);
    return pageOf(rows.map(toWaitlistResponse), query, total);
  }

  /** How many of the organization's entries match the filters. */
  async count(identity: Identity, filters: WaitlistFilters, from: 'querystring' | 'body' = 'querystring'): Promise<{ count: number }> {
    if (filters.patient) await this.patients.require(identity, filters.patient, `${from}.patient`, 'read');
    return { count: await this.prisma.waitlist.count({ where: await this.whereOf(identity.organization, filters) }) };
  }

  /** The entries of one provider of the organization; an unknown provider answers 404. */
  async ofProvider(identity: Identity, provider: string, query: ListQuery, filters: WaitlistFilters): Promise<Page<WaitlistResponse>> {
    const found = await this.prisma.provider.findFirst({ where: { id: provider, organization: identity.organization, deleted: false } });
    if (!found) throw notFound('provider');
    return this.list(identity, query, { ...filters, provider });
  }

  /** An entry of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<WaitlistResponse> {
    return toWaitlistResponse(await ownEntry(this.prisma, identity.organization, id));
  }

  /** Adds a patient at the end of the organization's waitlist. */
  async create(identity: Identity, body: CreateWaitlistBody, correlationId: string): Promise<WaitlistResponse> {
    await this.references(identity.organization, body, this.patients.problem(identity, body.patient, 'body.patient', 'write'));
    const entry = await this.work.run({ correlationId }, async (tx, emit) => {
      const last = await tx.waitlist.aggregate({ where: { organization: identity.organization }, _max: { position: true } });
      const created = await tx.waitlist.create({
        data: {
          id: randomUUID(),
          organization: identity.organization,
          patient: body.patient,
          providerId: body.provider ?? null,
          facilityId: body.facility ?? null,
          facilities: body.facilities ?? [],
          appointmentTypeId: body.appointmentType ?? null,
          notes: body.notes ?? null,
          position: (last._max.position ?? 0) + 1,
          createdBy: identity.user,
          updatedBy: identity.user,
        },
      });
      entryChanged(emit, created, ['created']);
      return created;
    });
    return toWaitlistResponse(entry);
  }

  /** Changes what the patient asked for, under the row's lock; a change that changes nothing publishes nothing. */
  async update(identity: Identity, id: string, body: UpdateWaitlistBody, correlationId: string): Promise<WaitlistResponse> {
    await this.references(identity.organization, {
      provider: body.provider ?? undefined,
      facility: body.facility ?? undefined,
      appointmentType: body.appointmentType ?? undefined,
      facilities: body.facilities,
    });
    const entry = await this.work.run({ correlationId }, async (tx, emit) => {
      const current = await ownEntry(tx, identity.organization, id, true);
      const next: Record<string, unknown> = {
        providerId: body.provider === undefined ? current.providerId : body.provider,
        facilityId: body.facility === undefined ? current.facilityId : body.facility,
        facilities: body.facilities ?? current.facilities,
        appointmentTypeId: body.appointmentType === undefined ? current.appointmentTypeId : body.appointmentType,
        notes: body.notes === undefined ? current.notes : body.notes,
      };
      const names: Record<string, string> = {
        providerId: 'provider',
        facilityId: 'facility',
        facilities: 'facilities',
        appointmentTypeId: 'appointmentType',
        notes: 'notes',
      };
      const changed = Object.keys(next).filter(
        (key) => JSON.stringify(next[key]) !== JSON.stringify((current as Record<string, unknown>)[key]),
      );
      if (changed.length === 0) return current;
      const updated = await tx.waitlist.update({ where: { id }, data: { ...next, updatedBy: identity.user } });
      entryChanged(
        emit,
        updated,
        changed.map((key) => names[key]!),
      );
      return updated;
    });
    return toWaitlistResponse(entry);
  }

  /** Deletes an entry softly and answers it; an entry in an offer in progress answers 409. */
  async remove(identity: Identity, id: string, correlationId: string): Promise<WaitlistResponse> {
    const [entry] = await this.bulk(identity, { action: 'remove', ids: [id] }, correlationId);
    return entry!;
  }

  /**
   * Applies one action to many entries, all or nothing: any id that is not a live entry of the organization answers
   * 404, and any entry in an offer in progress 409, before anything changes.
   */
  async bulk(identity: Identity, body: BulkActionBody, correlationId: string): Promise<WaitlistResponse[]> {
    const entries = await this.work.run({ correlationId }, async (tx, emit) => {
      await tx.$executeRawUnsafe(
        'SELECT 1 FROM "waitlist" WHERE "id" = ANY($1::uuid[]) AND "organization" = $2::uuid ORDER BY "id" FOR UPDATE',
        body.ids,
        identity.organization,
      );
      const found = await tx.waitlist.findMany({ where: { id: { in: body.ids }, organization: identity.organization, deleted: false } });
      if (found.length !== body.ids.length) throw notFound('waitlist entry');
      if (found.some((entry) => IN_OFFER.has(entry.status))) throw inOffer();
      const byId = new Map(found.map((entry) => [entry.id, entry]));
      const results: Waitlist[] = [];
      for (const id of body.ids) {
        const entry = byId.get(id)!;
        const data = actionData(body.action, entry);
        if (!data) {
          results.push(entry);
          continue;
        }
        const updated = await tx.waitlist.update({ where: { id }, data: { ...data, updatedBy: identity.user } });
        entryChanged(emit, updated, data.deleted ? ['deleted'] : ['status']);
        results.push(updated);
      }
      return results;
    });
    return entries.map(toWaitlistResponse);
  }

  /**
   * Moves entry `id` of a provider's waitlist to where `replacedId` is, shifting the entries between them by one.
   * The provider's entries keep the positions they held between them, so their order among other providers' entries
   * is kept too.
   */
  async move(identity: Identity, providerId: string, id: string, replacedId: string, correlationId: string): Promise<WaitlistResponse[]> {
    const entries = await this.work.run({ correlationId }, async (tx, emit) => {
      await tx.$executeRawUnsafe(
        'SELECT 1 FROM "waitlist" WHERE "organization" = $1::uuid AND "provider" = $2::uuid AND NOT "deleted" ORDER BY "id" FOR UPDATE',
        identity.organization,
        providerId,
      );
      const list = await tx.waitlist.findMany({
        where: { organization: identity.organization, providerId, deleted: false },
        orderBy: [{ position: 'asc' }, { createdAt: 'asc' }, { id: 'asc' }],
      });
      const from = list.findIndex((entry) => entry.id === id);
      const to = list.findIndex((entry) => entry.id === replacedId);
      if (from < 0 || to < 0) throw notFound('waitlist entry');
      if (from === to) return list;
      const positions = list.map((entry) => entry.position);
      const reordered = [...list];
      const [moved] = reordered.splice(from, 1);
      reordered.splice(to, 0, moved!);
      const result: Waitlist[] = [];
      for (const [index, entry] of reordered.entries()) {
        const position = positions[index]!;
        if (entry.position === position) {
          result.push(entry);
          continue;
        }
        const updated = await tx.waitlist.update({ where: { id: entry.id }, data: { position, updatedBy: identity.user } });
        entryChanged(emit, updated, ['position']);
        result.push(updated);
      }
      return result;
    });
    return entries.map(toWaitlistResponse);
  }

  /** The waiting entries that fit a slot, ranked as an offer of it would rank them, each with the reasons. */
  async candidates(identity: Identity, body: CandidatesBody): Promise<{ response: CandidateResponse[]; total: number }> {
    const type = await this.prisma.appointmentType.findFirst({
      where: { id: body.appointmentType, organization: identity.organization, deleted: false },
    });
    await this.references(identity.organization, {
      provider: body.provider,
      facility: body.facility,
      appointmentType: body.appointmentType,
    });
    const ranked = await rankCandidates(
      this.prisma,
      {
        organization: identity.organization,
        provider: body.provider,
        facility: body.facility,
        appointmentType: body.appointmentType,
        date: new Date(body.date),
        duration: body.duration ?? type!.duration,
      },
      body.limit,
    );
    const rows = await this.prisma.waitlist.findMany({ where: { id: { in: ranked.map((entry) => entry.id) } } });
    const byId = new Map(rows.map((row) => [row.id, row]));
    const response = ranked.map((candidate, index): CandidateResponse => {
      const entry = byId.get(candidate.id)!;
      return {
        rank: index + 1,
        score: candidate.score,
        match: {
          provider: candidate.sameProvider ? 'same' : 'any',
          facility: candidate.listedFacility ? 'listed' : 'any',
          appointmentType: candidate.sameType ? 'same' : 'any',
        },
        reasons: [
          candidate.sameProvider ? 'asked for this provider (+4)' : 'any provider (+0)',
          candidate.listedFacility ? 'asked for this facility (+2)' : 'any facility (+0)',
          candidate.sameType ? 'asked for this appointment type (+1)' : 'any appointment type (+0)',
          `match score ${candidate.score}; ties broken by waitlist position ${entry.position}`,
          `then by time waiting: on the waitlist since ${entry.createdAt.toISOString()}`,
        ],
        waitlist: toWaitlistResponse(entry),
      };
    });
    return { response, total: response.length };
  }

  /** Filters as a Prisma where; `search` matches the notes or the name of the provider asked for. */
  private async whereOf(organization: string, filters: WaitlistFilters, search?: string): Promise<Prisma.WaitlistWhereInput> {
    const and: Prisma.WaitlistWhereInput[] = [];
    if (filters.facility) and.push({ OR: [{ facilityId: filters.facility }, { facilities: { has: filters.facility } }] });
    if (filters.createdAt) and.push(...filters.createdAt.map((bound) => ({ createdAt: { [bound.op]: bound.at } })));
    if (search) {
      for (const term of search.split(/\s+/).filter(Boolean).slice(0, 5)) {
        const escaped = term.replace(/[\\%_]/g, '\\$&');
        const providers = await this.prisma.provider.findMany({
          where: {
            organization,
            OR: ['firstname', 'lastname', 'middlename', 'alternativeName'].map((field) => ({
              [field]: { contains: escaped, mode: 'insensitive' },
            })),
          },
          select: { id: true },
          take: 100,
        });
        and.push({
          OR: [{ notes: { contains: escaped, mode: 'insensitive' } }, { providerId: { in: providers.map((provider) => provider.id) } }],
        });
      }
    }
    const statuses = filters.statuses ?? (filters.status ? [filters.status] : undefined);
    return {
      organization,
      deleted: false,
      ...(statuses ? { status: { in: statuses } } : {}),
      ...(filters.patient ? { patient: filters.patient } : {}),
      ...(filters.provider ? { providerId: filters.provider } : {}),
      ...(filters.appointmentType ? { appointmentTypeId: filters.appointmentType } : {}),
      ...(and.length > 0 ? { AND: and } : {}),
    };
  }

  /** A 400 naming every provider, facility or type the body names that is not a live record of the organization; a 404 naming the patient field first when the patient is not the caller's. */
  private async references(
    organization: string,
    body: {
      provider?: string | undefined;
      facility?: string | undefined;
      facilities?: string[] | undefined;
      appointmentType?: string | undefined;
    },
    patientCheck: Promise<InvalidField | null> = Promise.resolve(null),
  ) {
    const live = { organization, deleted: false };
    const facilities = [...new Set([...(body.facility ? [body.facility] : []), ...(body.facilities ?? [])])];
    const [patient, provider, foundFacilities, type] = await Promise.all([
      patientCheck,
      body.provider === undefined ? undefined : this.prisma.provider.findFirst({ where: { ...live, id: body.provider } }),
      facilities.length === 0 ? [] : this.prisma.facility.findMany({ where: { ...live, id: { in: facilities } }, select: { id: true } }),
      body.appointmentType === undefined
        ? undefined
        : this.prisma.appointmentType.findFirst({ where: { ...live, id: body.appointmentType } }),
    ]);
    const known = new Set(foundFacilities.map((facility) => facility.id));
    if (patient) throw patientNotFound(patient);
    const errors: InvalidField[] = [];
    if (provider === null) errors.push({ field: 'body.provider', message: 'no such provider' });
    if (body.facility && !known.has(body.facility)) errors.push({ field: 'body.facility', message: 'no such facility' });
    if ((body.facilities ?? []).some((id) => !known.has(id))) errors.push({ field: 'body.facilities', message: 'no such facility' });
    if (type === null) errors.push({ field: 'body.appointmentType', message: 'no such appointment type' });
    if (errors.length > 0) throw invalidFields(errors);
  }
}

/**
 * Puts a patient who replied WAITLIST on the waitlist for the provider, facility and type of the appointment the reply
 * referred to, inside the reply's transaction; null when that is not the patient's appointment. A patient already
 * waiting for the same gets no second entry (a declined one waits again), so a repeated reply changes nothing.
 * Publishes waitlist.requested either way, which messaging answers.
 */
export async function joinWaitlistFromReply(
  tx: Db,
  emit: Emit,
  reply: { organization: string; patient: string; appointment: string },
): Promise<Waitlist | null> {
  const { organization, patient } = reply;
  const appointment = await tx.appointment.findFirst({ where: { id: reply.appointment, organization, patient, deleted: false } });
  if (!appointment) return null;
  // Two WAITLIST replies handled at once (two consumers after a rebalance) must not both find no entry and add one.
  await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(hashtext('waitlist-reply:' || $1))`, patient);
  const same = {
    organization,
    patient,
    providerId: appointment.providerId,
    facilityId: appointment.facilityId,
    appointmentTypeId: appointment.typeId,
    deleted: false,
  };
  const existing = await tx.waitlist.findFirst({ where: { ...same, status: { not: 'accepted' } }, orderBy: { position: 'asc' } });
  const user = `patient:${patient}`;
  let entry: Waitlist;
  if (existing) {
    entry =
      existing.status === 'declined'
        ? await tx.waitlist.update({ where: { id: existing.id }, data: { status: 'waiting', updatedBy: user } })
        : existing;
    if (entry !== existing) entryChanged(emit, entry, ['status']);
  } else {
    const last = await tx.waitlist.aggregate({ where: { organization }, _max: { position: true } });
    entry = await tx.waitlist.create({
      data: {
        id: randomUUID(),
        organization,
        patient,
        providerId: appointment.providerId,
        facilityId: appointment.facilityId,
        appointmentTypeId: appointment.typeId,
        position: (last._max.position ?? 0) + 1,
        createdBy: user,
        updatedBy: user,
      },
    });
    entryChanged(emit, entry, ['created']);
  }
  emit(waitlistRequestedV1, {
    organization,
    subject: entry.id,
    data: {
      _id: entry.id,
      patient,
      appointment: appointment.id,
      provider: entry.providerId,
      facility: entry.facilityId,
      appointmentType: entry.appointmentTypeId,
      created: existing === null,
    },
  });
  return entry;
}

/** The caller's organization's live entry, locked for the rest of the transaction when asked; 404 otherwise. */
export async function ownEntry(db: Db, organization: string, id: string, lock = false): Promise<Waitlist> {
  if (lock)
    await db.$executeRawUnsafe('SELECT 1 FROM "waitlist" WHERE "id" = $1::uuid AND "organization" = $2::uuid FOR UPDATE', id, organization);
  const entry = await db.waitlist.findFirst({ where: { id, organization, deleted: false } });
  if (!entry) throw notFound('waitlist entry');
  return entry;
}

/** What a bulk action changes on one entry, or null when it leaves it as it is. */
function actionData(action: BulkActionBody['action'], entry: Waitlist): { deleted?: true; status?: Waitlist['status'] } | null {
  if (action === 'remove') return { deleted: true };
  if (action === 'activate') return entry.status === 'pending' || entry.status === 'declined' ? { status: 'waiting' } : null;
  return entry.status === 'waiting' || entry.status === 'declined' ? { status: 'pending' } : null;
}
