import { randomUUID } from 'node:crypto';
import {
  offerAcceptedV1,
  offerApprovedV1,
  offerClosedV1,
  offerCreatedV1,
  offerExpiredV1,
  offerExtendedV1,
  offerRejectedV1,
  type EventEnvelope,
  type offerSources,
  type offerStatuses,
} from '@pep/contracts';
import type { Emit } from '@pep/db';
import { HttpProblem, type Identity, type InvalidField, type Logger } from '@pep/service-kit';
import {
  cancelAppointment,
  holdSlotForOffer,
  providerBusy,
  releaseOfferedSlot,
  slotOfferable,
  takeOfferedSlot,
  tryBookAppointment,
  type Actor,
} from './booking-core.js';
import type { Db, SchedulingWork } from './events.js';
import type { Offer, OfferRecipient, PrismaClient, Waitlist } from './generated/prisma/client.js';
import { ownOffer, withRecipients as include, type WithRecipients } from './offer-queries.js';
import type { CreateOfferBody, OfferResponse } from './offer.schemas.js';
import { offerSettings, type OfferSettings } from './organization-setting.js';
import { rankCandidates, type Slot } from './ranking.js';
import { invalidFields } from './schemas.js';
import { offerSnapshot, toOfferResponse } from './views.js';
import { entryChanged, ownEntry } from './waitlist.service.js';

/** Where an offer came from, as the API spells it. */
type OfferSource = (typeof offerSources)[number];

/** How an offer ended, as the API spells it. */
type OfferEnd = Exclude<(typeof offerStatuses)[number], 'in-progress'>;

/** How an acceptance ended: the patient got the slot, or the provider had been booked another way meanwhile. */
export type AcceptOutcome = { kind: 'accepted'; entry: Waitlist } | { kind: 'approved'; entry: Waitlist } | { kind: 'slot-booked' };

/** Whether a decline was the patient's (or staff on their behalf) or staff withdrawing the offer from them. */
export type Refusal = 'declined' | 'withdrawn';

const slotTaken = () => new HttpProblem(409, 'slot-taken', 'The slot was taken by another patient.');
const offerOver = () => new HttpProblem(409, 'offer-closed', 'The offer is no longer in progress.');
const noOffer = () => new HttpProblem(409, 'no-open-offer', 'The waitlist entry has no open offer.');

/**
 * The lifecycle of offers of freed slots to waitlisted patients: making them (from cancellations or by hand), accepting
 * them so the first acceptance wins, declining and withdrawing, lapsing. The slot itself is booked, held, taken and
 * released by the booking core; the lists and reports are in offer-queries.ts.
 *
 * Every change to an offer happens under the offer row's lock, taken first, so acceptances, declines, expiry and
 * cancellation of one offer are serialized and its events are published in order. The availability of the slot, when
 * there is one, follows the offer in the same transactions: offered while it runs, booked-by-offer once accepted,
 * available again when it ends without a patient.
 *
 * Routes and consumers call the same methods; each runs its own unit of work, which a consumer's inbox transaction
 * joins.
 */
