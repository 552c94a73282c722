import { randomUUID } from 'node:crypto';
import {
  createEvent,
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
import { HttpProblem, type Identity, type InvalidField, type Logger } from '@pep/service-kit';
import {
  cancelAppointment,
  eventContext,
  holdSlotForOffer,
  providerBusy,
  releaseOfferedSlot,
  slotOfferable,
  takeOfferedSlot,
  tryBookAppointment,
  type Actor,
} from './booking-core.js';
import { enqueue, type Db } from './events.js';
import type { Offer, OfferRecipient, PrismaClient, Waitlist } from './generated/prisma/client.js';
import { ownOffer, withRecipients as include, type WithRecipients } from './offer-queries.js';
import type { CreateOfferBody, OfferResponse } from './offer.schemas.js';
import { offerSettings, type OfferSettings } from './organization-setting.js';
import { rankCandidates, type Slot } from './ranking.js';
import { invalidFields } from './schemas.js';
import { offerSnapshot, toOfferResponse, toWaitlistResponse } from './views.js';
import { entryChanged, ownEntry } from './waitlist.service.js';
import type { WaitlistResponse } from './waitlist.schemas.js';

/** Where an offer came from, as the API spells it. */
type OfferSource = (typeof offerSources)[number];

/** How an offer ended, as the API spells it. */
type OfferEnd = Exclude<(typeof offerStatuses)[number], 'in-progress'>;

/** How an acceptance ended: the patient got the slot, or the provider had been booked another way meanwhile. */
export type AcceptOutcome = { kind: 'accepted'; entry: Waitlist } | { kind: 'approved'; entry: Waitlist } | { kind: 'slot-booked' };

/** Whether a decline was the patient's (or staff on their behalf) or staff withdrawing the offer from them. */
type Refusal = 'declined' | 'withdrawn';

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
 */
export class OfferLifecycle {
  constructor(
    private readonly prisma: PrismaClient,
    /** Called after a commit that wrote events, so the relay publishes at once. */
    private readonly eventsWritten: () => void,
    /** The clock; tests move it to make offers lapse. */
    private readonly now: () => Date = () => new Date(),
    private readonly logger?: Logger,
  ) {}

  // ---- making offers ---------------------------------------------------------------------------------------

  /**
   * Offers a free slot to the best-ranked waiting patients, inside the caller's transaction, and answers the offer;
   * null when there is nobody to offer it to, the slot is past, or the provider is busy then. Parallel offers go to
   * every candidate at once; serial offers to the first, with the rest queued (`in-flight`).
   */
  async makeOffer(
    tx: Db,
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
    const events: EventEnvelope[] = [];
    for (const recipient of offer.recipients) {
      const entry = await tx.waitlist.update({
        where: { id: recipient.waitlistId },
        data: { status: recipient.status === 'offered' ? 'offered' : 'in-flight', offerId, updatedBy: actor.user },
      });
      events.push(entryChanged(entry, ['status', 'offer'], actor.correlationId, actor.causationId));
    }
    const offered = offer.recipients.filter((recipient) => recipient.status === 'offered').map(patientOf);
    events.unshift(
      createEvent(offerCreatedV1, { ...context(offer, actor), data: { ...offerSnapshot(offer, facility?.timeZone ?? 'UTC'), offered } }),
    );
    await enqueue(tx, events);
    return offer;
  }

  /** Offers the slot of a cancelled appointment; at most one offer per cancelled appointment. */
  async offerCancelledSlot(
    tx: Db,
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
      { organization: event.organization, user: 'system', correlationId: event.correlationid, causationId: event.id },
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
    const offer = await this.prisma.$transaction(async (tx) => {
      if (await providerBusy(tx, slot)) throw new HttpProblem(409, 'slot-taken', 'The provider already has an appointment at that time.');
      const overrides: Partial<OfferSettings> = {
        ...(body.protocol ? { protocol: body.protocol } : {}),
        ...(body.maxOffers ? { maxOffersPerSlot: body.maxOffers } : {}),
        ...(body.expiryMinutes ? { expiryMinutes: body.expiryMinutes } : {}),
      };
      const made = await this.makeOffer(
        tx,
        { organization: identity.organization, user: identity.user, correlationId },
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
    this.eventsWritten();
    return toOfferResponse(offer);
  }

  // ---- answers -----------------------------------------------------------------------------------------------

  /**
   * Accepts the offer made to a waitlist entry, on the patient's behalf. The first acceptance wins: a conditional
   * update moves the offer out of in-progress, and every concurrent acceptance waits on that row and then finds it
   * moved (409). The winner's appointment, the other patients' release and the events commit with it. When the
   * organization has the front office approve acceptances, the entry is `confirming` and the booking holds the slot;
   * accepting a confirming entry again is that approval.
   */
  async accept(tx: Db, actor: Actor, waitlistId: string, options: { mayApprove: boolean }): Promise<AcceptOutcome> {
    const entry = await ownEntry(tx, actor.organization, waitlistId);
    if (!entry.offerId) throw await lastAnswer(tx, entry.id);
    if (entry.status === 'confirming') {
      if (!options.mayApprove) return { kind: 'accepted', entry };
      return this.approve(tx, actor, entry);
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
    const appointment = await tryBookAppointment(tx, actor, booking, facility.timeZone);
    if (!appointment) {
      await this.close(tx, actor, offer, 'cancelled', 'slot-booked', 'withdrawn');
      return { kind: 'slot-booked' };
    }

    const updated = await tx.offer.update({ where: { id: offer.id }, data: { usedForAppointment: appointment.id }, include });
    await takeOfferedSlot(tx, offer, appointment, actor);
    await tx.offerRecipient.update({
      where: { offerId_waitlistId: { offerId: offer.id, waitlistId: entry.id } },
      data: { status: 'accepted', respondedAt: now },
    });
    const winner = await tx.waitlist.update({
      where: { id: entry.id },
      data: { status: settings.frontOfficeAcceptance ? 'confirming' : 'accepted', updatedBy: actor.user },
    });
    const { events, told } = await this.release(
      tx,
      actor,
      offer.recipients.filter((recipient) => recipient.waitlistId !== entry.id),
      'taken',
      now,
    );
    const snapshot = offerSnapshot(updated, facility.timeZone);
    await enqueue(tx, [
      createEvent(offerAcceptedV1, {
        ...context(offer, actor),
        data: {
          ...snapshot,
          patient: entry.patient,
          waitlist: entry.id,
          appointment: appointment.id,
          awaitingApproval: settings.frontOfficeAcceptance,
        },
      }),
      createEvent(offerClosedV1, { ...context(offer, actor), data: { ...snapshot, reason: 'patient-found', patients: told } }),
      entryChanged(winner, ['status'], actor.correlationId, actor.causationId),
      ...events,
    ]);
    return { kind: 'accepted', entry: winner };
  }

  /**
   * The front office approves an acceptance it held: the entry is accepted, the offer names who approved, and
   * offer.approved tells the patient the booking stands.
   */
  private async approve(tx: Db, actor: Actor, entry: Waitlist): Promise<AcceptOutcome> {
    await lockOffer(tx, entry.offerId!);
    const offer = await tx.offer.update({ where: { id: entry.offerId! }, data: { approvedBy: actor.user, updatedBy: actor.user } });
    const approved = await tx.waitlist.update({ where: { id: entry.id }, data: { status: 'accepted', updatedBy: actor.user } });
    const facility = await tx.facility.findFirst({ where: { id: offer.facilityId }, select: { timeZone: true } });
    const events = [entryChanged(approved, ['status'], actor.correlationId, actor.causationId)];
    if (offer.usedForAppointment) {
      const data = {
        ...offerSnapshot(offer, facility?.timeZone ?? 'UTC'),
        patient: entry.patient,
        waitlist: entry.id,
        appointment: offer.usedForAppointment,
      };
      events.push(createEvent(offerApprovedV1, { ...context(offer, actor), data }));
    }
    await enqueue(tx, events);
    return { kind: 'approved', entry: approved };
  }

  /**
   * The patient of an entry declines its offer (`declined`), or staff withdraw it from them (`withdrawn`); the entry
   * waits again. A serial offer moves on to the next patient; an offer nobody is left to answer ends
   * patient-not-found. Declining an acceptance the front office holds releases the slot: the booking is cancelled,
   * which offers the slot afresh, and the entry is `declined`.
   */
  async refuse(tx: Db, actor: Actor, waitlistId: string, how: Refusal, options: { mayRejectHeld: boolean }): Promise<Waitlist> {
    const entry = await ownEntry(tx, actor.organization, waitlistId);
    if (!entry.offerId) throw noOffer();
    const offer = await lockOffer(tx, entry.offerId);
    if (entry.status === 'confirming' && how === 'declined' && options.mayRejectHeld) return this.rejectHeld(tx, actor, entry, offer);
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
    await enqueue(tx, [entryChanged(released, ['status', 'offer'], actor.correlationId, actor.causationId)]);
    await this.advance(tx, actor, await lockOffer(tx, offer.id), now);
    return released;
  }

  /**
   * Front office declines a held acceptance: the entry is declined and its booking cancelled (which frees the slot
   * again); offer.rejected tells the patient the slot is no longer theirs.
   */
  private async rejectHeld(tx: Db, actor: Actor, entry: Waitlist, offer: WithRecipients): Promise<Waitlist> {
    const rejected = await tx.offer.update({ where: { id: offer.id }, data: { declinedBy: actor.user, updatedBy: actor.user } });
    const declined = await tx.waitlist.update({
      where: { id: entry.id },
      data: { status: 'declined', offerId: null, updatedBy: actor.user },
    });
    const facility = await tx.facility.findFirst({ where: { id: offer.facilityId }, select: { timeZone: true } });
    const events: EventEnvelope[] = [
      entryChanged(declined, ['status', 'offer'], actor.correlationId, actor.causationId),
      createEvent(offerRejectedV1, {
        ...context(offer, actor),
        data: {
          ...offerSnapshot(rejected, facility?.timeZone ?? 'UTC'),
          patient: entry.patient,
          waitlist: entry.id,
          appointment: offer.usedForAppointment,
        },
      }),
    ];
    await enqueue(tx, events);
    const held = offer.usedForAppointment
      ? await tx.appointment.findFirst({ where: { id: offer.usedForAppointment, status: { not: 'cancelled' } }, select: { id: true } })
      : null;
    if (held) await cancelAppointment(tx, actor, held);
    return declined;
  }

  /** Cancels an offer in progress (POST /api/offers/:id/cancel); the patients offered are told it is gone. */
  async cancel(identity: Identity, id: string, correlationId: string): Promise<OfferResponse> {
    const actor = { organization: identity.organization, user: identity.user, correlationId };
    let wrote = false;
    const offer = await this.prisma.$transaction(async (tx) => {
      const current = await ownOffer(tx, identity.organization, id, true);
      if (current.status === 'cancelled') return current;
      if (current.status !== 'in-progress') throw offerOver();
      await this.close(tx, actor, current, 'cancelled', 'cancelled', 'withdrawn');
      wrote = true;
      return ownOffer(tx, identity.organization, id);
    });
    if (wrote) this.eventsWritten();
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
      const done = await this.prisma.$transaction(async (tx) => {
        const locked = await tx.$queryRawUnsafe<unknown[]>(
          `SELECT 1 FROM "offer" WHERE "id" = $1::uuid AND "status" = 'in-progress' AND "expire_at" <= $2::timestamptz FOR UPDATE SKIP LOCKED`,
          id,
          now.toISOString(),
        );
        if (locked.length === 0) return false;
        const offer = await tx.offer.findUniqueOrThrow({ where: { id }, include });
        const actor = { organization: offer.organization, user: 'system', correlationId: randomUUID() };
        const expired = offer.recipients.filter((recipient) => recipient.status === 'offered');
        const { events, told } = await this.release(tx, actor, expired, 'expired', now);
        await enqueue(tx, events);
        await this.advance(tx, actor, await tx.offer.findUniqueOrThrow({ where: { id }, include }), now, told);
        return true;
      });
      if (done) lapsed += 1;
    }
    if (lapsed > 0) this.eventsWritten();
    return lapsed;
  }

  /**
   * After a recipient left an offer: if someone is still offered, nothing to do; a serial offer offers the next
   * queued patient; otherwise the offer ends patient-not-found: offer.expired naming `lapsed` (the patients whose
   * time just ran out) when it lapsed, offer.closed when the last patient declined.
   */
  private async advance(
    tx: Db,
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
      await enqueue(tx, [
        createEvent(offerExtendedV1, {
          ...context(offer, actor),
          data: { ...offerSnapshot(updated, facility.timeZone), offered: [patientOf(next)] },
        }),
        entryChanged(entry, ['status'], actor.correlationId, actor.causationId),
      ]);
      return 'extended';
    }
    const { events } = await this.release(tx, actor, offer.recipients, 'expired', now);
    const ended = await tx.offer.update({ where: { id: offer.id }, data: { status: 'patient-not-found', updatedBy: actor.user } });
    await releaseOfferedSlot(tx, offer, actor);
    const snapshot = offerSnapshot(ended, facility.timeZone);
    const end = lapsed
      ? createEvent(offerExpiredV1, { ...context(offer, actor), data: { ...snapshot, patients: lapsed } })
      : createEvent(offerClosedV1, { ...context(offer, actor), data: { ...snapshot, reason: 'patient-not-found', patients: [] } });
    await enqueue(tx, [end, ...events]);
    return 'ended';
  }

  /** Ends an offer for everyone still in it; the patients offered are told why with offer.closed. */
  private async close(
    tx: Db,
    actor: Actor,
    offer: WithRecipients,
    status: OfferEnd,
    reason: 'cancelled' | 'slot-booked',
    as: OfferRecipient['status'],
  ): Promise<void> {
    const now = this.now();
    const { events, told } = await this.release(tx, actor, offer.recipients, as, now);
    const closed = await tx.offer.update({
      where: { id: offer.id },
      data: { status, patientFound: null, patientFoundAt: null, updatedBy: actor.user },
    });
    await releaseOfferedSlot(tx, offer, actor);
    const facility = await tx.facility.findFirstOrThrow({ where: { id: offer.facilityId } });
    await enqueue(tx, [
      createEvent(offerClosedV1, {
        ...context(offer, actor),
        data: { ...offerSnapshot(closed, facility.timeZone), reason, patients: told },
      }),
      ...events,
    ]);
  }

  /**
   * Takes the offered and queued recipients out of an offer (as `status`) and puts their entries back to waiting.
   * Answers the entries' events and the patients who had been offered it (those to tell).
   */
  private async release(tx: Db, actor: Actor, recipients: OfferRecipient[], status: OfferRecipient['status'], now: Date) {
    const events: EventEnvelope[] = [];
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
      for (const released of entry) events.push(entryChanged(released, ['status', 'offer'], actor.correlationId, actor.causationId));
    }
    return { events, told };
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

/** Runs the answers of the HTTP routes in their own transaction and maps their outcomes to answers. */
export class OfferAnswers {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly offers: OfferLifecycle,
    private readonly eventsWritten: () => void,
  ) {}

  /** GET /api/waitlists/confirmOffer/:id: 200 with the entry for the winner (or the approval), 409 for everyone else. */
  async confirm(identity: Identity, waitlistId: string, correlationId: string): Promise<WaitlistResponse> {
    const outcome = await this.prisma.$transaction((tx) =>
      this.offers.accept(tx, { organization: identity.organization, user: identity.user, correlationId }, waitlistId, { mayApprove: true }),
    );
    this.eventsWritten();
    if (outcome.kind === 'slot-booked')
      throw new HttpProblem(409, 'slot-taken', 'The provider was booked for that time another way; the offer is closed.');
    return toWaitlistResponse(outcome.entry);
  }

  /** GET /api/waitlists/declineOffer/:id and cancelOffer/:id. */
  async refuse(identity: Identity, waitlistId: string, how: Refusal, correlationId: string): Promise<WaitlistResponse> {
    const entry = await this.prisma.$transaction((tx) =>
      this.offers.refuse(tx, { organization: identity.organization, user: identity.user, correlationId }, waitlistId, how, {
        mayRejectHeld: true,
      }),
    );
    this.eventsWritten();
    return toWaitlistResponse(entry);
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

function context(offer: Offer, actor: Actor) {
  return eventContext(offer.organization, offer.id, actor);
}
