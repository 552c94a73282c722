import { randomUUID } from 'node:crypto';
import { offerAcceptedV1, offerClosedV1, offerCreatedV1, offerExpiredV1, offerExtendedV1, type EventEnvelope } from '@pep/contracts';
import { on, type EventBinding } from '@pep/db';
import type { z } from 'zod';
import { typed, type Db } from './events.js';
import { SYSTEM_USER } from './reminder-planner.js';

/** Keys of the texts about offers of freed slots. */
export const OFFER_TEXT = 'offer';
export const OFFER_ACCEPTED = 'offer-accepted';
export const OFFER_TAKEN = 'offer-taken';

/** What every offer event says of the offer itself. */
type OfferData = Omit<z.output<typeof offerCreatedV1.data>, 'offered'>;

async function keepOffer(db: Db, event: EventEnvelope<OfferData>): Promise<void> {
  const data = event.data;
  const fields = { provider: data.provider, facility: data.facility, date: new Date(data.date), duration: data.duration, timeZone: data.timeZone, expireAt: new Date(data.expireAt), status: data.status };
  await db.offer.upsert({ where: { id: data._id }, create: { id: data._id, organization: event.organization, ...fields }, update: fields });
}

/**
 * Plans a text about an offer to each patient, at once. The dispatcher sends it like a reminder (durably, once,
 * never to a patient who must not be contacted); `forced` ones go even in quiet hours (answers to a patient who just
 * wrote). One text of each kind per offer and patient, however often the event comes.
 */
async function planTexts(db: Db, event: EventEnvelope<OfferData>, patients: string[], key: string, now: Date, forced: boolean): Promise<void> {
  for (const patient of patients) {
    if ((await db.reminder.count({ where: { organization: event.organization, offer: event.data._id, patient, messageTemplate: key } })) > 0) continue;
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
export function offerBindings(clock: () => Date): EventBinding[] {
  return [
    ...[offerCreatedV1, offerExtendedV1].map((definition) =>
      on(definition, async (event, tx) => {
        const db = typed(tx);
        await keepOffer(db, event);
        await planTexts(db, event, event.data.offered.map((offered) => offered.patient), OFFER_TEXT, clock(), false);
      }),
    ),
    on(offerAcceptedV1, async (event, tx) => {
      const db = typed(tx);
      await keepOffer(db, event);
      await planTexts(db, event, [event.data.patient], OFFER_ACCEPTED, clock(), true);
    }),
    on(offerClosedV1, async (event, tx) => {
      const db = typed(tx);
      await keepOffer(db, event);
      // Texts not sent yet are void; those who were texted the offer are told the slot is gone.
      await db.reminder.updateMany({ where: { organization: event.organization, offer: event.data._id, messageTemplate: OFFER_TEXT, status: { in: ['scheduled', 'blocked'] } }, data: { status: 'skipped', statusReason: 'offer-closed' } });
      const texted = await db.reminder.findMany({
        where: { organization: event.organization, offer: event.data._id, messageTemplate: OFFER_TEXT, status: { in: ['sent', 'delivered'] }, patient: { in: event.data.patients.map((offered) => offered.patient) } },
        select: { patient: true },
      });
      await planTexts(db, event, texted.map((row) => row.patient), OFFER_TAKEN, clock(), false);
    }),
    on(offerExpiredV1, async (event, tx) => {
      const db = typed(tx);
      await keepOffer(db, event);
      await db.reminder.updateMany({ where: { organization: event.organization, offer: event.data._id, messageTemplate: OFFER_TEXT, status: { in: ['scheduled', 'blocked'] } }, data: { status: 'skipped', statusReason: 'offer-expired' } });
    }),
  ];
}