export class OfferLifecycle {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: SchedulingWork,
    /** The clock; tests move it to make offers lapse. */
    private readonly now: () => Date = () => new Date(),
    private readonly logger?: Logger,
  ) {}

  // ---- making offers ---------------------------------------------------------------------------------------

  /**
   * Offers a free slot to the best-ranked waiting patients, inside the caller's unit of work, and answers the offer;
   * null when there is nobody to offer it to, the slot is past, or the provider is busy then. Parallel offers go to
   * every candidate at once; serial offers to the first, with the rest queued (`in-flight`).
   */
  private async makeOffer(
    tx: Db,
    emit: Emit,
    actor: Actor,
    slot: Slot & { source: OfferSource; fromAppointment?: string; overrides?: Partial<OfferSettings>; waitlists?: string[] },
  ): Promise<WithRecipients | null> {
    const now = this.now();
    if (slot.date.getTime() <= now.getTime()) return null;
    if (await providerBusy(tx, slot)) return null;
    if (!(await slotOfferable(tx, { organization: actor.organization, provider: slot.provider, date: slot.date }))) return null;
    const settings = { ...(await offerSettings(tx, actor.organization)), ...slot.overrides };
    const candidates = slot.waitlists
      ? await chosenEntries(tx, actor.organization, slot.waitlists)
      : await rankCandidates(tx, slot, settings.maxOffersPerSlot, true);
    if (candidates.length === 0) return null;
    const facility = await tx.facility.findFirst({ where: { id: slot.facility, organization: actor.organization } });
    const offerId = randomUUID();
    const serial = settings.protocol === 'serial';
    const offer = await tx.offer.create({
      data: {
        id: offerId,
        organization: actor.organization,
        providerId: slot.provider,
        facilityId: slot.facility,
        appointmentTypeId: slot.appointmentType,
        date: slot.date,
        duration: slot.duration,
        expireAt: lapse(now, settings.expiryMinutes, slot.date),
        expiryMinutes: settings.expiryMinutes,
        protocol: settings.protocol,
        source: slot.source,
        fromAppointment: slot.fromAppointment ?? null,
        createdBy: actor.user,
        updatedBy: actor.user,
        recipients: {
          create: candidates.map((candidate, index) => {
            const offered = !serial || index === 0;
            return {
              waitlistId: candidate.id,
              patient: candidate.patient,
              rank: index + 1,
              status: offered ? 'offered' : 'queued',
              offeredAt: offered ? now : null,
            };
          }),
        },
      },
      include,
    });
    await holdSlotForOffer(tx, offer, actor);
    const entries: Waitlist[] = [];
    for (const recipient of offer.recipients) {
      entries.push(
        await tx.waitlist.update({
          where: { id: recipient.waitlistId },
          data: { status: recipient.status === 'offered' ? 'offered' : 'in-flight', offerId, updatedBy: actor.user },
        }),
      );
    }
    const offered = offer.recipients.filter((recipient) => recipient.status === 'offered').map(patientOf);
    emit(offerCreatedV1, { ...about(offer), data: { ...offerSnapshot(offer, facility?.timeZone ?? 'UTC'), offered } });
    for (const entry of entries) entryChanged(emit, entry, ['status', 'offer']);
    return offer;
  }

  /** Offers the slot of a cancelled appointment, inside the consumer's unit of work; at most one offer per cancelled appointment. */
  async offerCancelledSlot(
    tx: Db,
    emit: Emit,
    event: EventEnvelope<{ _id: string; provider: string; facility: string; type: string | null; date: string; duration: number }>,
  ): Promise<void> {
    if (await tx.offer.findUnique({ where: { fromAppointment: event.data._id } })) return;
    // Waiting patients are matched by the type they asked for; a slot booked without one has nothing to match them by.
    if (event.data.type === null) {
      this.logger?.info({ appointment: event.data._id }, 'freed slot not offered: booked without an appointment type');
      return;
    }
    const appointmentType = event.data.type;
    const offer = await this.makeOffer(
      tx,
      emit,
      { organization: event.organization, user: 'system' },
      {
        organization: event.organization,
        provider: event.data.provider,
        facility: event.data.facility,
        appointmentType,
        date: new Date(event.data.date),
        duration: event.data.duration,
        source: 'cancellation',
        fromAppointment: event.data._id,
      },
    );
    this.logger?.info(
      { appointment: event.data._id, offer: offer?.id ?? null, recipients: offer?.recipients.length ?? 0 },
      offer ? 'freed slot offered' : 'freed slot not offered: nobody fits',
    );
  }

  /** A manual offer of a free slot (POST /api/offers); 409 when the provider is busy then or nobody fits. */
  async create(identity: Identity, body: CreateOfferBody, correlationId: string): Promise<OfferResponse> {
    const type = await this.references(identity.organization, body);
    const slot = {
      organization: identity.organization,
      provider: body.provider,
      facility: body.facility,
      appointmentType: body.appointmentType,
      date: new Date(body.date),
      duration: body.duration ?? type.duration,
    };
    if (slot.date.getTime() <= this.now().getTime())
      throw invalidFields([{ field: 'body.date', message: 'the slot must be in the future' }]);
    const offer = await this.work.run({ correlationId }, async (tx, emit) => {
      if (await providerBusy(tx, slot)) throw new HttpProblem(409, 'slot-taken', 'The provider already has an appointment at that time.');
      const overrides: Partial<OfferSettings> = {
        ...(body.protocol ? { protocol: body.protocol } : {}),
        ...(body.maxOffers ? { maxOffersPerSlot: body.maxOffers } : {}),
        ...(body.expiryMinutes ? { expiryMinutes: body.expiryMinutes } : {}),
      };
      const made = await this.makeOffer(
        tx,
        emit,
        { organization: identity.organization, user: identity.user },
        { ...slot, source: 'manual', overrides, ...(body.waitlists ? { waitlists: body.waitlists } : {}) },
      );
      if (!made) {
        if (!(await slotOfferable(tx, { organization: identity.organization, provider: slot.provider, date: slot.date }))) {
          throw new HttpProblem(409, 'slot-unavailable', 'The slot’s availability is held, booked, locked or already offered.');
        }
        throw new HttpProblem(409, 'no-candidates', 'No waiting patient fits the slot.');
      }
      return made;
    });
    return toOfferResponse(offer);
  }

  // ---- answers -----------------------------------------------------------------------------------------------

  /**
   * Accepts the offer made to a waitlist entry, on the patient's behalf. The first acceptance wins: a conditional
   * update moves the offer out of in-progress, and every concurrent acceptance waits on that row and then finds it
   * moved (409). The winner's appointment, the other patients' release and the events commit with it. When the
   * organization has the front office approve acceptances, the entry is `confirming` and the booking holds the slot;
   * accepting a confirming entry again is that approval. A slot booked another way meanwhile closes the offer and
   * answers `slot-booked`, committed.
   */
  accept(actor: Actor, waitlistId: string, options: { mayApprove: boolean }, correlationId: string): Promise<AcceptOutcome> {
    return this.work.run({ correlationId }, (tx, emit) => this.accepting(tx, emit, actor, waitlistId, options));
  }

  private async accepting(tx: Db, emit: Emit, actor: Actor, waitlistId: string, options: { mayApprove: boolean }): Promise<AcceptOutcome> {
    const entry = await ownEntry(tx, actor.organization, waitlistId);
    if (!entry.offerId) throw await lastAnswer(tx, entry.id);
    if (entry.status === 'confirming') {
      if (!options.mayApprove) return { kind: 'accepted', entry };
      return this.approve(tx, emit, actor, entry);
    }
    if (entry.status === 'accepted') return { kind: 'accepted', entry };
    const now = this.now();
    const won = await tx.$queryRawUnsafe<Array<{ id: string }>>(
      `UPDATE "offer" SET "status" = 'patient-found', "patient_found" = $3::uuid, "patient_found_at" = $4::timestamptz, "updated_by" = $5, "updated_at" = $4::timestamptz
        WHERE "id" = $1::uuid AND "organization" = $2::uuid AND "status" = 'in-progress' AND "expire_at" > $4::timestamptz
          AND EXISTS (SELECT 1 FROM "offer_recipient" r WHERE r."offer" = "offer"."id" AND r."waitlist" = $6::uuid AND r."status" = 'offered')
      RETURNING "id"::text AS id`,
      entry.offerId,
      actor.organization,
      entry.patient,
      now.toISOString(),
      actor.user,
      entry.id,
    );
    if (won.length === 0) {
      const offer = await tx.offer.findUnique({ where: { id: entry.offerId } });
      if (offer?.status === 'in-progress' && offer.expireAt.getTime() > now.getTime())
        throw new HttpProblem(409, 'not-offered', 'The offer has not reached this patient yet.');
      throw offer?.status === 'patient-found' ? slotTaken() : offerOver();
    }
    const offer = await tx.offer.findUniqueOrThrow({ where: { id: entry.offerId }, include });
    const settings = await offerSettings(tx, actor.organization);
    const facility = await tx.facility.findFirstOrThrow({ where: { id: offer.facilityId } });

    // The exclusion constraint is the second line of defence: if the provider was booked another way meanwhile, only
    // the booking is undone, so the offer can be closed in the same transaction.
    const booking = {
      patient: entry.patient,
      provider: offer.providerId,
      facility: offer.facilityId,
      type: offer.appointmentTypeId,
      date: offer.date,
      duration: offer.duration,
      source: 'waitlist',
      status: 'unconfirmed',
    } as const;
    const appointment = await tryBookAppointment(this.work, actor, booking, facility.timeZone);
    if (!appointment) {
      await this.close(tx, emit, actor, offer, 'cancelled', 'slot-booked', 'withdrawn');
      return { kind: 'slot-booked' };
    }

    const updated = await tx.offer.update({ where: { id: offer.id }, data: { usedForAppointment: appointment.id }, include });
    await takeOfferedSlot(tx, emit, offer, appointment, actor);
    await tx.offerRecipient.update({
      where: { offerId_waitlistId: { offerId: offer.id, waitlistId: entry.id } },
      data: { status: 'accepted', respondedAt: now },
    });
    const winner = await tx.waitlist.update({
      where: { id: entry.id },
      data: { status: settings.frontOfficeAcceptance ? 'confirming' : 'accepted', updatedBy: actor.user },
    });
    const { released, told } = await this.release(
      tx,
      actor,
      offer.recipients.filter((recipient) => recipient.waitlistId !== entry.id),
      'taken',
      now,
    );
    const snapshot = offerSnapshot(updated, facility.timeZone);
    emit(offerAcceptedV1, {
      ...about(offer),
      data: {
        ...snapshot,
        patient: entry.patient,
        waitlist: entry.id,
        appointment: appointment.id,
        awaitingApproval: settings.frontOfficeAcceptance,
      },
    });
    emit(offerClosedV1, { ...about(offer), data: { ...snapshot, reason: 'patient-found', patients: told } });
    entryChanged(emit, winner, ['status']);
    for (const entry of released) entryChanged(emit, entry, ['status', 'offer']);
    return { kind: 'accepted', entry: winner };
  }

  /**
   * The front office approves an acceptance it held: the entry is accepted, the offer names who approved, and
   * offer.approved tells the patient the booking stands.
   */
  private async approve(tx: Db, emit: Emit, actor: Actor, entry: Waitlist): Promise<AcceptOutcome> {
    await lockOffer(tx, entry.offerId!);
    const offer = await tx.offer.update({ where: { id: entry.offerId! }, data: { approvedBy: actor.user, updatedBy: actor.user } });
    const approved = await tx.waitlist.update({ where: { id: entry.id }, data: { status: 'accepted', updatedBy: actor.user } });
    const facility = await tx.facility.findFirst({ where: { id: offer.facilityId }, select: { timeZone: true } });
    entryChanged(emit, approved, ['status']);
    if (offer.usedForAppointment) {
      const data = {
        ...offerSnapshot(offer, facility?.timeZone ?? 'UTC'),
        patient: entry.patient,
        waitlist: entry.id,
        appointment: offer.usedForAppointment,
      };
      emit(offerApprovedV1, { ...about(offer), data });
    }
    return { kind: 'approved', entry: approved };
  }

  /**
   * The patient of an entry declines its offer (`declined`), or staff withdraw it from them (`withdrawn`); the entry
   * waits again. A serial offer moves on to the next patient; an offer nobody is left to answer ends
   * patient-not-found. Declining an acceptance the front office holds releases the slot: the booking is cancelled,
   * which offers the slot afresh, and the entry is `declined`.
   */
  refuse(actor: Actor, waitlistId: string, how: Refusal, options: { mayRejectHeld: boolean }, correlationId: string): Promise<Waitlist> {
    return this.work.run({ correlationId }, (tx, emit) => this.refusing(tx, emit, actor, waitlistId, how, options));
  }

  private async refusing(
    tx: Db,
    emit: Emit,
    actor: Actor,
    waitlistId: string,
    how: Refusal,
    options: { mayRejectHeld: boolean },
  ): Promise<Waitlist> {
    const entry = await ownEntry(tx, actor.organization, waitlistId);
    if (!entry.offerId) throw noOffer();
    const offer = await lockOffer(tx, entry.offerId);
    if (entry.status === 'confirming' && how === 'declined' && options.mayRejectHeld) return this.rejectHeld(tx, emit, actor, entry, offer);
    const recipient = offer.recipients.find((candidate) => candidate.waitlistId === entry.id);
    if (offer.status !== 'in-progress' || !recipient || (recipient.status !== 'offered' && recipient.status !== 'queued'))
      throw offerOver();
    const now = this.now();
    await tx.offerRecipient.update({
      where: { offerId_waitlistId: { offerId: offer.id, waitlistId: entry.id } },
      data: { status: how, respondedAt: now },
    });
    const released = await tx.waitlist.update({
      where: { id: entry.id },
      data: { status: 'waiting', offerId: null, updatedBy: actor.user },
    });
    entryChanged(emit, released, ['status', 'offer']);
    await this.advance(tx, emit, actor, await lockOffer(tx, offer.id), now);
    return released;
  }

  /**
   * Front office declines a held acceptance: the entry is declined and its booking cancelled (which frees the slot
   * again); offer.rejected tells the patient the slot is no longer theirs.
   */
  private async rejectHeld(tx: Db, emit: Emit, actor: Actor, entry: Waitlist, offer: WithRecipients): Promise<Waitlist> {
    const rejected = await tx.offer.update({ where: { id: offer.id }, data: { declinedBy: actor.user, updatedBy: actor.user } });
    const declined = await tx.waitlist.update({
      where: { id: entry.id },
      data: { status: 'declined', offerId: null, updatedBy: actor.user },
    });
    const facility = await tx.facility.findFirst({ where: { id: offer.facilityId }, select: { timeZone: true } });
    entryChanged(emit, declined, ['status', 'offer']);
    emit(offerRejectedV1, {
      ...about(offer),
      data: {
        ...offerSnapshot(rejected, facility?.timeZone ?? 'UTC'),
        patient: entry.patient,
        waitlist: entry.id,
        appointment: offer.usedForAppointment,
      },
    });
    const held = offer.usedForAppointment
      ? await tx.appointment.findFirst({ where: { id: offer.usedForAppointment, status: { not: 'cancelled' } }, select: { id: true } })
      : null;
    if (held) await cancelAppointment(tx, emit, actor, held);
    return declined;
  }

  /** Cancels an offer in progress (POST /api/offers/:id/cancel); the patients offered are told it is gone. */
  async cancel(identity: Identity, id: string, correlationId: string): Promise<OfferResponse> {
    const actor = { organization: identity.organization, user: identity.user };
    const offer = await this.work.run({ correlationId }, async (tx, emit) => {
      const current = await ownOffer(tx, identity.organization, id, true);
      if (current.status === 'cancelled') return current;
      if (current.status !== 'in-progress') throw offerOver();
      await this.close(tx, emit, actor, current, 'cancelled', 'cancelled', 'withdrawn');
      return ownOffer(tx, identity.organization, id);
    });
    return toOfferResponse(offer);
  }

  /** Changes when an offer in progress lapses. */
  async update(identity: Identity, id: string, expireAt: Date): Promise<OfferResponse> {
    const offer = await this.prisma.$transaction(async (tx) => {
      const current = await ownOffer(tx, identity.organization, id, true);
      if (current.status !== 'in-progress') throw offerOver();
      if (expireAt.getTime() <= this.now().getTime() || expireAt.getTime() > current.date.getTime()) {
        throw invalidFields([{ field: 'body.expireAt', message: 'must be in the future and not after the slot starts' }]);
      }
      await tx.offer.update({ where: { id }, data: { expireAt, updatedBy: identity.user } });
      return ownOffer(tx, identity.organization, id);
    });
    return toOfferResponse(offer);
  }

  // ---- lapsing -----------------------------------------------------------------------------------------------

  /**
   * Lapses offers whose time is up at `now`: the patients offered are released (waiting again); a serial offer with
   * patients queued moves on to the next, others end patient-not-found with offer.expired. Each offer is handled in
   * its own transaction; offers another replica is handling are skipped. Answers how many offers it lapsed.
   */
  async runExpiry(now: Date = this.now(), batch = 100): Promise<number> {
    const due = await this.prisma.offer.findMany({
      where: { status: 'in-progress', expireAt: { lte: now } },
      select: { id: true },
      orderBy: { expireAt: 'asc' },
      take: batch,
    });
    let lapsed = 0;
    for (const { id } of due) {
      // Lapsing is nobody's request: each offer's events are correlated by an id of their own.
      const done = await this.work.run({ correlationId: randomUUID() }, async (tx, emit) => {
        const locked = await tx.$queryRawUnsafe<unknown[]>(
          `SELECT 1 FROM "offer" WHERE "id" = $1::uuid AND "status" = 'in-progress' AND "expire_at" <= $2::timestamptz FOR UPDATE SKIP LOCKED`,
          id,
          now.toISOString(),
        );
        if (locked.length === 0) return false;
        const offer = await tx.offer.findUniqueOrThrow({ where: { id }, include });
        const actor = { organization: offer.organization, user: 'system' };
        const expired = offer.recipients.filter((recipient) => recipient.status === 'offered');
        const { released, told } = await this.release(tx, actor, expired, 'expired', now);
        for (const entry of released) entryChanged(emit, entry, ['status', 'offer']);
        await this.advance(tx, emit, actor, await tx.offer.findUniqueOrThrow({ where: { id }, include }), now, told);
        return true;
      });
      if (done) lapsed += 1;
    }
    return lapsed;
  }

  /**
   * After a recipient left an offer: if someone is still offered, nothing to do; a serial offer offers the next
   * queued patient; otherwise the offer ends patient-not-found: offer.expired naming `lapsed` (the patients whose
   * time just ran out) when it lapsed, offer.closed when the last patient declined.
   */
  private async advance(
    tx: Db,
    emit: Emit,
    actor: Actor,
    offer: WithRecipients,
    now: Date,
    lapsed?: Array<{ patient: string; waitlist: string }>,
  ): Promise<'open' | 'extended' | 'ended'> {
    if (offer.recipients.some((recipient) => recipient.status === 'offered')) return 'open';
    const facility = await tx.facility.findFirstOrThrow({ where: { id: offer.facilityId } });
    const next = [...offer.recipients].sort((a, b) => a.rank - b.rank).find((recipient) => recipient.status === 'queued');
    if (next && offer.date.getTime() > now.getTime()) {
      await tx.offerRecipient.update({
        where: { offerId_waitlistId: { offerId: offer.id, waitlistId: next.waitlistId } },
        data: { status: 'offered', offeredAt: now },
      });
      const updated = await tx.offer.update({ where: { id: offer.id }, data: { expireAt: lapse(now, offer.expiryMinutes, offer.date) } });
      const entry = await tx.waitlist.update({ where: { id: next.waitlistId }, data: { status: 'offered' } });
      emit(offerExtendedV1, { ...about(offer), data: { ...offerSnapshot(updated, facility.timeZone), offered: [patientOf(next)] } });
      entryChanged(emit, entry, ['status']);
      return 'extended';
    }
    const { released } = await this.release(tx, actor, offer.recipients, 'expired', now);
    const ended = await tx.offer.update({ where: { id: offer.id }, data: { status: 'patient-not-found', updatedBy: actor.user } });
    await releaseOfferedSlot(tx, emit, offer, actor);
    const snapshot = offerSnapshot(ended, facility.timeZone);
    if (lapsed) emit(offerExpiredV1, { ...about(offer), data: { ...snapshot, patients: lapsed } });
    else emit(offerClosedV1, { ...about(offer), data: { ...snapshot, reason: 'patient-not-found', patients: [] } });
    for (const entry of released) entryChanged(emit, entry, ['status', 'offer']);
    return 'ended';
  }

  /** Ends an offer for everyone still in it; the patients offered are told why with offer.closed. */
  private async close(
    tx: Db,
    emit: Emit,
    actor: Actor,
    offer: WithRecipients,
    status: OfferEnd,
    reason: 'cancelled' | 'slot-booked',
    as: OfferRecipient['status'],
  ): Promise<void> {
    const now = this.now();
    const { released, told } = await this.release(tx, actor, offer.recipients, as, now);
    const closed = await tx.offer.update({
      where: { id: offer.id },
      data: { status, patientFound: null, patientFoundAt: null, updatedBy: actor.user },
    });
    await releaseOfferedSlot(tx, emit, offer, actor);
    const facility = await tx.facility.findFirstOrThrow({ where: { id: offer.facilityId } });
    emit(offerClosedV1, { ...about(offer), data: { ...offerSnapshot(closed, facility.timeZone), reason, patients: told } });
    for (const entry of released) entryChanged(emit, entry, ['status', 'offer']);
  }

  /**
   * Takes the offered and queued recipients out of an offer (as `status`) and puts their entries back to waiting.
   * Answers the entries released (whose waitlist.entry-changed the caller emits after the offer's own events) and the
   * patients who had been offered it (those to tell).
   */
  private async release(tx: Db, actor: Actor, recipients: OfferRecipient[], status: OfferRecipient['status'], now: Date) {
    const released: Waitlist[] = [];
    const told: Array<{ patient: string; waitlist: string }> = [];
    for (const recipient of recipients) {
      if (recipient.status !== 'offered' && recipient.status !== 'queued') continue;
      if (recipient.status === 'offered') told.push(patientOf(recipient));
      await tx.offerRecipient.update({
        where: { offerId_waitlistId: { offerId: recipient.offerId, waitlistId: recipient.waitlistId } },
        data: { status, respondedAt: now },
      });
      const entry = await tx.waitlist.updateManyAndReturn({
        where: { id: recipient.waitlistId, offerId: recipient.offerId },
        data: { status: 'waiting', offerId: null, updatedBy: actor.user },
      });
      released.push(...entry);
    }
    return { released, told };
  }

  /** The live provider, facility and type a manual offer names; a 400 naming each that is not the organization's. */
  private async references(organization: string, body: { provider: string; facility: string; appointmentType: string }) {
    const live = { organization, deleted: false };
    const [provider, facility, type] = await Promise.all([
      this.prisma.provider.findFirst({ where: { ...live, id: body.provider } }),
      this.prisma.facility.findFirst({ where: { ...live, id: body.facility } }),
      this.prisma.appointmentType.findFirst({ where: { ...live, id: body.appointmentType } }),
    ]);
    const errors: InvalidField[] = [];
    if (!provider) errors.push({ field: 'body.provider', message: 'no such provider' });
    if (!facility) errors.push({ field: 'body.facility', message: 'no such facility' });
    if (!type) errors.push({ field: 'body.appointmentType', message: 'no such appointment type' });
    if (errors.length > 0 || !type) throw invalidFields(errors);
    return type;
  }
}

