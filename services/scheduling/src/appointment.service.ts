import {
  appointmentCompletedV1,
  appointmentConfirmedV1,
  appointmentNoShowV1,
  appointmentRescheduledV1,
  appointmentUpdatedV1,
  type appointmentOutcomes,
} from '@pep/contracts';
import type { Emit } from '@pep/db';
import {
  dateBoundsWhere,
  HttpProblem,
  rootAccountOf,
  type Identity,
  type InvalidField,
  notFound,
  type OwnerLookup,
  pageOf,
  pageWindow,
} from '@pep/service-kit';
import type {
  AppointmentListQuery,
  AppointmentResponse,
  CreateAppointmentBody,
  SummaryQuery,
  SummaryResponse,
  UpdateAppointmentBody,
} from './appointment.schemas.js';
import {
  bookAppointment,
  cancelAppointment,
  deleteAppointment,
  endOf,
  reopenSlotOf,
  slotTaken,
  withTimeZone,
  type Actor,
  type LocatedAppointment,
} from './booking-core.js';
import type { Db, SchedulingWork, Tx } from './events.js';
import type { AppointmentType, Facility, Prisma, PrismaClient, Provider } from './generated/prisma/client.js';
import { allowsDoubleBooking, defaultAppointmentDuration } from './organization-setting.js';
import { patientNotFound, type PatientDirectory } from './patient-directory.js';
import { invalidFields, sqlState, type ListQuery, type Page } from './schemas.js';
import { appointmentSnapshot, toAppointmentResponse } from './views.js';

const cancelledAppointment = () => new HttpProblem(409, 'appointment-cancelled', 'The appointment is cancelled; book a new one instead.');

const notStarted = () =>
  new HttpProblem(409, 'appointment-not-started', 'The appointment has not started yet; record its outcome once it has.', {
    errors: [{ field: 'body.outcome', message: 'only once the appointment has started' }],
  });

/** What became of an appointment once it started. */
type Outcome = (typeof appointmentOutcomes)[number];

/** Fields whose change moves an appointment: reminders planned for the old slot are void. */
const MOVING = new Set(['date', 'duration', 'provider', 'facility']);

/** Filters of the appointment lists and the summary. */
type Filters = Omit<AppointmentListQuery, 'page' | 'limit'>;

