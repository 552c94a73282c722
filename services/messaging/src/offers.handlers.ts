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
} from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import type { z } from 'zod';
import { on, type Db, type Tx } from './events.js';
import { SYSTEM_USER } from './reminder-planning.handlers.js';

/** Keys of the texts about offers of freed slots. */
export const OFFER_TEXT = 'offer';
/** The offer text of a parallel offer (first YES wins); sent as an `offer` message, so replies, calls and e-mail links treat it as one. */
export const OFFER_PARALLEL = 'offer-parallel';
/** The answer to a YES the front office must approve first. */
export const OFFER_PENDING = 'offer-pending';
export const OFFER_ACCEPTED = 'offer-accepted';
/** The answer when the front office declines an acceptance it held. */
export const OFFER_DECLINED = 'offer-declined';
export const OFFER_TAKEN = 'offer-taken';
/** Keys of the texts that offer a slot. */
export const OFFER_TEXTS = [OFFER_TEXT, OFFER_PARALLEL];
/** Keys of every text about an offer. */
export const OFFER_KEYS = new Set([...OFFER_TEXTS, OFFER_PENDING, OFFER_ACCEPTED, OFFER_DECLINED, OFFER_TAKEN]);

/** What every offer event says of the offer itself. */
type OfferData = Omit<z.output<typeof offerCreatedV1.data>, 'offered'>;

async function keepOffer(db: Db, event: EventEnvelope<OfferData>): Promise<void> {
  const data = event.data;
  const fields = {
    provider: data.provider,
    facility: data.facility,
    date: new Date(data.date),
    duration: data.duration,
    timeZone: data.timeZone,
    expireAt: new Date(data.expireAt),
    status: data.status,
  };
  await db.offer.upsert({ where: { id: data._id }, create: { id: data._id, organization: event.organization, ...fields }, update: fields });
}

/** Skips the offer's texts not sent yet: the offer they invite to is no longer open. */
async function voidUnsentOfferTexts(db: Db, event: EventEnvelope<OfferData>, reason: 'offer-closed' | 'offer-expired'): Promise<void> {
  await db.reminder.updateMany({
    where: {
      organization: event.organization,
      offer: event.data._id,
      messageTemplate: { in: OFFER_TEXTS },
      status: { in: ['scheduled', 'blocked'] },
    },
    data: { status: 'skipped', statusReason: reason },
  });
}

/**
 * Plans a text about an offer to each patient, at once. The dispatcher sends it like a reminder (durably, once,
 * never to a patient who must not be contacted); `forced` ones go even in quiet hours (answers to a patient who just
 * wrote). One text of each kind per offer and patient, however often the event comes.
 */
async function planTexts(
  db: Db,
  event: EventEnvelope<OfferData>,
  patients: string[],
  key: string,
  now: Date,
  forced: boolean,
): Promise<void> {
  for (const patient of patients) {
    if (
      (await db.reminder.count({ where: { organization: event.organization, offer: event.data._id, patient, messageTemplate: key } })) > 0
    )
      continue;
    await db.reminder.create({
      data: {
        id: randomUUID(),
        organization: event.organization,
        patient,
        offer: event.data._id,
        provider: event.data.provider,
        facility: event.data.facility,
        type: 'appointment',
        sendAt: now,
        forcedTime: forced,
        messageTemplate: key,
        createdBy: SYSTEM_USER,
        updatedBy: SYSTEM_USER,
      },
    });
  }
}

/** Bindings that text offers of freed slots from scheduling's events: the offer, the winner's booking, the others' regrets. */
export function offerBindings(clock: () => Date): EventBinding<Tx>[] {
  return [
    ...[offerCreatedV1, offerExtendedV1].map((definition) =>
      on(definition, async (event, db) => {
        await keepOffer(db, event);
        const key = event.data.protocol === 'parallel' ? OFFER_PARALLEL : OFFER_TEXT;
        await planTexts(
          db,
          event,
          event.data.offered.map((offered) => offered.patient),
          key,
          clock(),
          false,
        );
      }),
    ),
    on(offerAcceptedV1, async (event, db) => {
      await keepOffer(db, event);
      // Not "booked" while the front office has yet to approve: the patient is told it is being checked.
      await planTexts(db, event, [event.data.patient], event.data.awaitingApproval ? OFFER_PENDING : OFFER_ACCEPTED, clock(), true);
    }),
    // Staff decide later, maybe at night: these wait for the allowed hours like any text the patient did not just ask for.
    on(offerApprovedV1, async (event, db) => {
      await keepOffer(db, event);
      await planTexts(db, event, [event.data.patient], OFFER_ACCEPTED, clock(), false);
    }),
    on(offerRejectedV1, async (event, db) => {
      await keepOffer(db, event);
      await planTexts(db, event, [event.data.patient], OFFER_DECLINED, clock(), false);
    }),
    on(offerClosedV1, async (event, db) => {
      await keepOffer(db, event);
      // Texts not sent yet are void; those who were texted the offer are told the slot is gone.
      await voidUnsentOfferTexts(db, event, 'offer-closed');
      const texted = (
        await db.reminder.findMany({
          where: {
            organization: event.organization,
            offer: event.data._id,
            messageTemplate: { in: OFFER_TEXTS },
            status: { in: ['sent', 'delivered'] },
            patient: { in: event.data.patients.map((offered) => offered.patient) },
          },
          select: { patient: true },
        })
      ).map((row) => row.patient);
      // Those who answered YES too (a parallel offer someone else won) are answered: at once, like any answer to their
      // own message, not spaced after their last text or held for quiet hours. The others were not waiting for it.
      const saidYes = new Set(
        (
          await db.message.findMany({
            where: {
              organization: event.organization,
              offer: event.data._id,
              type: 'inbound',
              classification: 'positive',
              patient: { in: texted },
            },
            select: { patient: true },
          })
        ).map((row) => row.patient),
      );
      await planTexts(
        db,
        event,
        texted.filter((patient) => saidYes.has(patient)),
        OFFER_TAKEN,
        clock(),
        true,
      );
      await planTexts(
        db,
        event,
        texted.filter((patient) => !saidYes.has(patient)),
        OFFER_TAKEN,
        clock(),
        false,
      );
    }),
    on(offerExpiredV1, async (event, db) => {
      await keepOffer(db, event);
      await voidUnsentOfferTexts(db, event, 'offer-expired');
    }),
  ];
}
