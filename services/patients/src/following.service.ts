import { randomUUID } from 'node:crypto';
import { type Identity, notFound, pageOf, pageWindow } from '@pep/service-kit';
import type { PrismaClient } from './generated/prisma/client.js';
import type { PatientsWork } from './events.js';
import { publishPatientChange } from './patient-changes.js';
import { findPatient, live, lockPatients, pagePatients, withSubscribers, type Db, type PatientRecord } from './patient.repository.js';
import type { ListQuery } from './patient.schemas.js';
import { mergedAway } from './patient.service.js';
import { toPatientResponse } from './views.js';

/** How many recently viewed patients are kept per user. */
export const RECENT_LIMIT = 20;

/** What staff keep for themselves about patients: the ones they follow and the ones they opened lately. */
export class FollowingService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: PatientsWork,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Adds the caller to the patient's subscribers; patient.updated (subscribers) when they were not following yet. */
  follow(identity: Identity, id: string, correlationId: string) {
    return this.changeSubscription(identity, id, correlationId, async (tx) => {
      const inserted = await tx.patientSubscriber.createMany({
        data: [{ id: randomUUID(), organization: identity.organization, patientId: id, user: identity.user }],
        skipDuplicates: true,
      });
      return inserted.count > 0;
    });
  }

  /** Removes the caller from the patient's subscribers; patient.updated (subscribers) when they were following. */
  unfollow(identity: Identity, id: string, correlationId: string) {
    return this.changeSubscription(identity, id, correlationId, async (tx) => {
      const removed = await tx.patientSubscriber.deleteMany({ where: { patientId: id, user: identity.user } });
      return removed.count > 0;
    });
  }

  /** One page of the live patients the caller follows. */
  async followed(identity: Identity, query: ListQuery) {
    const where = { ...live(identity.organization), subscribers: { some: { user: identity.user } } };
    const { patients, total } = await pagePatients(
      this.prisma,
      where,
      [{ lastname: 'asc' }, { firstname: 'asc' }, { id: 'asc' }],
      query.page,
      query.limit,
    );
    return pageOf(patients.map(toPatientResponse), query, total);
  }

  /** The caller's recently viewed live patients, most recent first. */
  async recent(identity: Identity, query: ListQuery) {
    const where = { organization: identity.organization, user: identity.user, patient: live(identity.organization) };
    const [rows, total] = await Promise.all([
      this.prisma.recentPatient.findMany({
        where,
        orderBy: [{ viewedAt: 'desc' }, { id: 'asc' }],
        ...pageWindow(query),
        include: { patient: { include: withSubscribers } },
      }),
      this.prisma.recentPatient.count({ where }),
    ]);
    return pageOf(
      rows.map((row) => toPatientResponse(row.patient)),
      query,
      total,
    );
  }

  /**
   * Records that the caller opened a patient. Kept per user, newest first, at most {@link RECENT_LIMIT}. It is the
   * caller's own navigation aid, not a change to the patient, so no event is published.
   */
  async addRecent(identity: Identity, patientId: string, query: ListQuery) {
    await this.prisma.$transaction(async (tx) => {
      const patient = await this.find(tx, identity, patientId);
      if (patient.mergedInto) throw mergedAway(patient);
      const key = { organization: identity.organization, user: identity.user };
      // Strictly increasing per user, so two views within one clock tick still keep their order.
      const latest = await tx.recentPatient.findFirst({ where: key, orderBy: { viewedAt: 'desc' }, select: { viewedAt: true } });
      const now = this.clock();
      const viewedAt = latest && latest.viewedAt >= now ? new Date(latest.viewedAt.getTime() + 1) : now;
      await tx.recentPatient.upsert({
        where: { organization_user_patientId: { ...key, patientId } },
        create: { id: randomUUID(), ...key, patientId, viewedAt },
        update: { viewedAt },
      });
      const keep = await tx.recentPatient.findMany({
        where: key,
        orderBy: [{ viewedAt: 'desc' }, { id: 'asc' }],
        take: RECENT_LIMIT,
        select: { id: true },
      });
      await tx.recentPatient.deleteMany({ where: { ...key, id: { notIn: keep.map((row) => row.id) } } });
    });
    return this.recent(identity, query);
  }

  private async changeSubscription(identity: Identity, id: string, correlationId: string, write: (tx: Db) => Promise<boolean>) {
    const patient = await this.work.run({ correlationId }, async (tx, emit) => {
      await lockPatients(tx, identity.organization, [id]);
      const before = await this.find(tx, identity, id);
      if (before.mergedInto) throw mergedAway(before);
      if (!(await write(tx))) return before;
      const after = await tx.patient.update({ where: { id }, data: { updatedBy: identity.user }, include: withSubscribers });
      publishPatientChange(emit, before, after, ['subscribers']);
      return after;
    });
    return toPatientResponse(patient);
  }

  private async find(db: Db, identity: Identity, id: string): Promise<PatientRecord> {
    const patient = await findPatient(db, identity.organization, id);
    if (!patient) throw notFound('patient');
    return patient;
  }
}