/** Appointments: booking without double booking, moving, confirming, cancelling, and the lists of the v1 API. */
export class AppointmentService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: SchedulingWork,
    private readonly patients: PatientDirectory,
    /** Auth's owner lookup, asked whether a booking's v1 `user` is another user of the caller's organization. */
    private readonly users?: OwnerLookup,
    /** Now: an outcome is recorded only once the appointment started. */
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** One page of the organization's appointments matching the filters, soonest first; a patient filter must name one of its patients (404). */
  async list(identity: Identity, query: ListQuery & Filters): Promise<Page<AppointmentResponse>> {
    if (query.patient) await this.patients.require(identity, query.patient, 'querystring.patient', 'read');
    return this.page(identity, query);
  }

  /** One page of a patient's appointments; 404 when the patient is not one of the organization's. */
  async ofPatient(identity: Identity, patient: string, query: ListQuery & Omit<Filters, 'patient'>): Promise<Page<AppointmentResponse>> {
    await this.patients.requirePath(identity, patient);
    return this.page(identity, { ...query, patient });
  }

  private async page(identity: Identity, query: ListQuery & Filters): Promise<Page<AppointmentResponse>> {
    const where = whereOf(identity.organization, query);
    const [rows, total] = await Promise.all([
      this.prisma.appointment.findMany({ where, orderBy: [{ date: 'asc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.appointment.count({ where }),
    ]);
    return pageOf(rows.map(toAppointmentResponse), query, total);
  }

  /** Counts of the organization's appointments by status, over the filters (typically a date range). */
  async summary(identity: Identity, query: SummaryQuery): Promise<SummaryResponse> {
    const groups = await this.prisma.appointment.groupBy({
      by: ['status'],
      where: whereOf(identity.organization, query),
      _count: { _all: true },
    });
    const counts = { unconfirmed: 0, confirmed: 0, cancelled: 0 };
    for (const group of groups) counts[group.status] = group._count._all;
    return { total: counts.unconfirmed + counts.confirmed + counts.cancelled, ...counts };
  }

  /** An appointment of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<AppointmentResponse> {
    return toAppointmentResponse(await this.own(this.prisma, identity, id));
  }

  /**
   * Books an appointment through the booking core ({@link bookAppointment}). The exclusion constraint decides whether
   * the provider is free, so of two concurrent bookings of one slot exactly one commits and the other answers 409.
   */
  async create(identity: Identity, body: CreateAppointmentBody, correlationId: string): Promise<AppointmentResponse> {
    if (body.user !== undefined) await this.requireUser(identity, body.user);
    const { facility, type } = await this.references(identity, body);
    const date = new Date(body.date);
    const duration = body.duration ?? type?.duration ?? (await defaultAppointmentDuration(this.prisma, identity.organization));
    const booking = {
      patient: body.patient,
      provider: body.provider,
      facility: body.facility,
      type: body.type ?? null,
      date,
      duration,
      source: body.source ?? 'ui',
      status: body.status ?? 'unconfirmed',
      referral: body.referral ?? null,
    } as const;
    const created = await this.work.run({ correlationId }, (tx, emit) =>
      bookAppointment(tx, emit, actorOf(identity), booking, facility!.timeZone),
    );
    return toAppointmentResponse(created);
  }

  /**
   * Changes provider, facility, type, date, duration or referral under the row's lock. A move publishes
   * appointment.rescheduled with what it was before; a type or referral change alone publishes appointment.updated; no
   * change publishes nothing.
   */
  async update(identity: Identity, id: string, body: UpdateAppointmentBody, correlationId: string): Promise<AppointmentResponse> {
    await this.references(identity, body);
    const result = await this.slotGuarded(() =>
      this.work.run({ correlationId }, async (tx, emit) => {
        const current = await this.own(tx, identity, id, true);
        if (current.status === 'cancelled') throw cancelledAppointment();
        const next = {
          provider: body.provider ?? current.providerId,
          facility: body.facility ?? current.facilityId,
          type: body.type ?? current.typeId,
          date: body.date === undefined ? current.date : new Date(body.date),
          duration: body.duration ?? current.duration,
          referral: body.referral === undefined ? current.referral : body.referral,
        };
        const changed = [
          ...(next.provider !== current.providerId ? ['provider'] : []),
          ...(next.facility !== current.facilityId ? ['facility'] : []),
          ...(next.type !== current.typeId ? ['type'] : []),
          ...(next.date.getTime() !== current.date.getTime() ? ['date'] : []),
          ...(next.duration !== current.duration ? ['duration'] : []),
          ...(next.referral !== current.referral ? ['referral'] : []),
        ];
        // The same outcome again changes nothing; another one (a no-show who came late) replaces it.
        const outcome = body.outcome !== undefined && body.outcome !== current.outcome ? body.outcome : null;
        if (outcome && next.date.getTime() > this.now().getTime()) throw notStarted();
        if (changed.length === 0) return outcome ? recordOutcome(tx, emit, current, outcome, identity.user, this.now()) : current;
        const moved = changed.some((field) => MOVING.has(field));
        const updated = await tx.appointment.update({
          where: { id },
          data: {
            providerId: next.provider,
            facilityId: next.facility,
            typeId: next.type,
            date: next.date,
            duration: next.duration,
            endAt: endOf(next.date, next.duration),
            referral: next.referral,
            // A moved appointment is booked anew, under the organization's rule of today.
            ...(moved ? { allowOverlap: await allowsDoubleBooking(tx, identity.organization) } : {}),
            updatedBy: identity.user,
          },
          include: withTimeZone,
        });
        const snapshot = appointmentSnapshot(updated, updated.facility.timeZone);
        // The slot an availability booked for it is free once it is elsewhere.
        if (
          next.provider !== current.providerId ||
          next.facility !== current.facilityId ||
          next.date.getTime() !== current.date.getTime()
        ) {
          await reopenSlotOf(tx, emit, updated, actorOf(identity));
        }
        const about = { organization: updated.organization, subject: updated.id };
        if (moved)
          emit(appointmentRescheduledV1, {
            ...about,
            data: {
              ...snapshot,
              changed,
              previous: {
                date: current.date.toISOString(),
                duration: current.duration,
                provider: current.providerId,
                facility: current.facilityId,
                timeZone: current.facility.timeZone,
              },
            },
          });
        else emit(appointmentUpdatedV1, { ...about, data: { ...snapshot, changed } });
        return outcome ? recordOutcome(tx, emit, updated, outcome, identity.user, this.now()) : updated;
      }),
    );
    return toAppointmentResponse(result);
  }

  /** Confirms an appointment; confirming it again changes nothing, and a cancelled one cannot be confirmed (409). */
  confirm(identity: Identity, id: string, correlationId: string): Promise<AppointmentResponse> {
    return this.transition(identity, id, correlationId, async (tx, emit, current, actor) => {
      if (current.status === 'cancelled') throw cancelledAppointment();
      if (current.status === 'confirmed') return null;
      const confirmed = await tx.appointment.update({
        where: { id },
        data: { status: 'confirmed', updatedBy: actor.user },
        include: withTimeZone,
      });
      emit(appointmentConfirmedV1, {
        organization: confirmed.organization,
        subject: confirmed.id,
        data: appointmentSnapshot(confirmed, confirmed.facility.timeZone),
      });
      return confirmed;
    });
  }

  /** Cancels an appointment, freeing its slot; cancelling it again changes nothing. */
  cancel(identity: Identity, id: string, correlationId: string): Promise<AppointmentResponse> {
    return this.transition(identity, id, correlationId, (tx, emit, current, actor) =>
      current.status === 'cancelled' ? Promise.resolve(null) : cancelAppointment(tx, emit, actor, current),
    );
  }

  /** Deletes an appointment softly and answers it; its slot is free and it answers 404 from then on. */
  remove(identity: Identity, id: string, correlationId: string): Promise<AppointmentResponse> {
    return this.transition(identity, id, correlationId, (tx, emit, current, actor) => deleteAppointment(tx, emit, actor, current));
  }

  /**
   * Applies a state change decided on the locked row; `apply` answers null when there is nothing to do, or the row
   * after the change it wrote with its events. Called while a consumer handles an event (a patient's reply), it joins
   * the consumer's transaction, so the change commits with the inbox record.
   */
  private async transition(
    identity: Identity,
    id: string,
    correlationId: string,
    apply: (tx: Tx, emit: Emit, current: LocatedAppointment, actor: Actor) => Promise<LocatedAppointment | null>,
  ): Promise<AppointmentResponse> {
    const result = await this.work.run({ correlationId }, async (tx, emit) => {
      const current = await this.own(tx, identity, id, true);
      return (await apply(tx, emit, current, actorOf(identity))) ?? current;
    });
    return toAppointmentResponse(result);
  }

  /**
   * A v1 `user` other than the organization or the caller is accepted when auth says it is a user of the caller's
   * organization; it never selects a tenant. Auth unreachable answers 503 (the lookup's problem), never a blind accept.
   */
  private async requireUser(identity: Identity, user: string): Promise<void> {
    if (namesCaller(identity, user)) return;
    if (!this.users || !(await this.users.exists(identity, 'user', user))) throw userNotFound();
  }

  /**
   * The live provider, facility and type the body names, each of the caller's organization (a 400 naming every field
   * that names none: another organization's record looks like no record), and its patient a live one of the
   * organization (404 naming the field otherwise, as for every other service's record).
   */
  private async references(identity: Identity, body: { patient?: string; provider?: string; facility?: string; type?: string }) {
    const live = { organization: identity.organization, deleted: false };
    const [patient, provider, facility, type] = await Promise.all([
      body.patient === undefined ? null : this.patients.problem(identity, body.patient, 'body.patient', 'write'),
      body.provider === undefined ? undefined : this.prisma.provider.findFirst({ where: { ...live, id: body.provider } }),
      body.facility === undefined ? undefined : this.prisma.facility.findFirst({ where: { ...live, id: body.facility } }),
      body.type === undefined ? undefined : this.prisma.appointmentType.findFirst({ where: { ...live, id: body.type } }),
    ]);
    if (patient) throw patientNotFound(patient);
    const errors: InvalidField[] = [];
    if (provider === null) errors.push({ field: 'body.provider', message: 'no such provider' });
    if (facility === null) errors.push({ field: 'body.facility', message: 'no such facility' });
    if (type === null) errors.push({ field: 'body.type', message: 'no such appointment type' });
    if (errors.length > 0) throw invalidFields(errors);
    return {
      provider: provider as Provider | undefined,
      facility: facility as Facility | undefined,
      type: type as AppointmentType | undefined,
    };
  }

  /** Runs a write that may book a slot, answering 409 when the database finds the provider busy. */
  private async slotGuarded<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      // A move meets the no-overlap constraint as a booking does.
      if (sqlState(error) === '23P01') throw slotTaken();
      throw error;
    }
  }

  /** The caller's organization's live appointment, locked for the rest of the transaction when asked; 404 otherwise. */
  private async own(db: Db, identity: Identity, id: string, lock = false): Promise<LocatedAppointment> {
    if (lock)
      await db.$executeRawUnsafe(
        'SELECT 1 FROM "appointment" WHERE "id" = $1::uuid AND "organization" = $2::uuid FOR UPDATE',
        id,
        identity.organization,
      );
    const appointment = await db.appointment.findFirst({
      where: { id, organization: identity.organization, deleted: false },
      include: withTimeZone,
    });
    if (!appointment) throw notFound('appointment');
    return appointment;
  }
}

/** Whether a body's v1 `user` names the caller's tenant root (the organization) or the caller, known without asking auth; see ADR 0022. */
function namesCaller(identity: Identity, user: string): boolean {
  return user === rootAccountOf(identity.organization) || user === identity.user;
}

function userNotFound(): HttpProblem {
  return new HttpProblem(404, 'not-found', 'No such user in the organization.', {
    errors: [{ field: 'body.user', message: "the organization's id or the id of one of its users" }],
  });
}

/** Records an appointment's outcome and stages appointment.no-show or appointment.completed. */
async function recordOutcome(tx: Tx, emit: Emit, appointment: LocatedAppointment, outcome: Outcome, user: string, at: Date) {
  const recorded = await tx.appointment.update({
    where: { id: appointment.id },
    data: { outcome, outcomeAt: at, updatedBy: user },
    include: withTimeZone,
  });
  emit(outcome === 'no-show' ? appointmentNoShowV1 : appointmentCompletedV1, {
    organization: recorded.organization,
    subject: recorded.id,
    data: { ...appointmentSnapshot(recorded, recorded.facility.timeZone), outcomeAt: at.toISOString() },
  });
  return recorded;
}

/** The caller of a route as the booking core's actor. */
function actorOf(identity: Identity): Actor {
  return { organization: identity.organization, user: identity.user };
}

function whereOf(organization: string, filters: Filters): Prisma.AppointmentWhereInput {
  return {
    organization,
    deleted: false,
    ...(filters.patient ? { patient: filters.patient } : {}),
    ...(filters.provider ? { providerId: filters.provider } : {}),
    ...(filters.facility ? { facilityId: filters.facility } : {}),
    ...(filters.type ? { typeId: filters.type } : {}),
    ...(filters.status ? { status: filters.status } : {}),
    ...dateBoundsWhere('date', filters.date),
  };
}