/** Why an entry outside any offer cannot accept: its last offer went to someone else, or it has none open. */
async function lastAnswer(db: Db, waitlistId: string): Promise<HttpProblem> {
  const last = await db.offerRecipient.findFirst({ where: { waitlistId }, orderBy: { offeredAt: { sort: 'desc', nulls: 'last' } } });
  return last?.status === 'taken' ? slotTaken() : noOffer();
}

/** Locks an offer row (the serialization point of everything that changes the offer) and reads it with its recipients. */
async function lockOffer(db: Db, id: string): Promise<WithRecipients> {
  await db.$executeRawUnsafe('SELECT 1 FROM "offer" WHERE "id" = $1::uuid FOR UPDATE', id);
  return db.offer.findUniqueOrThrow({ where: { id }, include });
}

/** Waitlist entries chosen by hand for a manual offer: each must be a waiting entry of the organization (400 otherwise). */
async function chosenEntries(db: Db, organization: string, ids: string[]) {
  await db.$executeRawUnsafe(
    'SELECT 1 FROM "waitlist" WHERE "id" = ANY($1::uuid[]) AND "organization" = $2::uuid ORDER BY "id" FOR UPDATE',
    ids,
    organization,
  );
  const found = await db.waitlist.findMany({ where: { id: { in: ids }, organization, deleted: false, status: 'waiting' } });
  const byId = new Map(found.map((entry) => [entry.id, entry]));
  const missing = ids.filter((id) => !byId.has(id));
  if (missing.length > 0)
    throw invalidFields([{ field: 'body.waitlists', message: `not waiting entries of the organization: ${missing.join(', ')}` }]);
  return ids.map((id) => ({ id, patient: byId.get(id)!.patient }));
}

/** When an offer made at `now` lapses: after the expiry minutes, but never after the slot starts. */
function lapse(now: Date, minutes: number, slotStart: Date): Date {
  return new Date(Math.min(now.getTime() + minutes * 60_000, slotStart.getTime()));
}

function patientOf(recipient: { patient: string; waitlistId: string }) {
  return { patient: recipient.patient, waitlist: recipient.waitlistId };
}

/** The organization and subject of an event about an offer. */
function about(offer: Offer) {
  return { organization: offer.organization, subject: offer.id };
}
