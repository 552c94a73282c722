import { randomUUID } from 'node:crypto';
import {
  appointmentCancelledV1,
  appointmentCreatedV1,
  appointmentDeletedV1,
  appointmentUpdatedV1,
  createEvent,
  offerAcceptedV1,
  referralAnsweredV1,
  referralOutreachSentV1,
  type EventDefinition,
  type EventEnvelope,
} from '@pep/contracts';
import { startServiceUnderTest } from '@pep/db/testing';
import { controllableClock } from '@pep/service-kit';
import { kafkaBrokers, waitFor } from '@pep/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { call, connect, createPatient } from '../test/fixtures.js';
import { orgA, orgB, type PatientsUnderTest } from '../test/harness.js';
import { buildApp } from './app.js';
import { migrationsDir } from './migrations.js';

const DAY = 86_400_000;
/** Where the service's clock stands until the expiry test moves it. */
const T0 = new Date('2026-06-01T12:00:00.000Z');
const at = (days: number) => new Date(T0.getTime() + days * DAY);

describe('patients: the referral pipeline driven by scheduling and messaging', () => {
  let service: PatientsUnderTest;
  let sql: pg.Client;
  const clock = controllableClock();
  const organization = orgA.organization;
  const provider = randomUUID();
  const type = randomUUID();

  beforeAll(async () => {
    clock.set(T0);
    service = await startServiceUnderTest({
      service: 'patients',
      label: 'referral-pipeline',
      brokers: await kafkaBrokers(),
      migrationsDir,
      build: (deps) => buildApp({ ...deps, clock, referralExpiryIntervalMs: 200 }),
    });
    sql = await connect(service);
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  /** A referral row as the referral API would have stored it; answers its id. */
  async function referral(
    patient: string,
    fields: {
      status?: string;
      provider?: string | null;
      appointmentType?: string | null;
      startOn?: Date;
      expireAt?: Date | null;
      createdAt?: Date;
      scheduledByAppointment?: string | null;
      deleted?: boolean;
    } = {},
  ): Promise<string> {
    const id = randomUUID();
    await sql.query(
      `INSERT INTO "referral" ("id", "organization", "patient", "status", "source", "provider", "appointment_type", "start_on", "expire_at",
                               "scheduled_by_appointment", "deleted_at", "created_at", "updated_at")
       VALUES ($1, $2, $3, $4, 'ui', $5, $6, $7, $8, $9, $10, $11, $11)`,
      [
        id,
        organization,
        patient,
        fields.status ?? 'active',
        fields.provider ?? null,
        fields.appointmentType ?? null,
        fields.startOn ?? at(-1),
        fields.expireAt === undefined ? at(30) : fields.expireAt,
        fields.scheduledByAppointment ?? null,
        fields.deleted ? at(-1) : null,
        fields.createdAt ?? new Date(),
      ],
    );
    return id;
  }

  const row = async (id: string) => (await sql.query('SELECT * FROM "referral" WHERE "id" = $1', [id])).rows[0];
  const statusOf = async (id: string) => (await row(id)).status as string;
  const until = (id: string, status: string) =>
    waitFor(async () => (await statusOf(id)) === status, { timeoutMs: 30_000, message: `referral ${id} ${status}` });
  /** The events the service wrote about a referral, oldest first (read from its outbox, so none is missed). */
  const emitted = async (subject: string, eventType: string): Promise<Array<EventEnvelope<Record<string, unknown>>>> =>
    (
      await sql.query(`SELECT "envelope" FROM "outbox" WHERE "envelope"->>'subject' = $1 AND "envelope"->>'type' = $2 ORDER BY "seq"`, [
        subject,
        eventType,
      ])
    ).rows.map((r) => r.envelope as EventEnvelope<Record<string, unknown>>);
  /** Waits until the referral consumer has handled (or skipped as a duplicate) the event. */
  const handled = (event: EventEnvelope) =>
    waitFor(
      async () =>
        (await sql.query(`SELECT 1 FROM "inbox" WHERE "event_id" = $1 AND "consumer" = 'patients.referrals'`, [event.id])).rowCount === 1,
      { timeoutMs: 30_000, message: `${event.type} handled` },
    );

  /** Publishes events as their owners would, in order on one partition key; answers them. */
  async function publish(key: string, ...events: EventEnvelope[]): Promise<EventEnvelope[]> {
    await service.bus.publish(events.map((event) => ({ topic: topicOf(event.type), key, value: JSON.stringify(event) })));
    return events;
  }
  const topicOf = (eventType: string) =>
    eventType.startsWith('referral.')
      ? referralOutreachSentV1.topic
      : eventType.startsWith('offer.')
        ? offerAcceptedV1.topic
        : appointmentCreatedV1.topic;
  /** An event as its owner stamps it: in real time, when the service's clock reads `time`. */
  const event = <TSchema extends z.ZodType>(
    definition: EventDefinition<string, TSchema>,
    source: string,
    subject: string,
    data: z.input<TSchema>,
    time?: Date,
  ) =>
    createEvent(definition, {
      source,
      organization,
      subject,
      data,
      ...(time ? { time: new Date(time.getTime() - clock.offsetMs()) } : {}),
    });

  const appointment = (
    patient: string,
    overrides: { provider?: string; type?: string | null; date?: Date; referral?: string | null } = {},
  ) => ({
    _id: randomUUID(),
    patient,
    provider: overrides.provider ?? provider,
    facility: randomUUID(),
    type: overrides.type === undefined ? type : overrides.type,
    date: (overrides.date ?? at(10)).toISOString(),
    duration: 30,
    status: 'unconfirmed' as const,
    source: 'ui' as 'ui' | 'waitlist',
    timeZone: 'America/New_York',
    referral: overrides.referral ?? null,
  });
  const booked = (data: ReturnType<typeof appointment>, time: Date) =>
    event(appointmentCreatedV1, '/services/scheduling', data._id, data, time);

  let scheduledReferral: string;
  let scheduledBy: ReturnType<typeof appointment>;

  it('schedules the referral a booking names, once however often the event comes, and shows it in the journey', async () => {
    const patient = (await createPatient(service.app, orgA, { firstname: 'Refe', lastname: 'Rred' }))._id;
    // An older open referral the booking would also satisfy: the one it names wins.
    const older = await referral(patient, { createdAt: at(-5) });
    const named = await referral(patient);
    const data = appointment(patient, { referral: named });
    const created = booked(data, at(1));
    await publish(data._id, created);
    await until(named, 'scheduled');

    const scheduled = await row(named);
    expect(scheduled.scheduled_by_appointment).toBe(data._id);
    expect(Math.abs(scheduled.scheduled_at.getTime() - at(1).getTime())).toBeLessThan(1_000);
    expect(await statusOf(older)).toBe('active');
    const [changed] = await emitted(named, 'referral.status-changed');
    expect(changed!.data).toMatchObject({
      _id: named,
      patient,
      status: 'scheduled',
      previousStatus: 'active',
      scheduledByAppointment: data._id,
    });
    expect(changed!.causationid).toBe(created.id);

    // The same event again, then another about the appointment: once that is handled, the duplicate was too.
    const [, marker] = await publish(
      data._id,
      created,
      event(appointmentUpdatedV1, '/services/scheduling', data._id, { ...data, changed: ['type'] }, at(2)),
    );
    await handled(marker!);
    expect(await emitted(named, 'referral.status-changed')).toHaveLength(1);
    expect((await row(named)).updated_at.toISOString()).toBe(scheduled.updated_at.toISOString());

    await waitFor(
      async () => {
        const journey = (await call(service.app, orgA, 'GET', `/api/patients/${patient}/journey`)).body.response as Array<{
          type: string;
          summary: Record<string, unknown>;
        }>;
        return journey.find((entry) => entry.type === 'referral.status-changed') ?? null;
      },
      { timeoutMs: 30_000, message: 'the referral in the journey' },
    ).then((entry) =>
      expect(entry.summary).toEqual({
        eventId: changed!.id,
        referral: named,
        status: 'scheduled',
        previousStatus: 'active',
        statusReason: null,
        scheduledByAppointment: data._id,
      }),
    );
    scheduledReferral = named;
    scheduledBy = data;
  });

  it("matches a booking without a referral to the patient's oldest open referral it satisfies", async () => {
    const patient = (await createPatient(service.app, orgA, { firstname: 'Mat', lastname: 'Ched' }))._id;
    const otherProvider = await referral(patient, { provider: randomUUID(), createdAt: at(-6) });
    const notStarted = await referral(patient, { startOn: at(20), createdAt: at(-5) });
    const otherType = await referral(patient, { appointmentType: randomUUID(), createdAt: at(-4) });
    const closed = await referral(patient, { status: 'closed', createdAt: at(-4) });
    const oldest = await referral(patient, { provider, appointmentType: type, createdAt: at(-3) });
    const younger = await referral(patient, { provider, createdAt: at(-2) });

    const first = appointment(patient);
    await publish(first._id, booked(first, at(1)));
    await until(oldest, 'scheduled');
    const second = appointment(patient, { type: randomUUID() });
    await publish(second._id, booked(second, at(1)));
    await until(younger, 'scheduled');
    expect((await row(younger)).scheduled_by_appointment).toBe(second._id);

    // Nothing else fits the next booking of this provider and type: no referral changes.
    const third = appointment(patient);
    const [handledLast] = await publish(third._id, booked(third, at(1)));
    await handled(handledLast!);
    for (const id of [otherProvider, notStarted, otherType]) expect(await statusOf(id)).toBe('active');
    expect(await statusOf(closed)).toBe('closed');
  });

  it('schedules late a referral booked after its expireAt', async () => {
    const patient = (await createPatient(service.app, orgA, { firstname: 'La', lastname: 'Te' }))._id;
    const late = await referral(patient, { expireAt: at(5) });
    const data = appointment(patient, { referral: late, date: at(12) });
    await publish(data._id, booked(data, at(6)));
    await until(late, 'scheduled-late');
    expect((await emitted(late, 'referral.status-changed'))[0]!.data).toMatchObject({ status: 'scheduled-late', previousStatus: 'active' });
  });

  it("leaves alone another organization's referral, even one a booking names", async () => {
    const patient = (await createPatient(service.app, orgA, { firstname: 'Ten', lastname: 'Ant' }))._id;
    const mine = await referral(patient);
    const data = appointment(patient, { referral: mine });
    const foreign = createEvent(appointmentCreatedV1, {
      source: '/services/scheduling',
      organization: orgB.organization,
      subject: data._id,
      data,
    });
    await publish(data._id, foreign);
    await handled(foreign);
    expect(await row(mine)).toMatchObject({ status: 'active', scheduled_by_appointment: null });
    expect(await emitted(mine, 'referral.status-changed')).toHaveLength(0);
  });

  it('reopens the referral when its appointment is cancelled, or expires it when past its expireAt', async () => {
    await publish(
      scheduledBy._id,
      event(appointmentCancelledV1, '/services/scheduling', scheduledBy._id, { ...scheduledBy, status: 'cancelled' }),
    );
    await until(scheduledReferral, 'active');
    const reopened = await row(scheduledReferral);
    expect(reopened.scheduled_by_appointment).toBeNull();
    expect(reopened.scheduled_at).toBeNull();

    const patient = (await createPatient(service.app, orgA, { firstname: 'Ex', lastname: 'Pired' }))._id;
    const deletedAppointment = appointment(patient);
    const lapsed = await referral(patient, { status: 'scheduled', expireAt: at(-1), scheduledByAppointment: deletedAppointment._id });
    await publish(deletedAppointment._id, event(appointmentDeletedV1, '/services/scheduling', deletedAppointment._id, deletedAppointment));
    await until(lapsed, 'expired');
    expect((await emitted(lapsed, 'referral.status-changed'))[0]!.data).toMatchObject({ status: 'expired', previousStatus: 'scheduled' });
  });

  it('names the waitlist offer that booked a referral, whichever of appointment.created and offer.accepted comes first', async () => {
    const offerOf = (patient: string, appointmentId: string) => ({
      _id: randomUUID(),
      provider,
      facility: randomUUID(),
      appointmentType: type,
      date: at(10).toISOString(),
      duration: 30,
      timeZone: 'America/New_York',
      expireAt: at(1).toISOString(),
      protocol: 'parallel' as const,
      source: 'cancellation' as const,
      status: 'patient-found' as const,
      patient,
      waitlist: randomUUID(),
      appointment: appointmentId,
      awaitingApproval: false,
    });

    const patient = (await createPatient(service.app, orgA, { firstname: 'Off', lastname: 'Er' }))._id;
    const first = await referral(patient, { provider });
    const data = { ...appointment(patient), source: 'waitlist' as const };
    await publish(data._id, booked(data, at(1)));
    await until(first, 'scheduled');
    const offer = offerOf(patient, data._id);
    await publish(offer._id, event(offerAcceptedV1, '/services/scheduling', offer._id, offer, at(1)));
    await waitFor(async () => (await row(first)).scheduled_by_offer === offer._id, { timeoutMs: 30_000, message: 'scheduledByOffer' });
    expect(Math.abs((await row(first)).accepted_at.getTime() - at(1).getTime())).toBeLessThan(1_000);
    expect((await emitted(first, 'referral.updated'))[0]!.data).toMatchObject({ changed: ['scheduledByOffer', 'acceptedAt'] });

    const other = (await createPatient(service.app, orgA, { firstname: 'Acc', lastname: 'Epted' }))._id;
    const second = await referral(other, { appointmentType: type });
    const later = { ...appointment(other), source: 'waitlist' as const };
    const accepted = offerOf(other, later._id);
    await publish(accepted._id, event(offerAcceptedV1, '/services/scheduling', accepted._id, accepted, at(2)));
    await until(second, 'scheduled');
    expect(await row(second)).toMatchObject({ scheduled_by_appointment: later._id, scheduled_by_offer: accepted._id });
    const [created] = await publish(later._id, booked(later, at(2)));
    await handled(created!);
    expect(await emitted(second, 'referral.status-changed')).toHaveLength(1);
  });

  it('keeps the highest outreach attempt and its time, publishing referral.updated only when they change', async () => {
    const patient = (await createPatient(service.app, orgA, { firstname: 'Out', lastname: 'Reach' }))._id;
    const id = await referral(patient);
    const sent = (attempt: number, sentAt: Date) =>
      event(referralOutreachSentV1, '/services/messaging', id, {
        referral: id,
        patient,
        attempt,
        channel: 'sms',
        message: randomUUID(),
        sentAt: sentAt.toISOString(),
      });
    const [, , stale] = await publish(id, sent(1, at(0.1)), sent(3, at(3)), sent(2, at(2)));
    await handled(stale!);
    const current = await row(id);
    expect(current.attempt).toBe(3);
    expect(current.last_attempt_sent_at.toISOString()).toBe(at(3).toISOString());
    const updates = await emitted(id, 'referral.updated');
    expect(updates.map((update) => [update.data.attempt, update.data.changed])).toEqual([
      [1, ['attempt', 'lastAttemptSentAt']],
      [3, ['attempt', 'lastAttemptSentAt']],
    ]);
  });

  it('marks an answered referral called (late after its expireAt) with its staff follow-up pending', async () => {
    const patient = (await createPatient(service.app, orgA, { firstname: 'An', lastname: 'Swered' }))._id;
    const onTime = await referral(patient);
    const overdue = await referral(patient, { expireAt: at(2) });
    const taken = await referral(patient, { status: 'scheduled' });
    const answered = (id: string, receivedAt: Date) =>
      event(referralAnsweredV1, '/services/messaging', id, {
        referral: id,
        patient,
        answer: 'schedule',
        channel: 'sms',
        message: randomUUID(),
        receivedAt: receivedAt.toISOString(),
      });
    await publish(onTime, answered(onTime, at(1)));
    await publish(overdue, answered(overdue, at(3)));
    const [last] = await publish(taken, answered(taken, at(1)));
    await until(onTime, 'called');
    await until(overdue, 'called-late');
    await handled(last!);
    expect(await row(onTime)).toMatchObject({ processed_referral_followup: 'pending', called_at: at(1) });
    expect((await row(overdue)).processed_referral_followup).toBe('pending');
    expect(await row(taken)).toMatchObject({ status: 'scheduled', processed_referral_followup: null });
    // Staff find the patients waiting for their call.
    const waiting = await call(service.app, orgA, 'GET', `/api/referrals?patient=${patient}&processedReferralFollowup=pending`);
    expect(waiting.status).toBe(200);
    expect(JSON.stringify(waiting.body)).toContain(onTime);
    expect(JSON.stringify(waiting.body)).toContain(overdue);
    expect(JSON.stringify(waiting.body)).not.toContain(taken);

    // The call ended in a booking: the follow-up is done.
    const visit = appointment(patient, { referral: onTime });
    await publish(visit._id, booked(visit, at(2)));
    await until(onTime, 'scheduled');
    expect((await row(onTime)).processed_referral_followup).toBe('success');
  });

  it("moves a merged patient's referrals to the survivor", async () => {
    const survivor = (await createPatient(service.app, orgA, { firstname: 'Sur', lastname: 'Vivor' }))._id;
    const merged = (await createPatient(service.app, orgA, { firstname: 'Mer', lastname: 'Ged' }))._id;
    const id = await referral(merged);
    expect((await call(service.app, orgA, 'POST', '/api/patients/merge', { survivor, merged })).status).toBe(200);
    await waitFor(async () => (await row(id)).patient === survivor, { timeoutMs: 30_000, message: 'referral on the survivor' });
    expect((await emitted(id, 'referral.updated'))[0]!.data).toMatchObject({ patient: survivor, changed: ['patient'] });
  });

  it('expires open referrals whose expireAt the clock passed, and only those, each once with two replicas sweeping', async () => {
    const patient = (await createPatient(service.app, orgA, { firstname: 'Sw', lastname: 'Eep' }))._id;
    const due: string[] = [];
    for (const status of ['pending', 'active', 'called', 'called-late', 'incomplete'])
      due.push(await referral(patient, { status, expireAt: at(40) }));
    const notDue = await referral(patient, { expireAt: at(60) });
    const never = await referral(patient, { expireAt: null });
    const closed = await referral(patient, { status: 'closed', expireAt: at(40) });
    const scheduled = await referral(patient, { status: 'scheduled', expireAt: at(40) });
    const deleted = await referral(patient, { expireAt: at(40), deleted: true });
    // More than two batches, so the replicas' rounds meet on the same rows.
    const crowd = (
      await sql.query(
        `INSERT INTO "referral" ("id", "organization", "patient", "status", "source", "start_on", "expire_at", "updated_at")
         SELECT gen_random_uuid(), $1, $2, 'active', 'ui', $3, $4, now() FROM generate_series(1, 450)
         RETURNING "id"`,
        [organization, patient, at(-1), at(41)],
      )
    ).rows.map((r) => r.id as string);
    const replica = await startServiceUnderTest({
      service: 'patients',
      label: 'referral-pipeline-replica',
      brokers: await kafkaBrokers(),
      migrationsDir,
      databaseUrl: service.databaseUrl,
      topicPrefix: service.topicPrefix,
      build: (deps) => buildApp({ ...deps, clock, referralExpiryIntervalMs: 50 }),
    });
    try {
      clock.set(at(45));
      for (const id of due) await until(id, 'expired');
      await waitFor(
        async () =>
          (await sql.query(`SELECT count(*)::int AS n FROM "referral" WHERE "id" = ANY($1::uuid[]) AND "status" = 'expired'`, [crowd]))
            .rows[0].n === crowd.length,
        { timeoutMs: 30_000, message: 'every due referral expired' },
      );
    } finally {
      await replica.close();
    }
    const events = await sql.query(
      `SELECT "envelope"->>'subject' AS "subject", count(*)::int AS "n" FROM "outbox"
        WHERE "envelope"->>'type' = 'referral.status-changed' AND "envelope"->>'subject' = ANY($1::text[]) GROUP BY 1`,
      [crowd],
    );
    expect(events.rows).toHaveLength(crowd.length);
    expect(events.rows.every((r) => r.n === 1)).toBe(true);
    for (const id of due) {
      const changes = await emitted(id, 'referral.status-changed');
      expect(changes).toHaveLength(1);
      expect(changes[0]!.data.status).toBe('expired');
    }
    expect(await statusOf(notDue)).toBe('active');
    expect(await statusOf(never)).toBe('active');
    expect(await statusOf(closed)).toBe('closed');
    expect(await statusOf(scheduled)).toBe('scheduled');
    expect(await statusOf(deleted)).toBe('active');
  });
});
