import { randomUUID } from 'node:crypto';
import { dateBoundsWhere, HttpProblem, type Identity, notFound, pageOf, pageWindow } from '@pep/service-kit';
import type { Prisma, PrismaClient, Reminder } from './generated/prisma/client.js';
import {
  reminderStatuses,
  type CreateReminderBody,
  type ReminderListQuery,
  type ReminderResponse,
  type ReminderSummaryResponse,
  type UpdateReminderBody,
} from './reminder.schemas.js';
import type { References } from './references.js';
import { invalidFields, type ListQuery, type Page } from './schemas.js';
import { reminderTypeOf, toReminderResponse } from './views.js';

type Filters = Omit<ReminderListQuery, 'page' | 'limit'>;

const notChangeable = () => new HttpProblem(409, 'reminder-not-scheduled', 'Only a reminder that has not been sent can be changed.');

/** Reminders: the lists and reports of the v1 API, and the ones staff plan or change by hand. */
export class ReminderService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly clock: () => Date,
    private readonly references: References,
    /** Called after a reminder was committed `scheduled`, so the dispatcher sends one due now at once (ADR 0027). */
    private readonly scheduledWritten: () => void,
  ) {}

  /**
   * One page of the organization's reminders matching the filters, soonest first. A patient or appointment filter
   * must name the organization's record (404 otherwise), so another organization's id is not answered as an empty list.
   */
  async list(
    identity: Identity,
    query: ListQuery & Filters,
    filterField: 'querystring' | 'params.id' = 'querystring',
  ): Promise<Page<ReminderResponse>> {
    await this.checkFilters(identity, query, filterField);
    const where = whereOf(identity.organization, query);
    const [rows, total] = await Promise.all([
      this.prisma.reminder.findMany({ where, orderBy: [{ sendAt: 'asc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.reminder.count({ where }),
    ]);
    return pageOf(rows.map(toReminderResponse), query, total);
  }

  /** Counts of the organization's reminders by status over the filters (typically a sendAt range). */
  async summary(identity: Identity, query: Filters): Promise<ReminderSummaryResponse> {
    await this.checkFilters(identity, query, 'querystring');
    const groups = await this.prisma.reminder.groupBy({
      by: ['status'],
      where: whereOf(identity.organization, query),
      _count: { _all: true },
    });
    const counts = Object.fromEntries(reminderStatuses.map((status) => [status, 0])) as Record<(typeof reminderStatuses)[number], number>;
    for (const group of groups) counts[group.status] = group._count._all;
    return { total: Object.values(counts).reduce((sum, count) => sum + count, 0), ...counts };
  }

  /** A reminder of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<ReminderResponse> {
    return toReminderResponse(await this.own(identity, id));
  }

  /**
   * Plans a reminder by hand. The patient, the appointment and the template must be the organization's (404 naming the
   * field); a patient or appointment their owner vouches for but messaging has not heard of yet is planned anyway.
   */
  async create(identity: Identity, body: CreateReminderBody): Promise<ReminderResponse> {
    const { contact, appointment } = await this.references.patientAndAppointment(identity, body);
    if (body.messageTemplate) await this.references.template(identity, body.messageTemplate, 'body.messageTemplate');
    const blocked = contact !== null && (contact.doNotContact || contact.optedOutAt !== null);
    const sendAt = new Date(body.sendAt);
    const reminder = await this.prisma.reminder.create({
      data: {
        id: randomUUID(),
        organization: identity.organization,
        patient: body.patient,
        appointment: body.appointment ?? null,
        provider: appointment?.provider ?? null,
        facility: appointment?.facility ?? null,
        type: reminderTypeOf(body.type ?? 'appointment'),
        channel: body.channel ?? null,
        sendAt,
        messageTemplate: body.messageTemplate ?? null,
        text: body.text ?? null,
        forcedTime: body.forcedTime ?? false,
        status: blocked ? 'blocked' : 'scheduled',
        statusReason: blocked ? 'do-not-contact' : null,
        createdBy: identity.user,
        updatedBy: identity.user,
      },
    });
    if (reminder.status === 'scheduled') this.scheduledWritten();
    return toReminderResponse(reminder);
  }

  /** Changes a reminder that is not sent yet (scheduled, blocked or skipped); others answer 409. */
  async update(identity: Identity, id: string, body: UpdateReminderBody): Promise<ReminderResponse> {
    await this.own(identity, id);
    if (body.messageTemplate) await this.references.template(identity, body.messageTemplate, 'body.messageTemplate');
    const updated = await this.prisma.$transaction(async (tx) => {
      const current = await this.own(identity, id, tx);
      if (!['scheduled', 'blocked', 'skipped'].includes(current.status)) throw notChangeable();
      const data: Prisma.ReminderUpdateInput = { updatedBy: identity.user };
      if (body.sendAt !== undefined) Object.assign(data, { sendAt: new Date(body.sendAt), retryAt: null });
      if (body.channel !== undefined) data.channel = body.channel;
      if (body.messageTemplate !== undefined) data.messageTemplate = body.messageTemplate;
      if (body.text !== undefined) data.text = body.text;
      if (body.forcedTime !== undefined) data.forcedTime = body.forcedTime;
      if (body.status === 'skipped') Object.assign(data, { status: 'skipped', statusReason: 'skipped-by-staff' });
      if (body.status === 'scheduled' && current.status !== 'scheduled') {
        const contact = await tx.patientContact.findFirst({ where: { id: current.patient, organization: identity.organization } });
        if (contact && (contact.doNotContact || contact.optedOutAt))
          throw new HttpProblem(409, 'do-not-contact', 'The patient must not be contacted.');
        if ((body.sendAt ? new Date(body.sendAt) : current.sendAt) < this.clock())
          throw invalidFields([{ field: 'body.sendAt', message: 'in the past' }]);
        Object.assign(data, { status: 'scheduled', statusReason: null });
      }
      // Applies only if no dispatcher claimed the reminder since it was read.
      const changed = await tx.reminder.updateMany({
        where: { id, status: current.status },
        data: data as Prisma.ReminderUpdateManyMutationInput,
      });
      if (changed.count === 0) throw notChangeable();
      return tx.reminder.findUniqueOrThrow({ where: { id } });
    });
    // Moved to now, or put back: a round takes it at once rather than at the next poll.
    if (updated.status === 'scheduled') this.scheduledWritten();
    return toReminderResponse(updated);
  }

  /** Deletes a reminder softly; one not sent yet is skipped so it never goes out. */
  async remove(identity: Identity, id: string): Promise<ReminderResponse> {
    const current = await this.own(identity, id);
    const pending = current.status === 'scheduled' || current.status === 'blocked';
    const updated = await this.prisma.reminder.update({
      where: { id },
      data: { deleted: true, updatedBy: identity.user, ...(pending ? { status: 'skipped', statusReason: 'deleted' } : {}) },
    });
    return toReminderResponse(updated);
  }

  private async checkFilters(identity: Identity, filters: Filters, field: 'querystring' | 'params.id'): Promise<void> {
    // History of a deleted patient or appointment stays readable.
    const options = { allowDeleted: true };
    await Promise.all([
      filters.patient
        ? this.references.patient(identity, filters.patient, field === 'params.id' ? field : 'querystring.patient', options)
        : null,
      filters.appointment
        ? this.references.appointment(identity, filters.appointment, field === 'params.id' ? field : 'querystring.appointment', options)
        : null,
    ]);
  }

  private async own(identity: Identity, id: string, db: Prisma.TransactionClient | PrismaClient = this.prisma): Promise<Reminder> {
    const reminder = await db.reminder.findFirst({ where: { id, organization: identity.organization, deleted: false } });
    if (!reminder) throw notFound('reminder');
    return reminder;
  }
}

function whereOf(organization: string, filters: Filters): Prisma.ReminderWhereInput {
  return {
    organization,
    deleted: false,
    ...(filters.patient ? { patient: filters.patient } : {}),
    ...(filters.appointment ? { appointment: filters.appointment } : {}),
    ...(filters.status ? { status: filters.status } : {}),
    ...(filters.type ? { type: reminderTypeOf(filters.type) } : {}),
    ...dateBoundsWhere('sendAt', filters.sendAt),
  };
}
