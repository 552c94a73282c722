import { randomUUID } from 'node:crypto';
import { referralCreatedV1, referralDeletedV1, referralStatusChangedV1, referralUpdatedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { DateTime } from 'luxon';
import type { z } from 'zod';
import { on, type Db, type Tx } from './events.js';
import { SYSTEM_USER } from './reminder-planning.handlers.js';
import { nextAllowed } from './send-time.js';
import { messagingSettings } from './settings.js';

/** Key of the text (and the call) inviting a referred patient to schedule; its messages are found by it. */
export const REFERRAL_OUTREACH = 'referral-outreach';

/** Key of the answer to a patient who asked to be called to schedule. */
export const REFERRAL_ANSWERED = 'referral-answered';

/** An attempt not sent yet, which a referral leaving `active` voids. */
const UNSENT = ['scheduled', 'blocked', 'pending'] as const;

/** Fields of a referral whose change moves its remaining attempts. */
const REPLANNED_BY = new Set(['startOn', 'facility', 'patient']);

type ReferralData = z.output<typeof referralCreatedV1.data>;

/** Keeps the referral as patients last described it. */
async function keepReferral(db: Db, organization: string, data: ReferralData): Promise<void> {
  const fields = {
    patient: data.patient,
    facility: data.facility,
    provider: data.provider,
    status: data.status,
    startOn: new Date(data.startOn),
    expireAt: data.expireAt ? new Date(data.expireAt) : null,
    attempt: data.attempt,
    deleted: false,
  };
  await db.referral.upsert({ where: { id: data._id }, create: { id: data._id, organization, ...fields }, update: fields });
}

/** Voids the referral's attempts not sent yet, saying why. */
async function voidUnsentAttempts(db: Db, organization: string, referral: string, reason: string): Promise<void> {
  await db.reminder.updateMany({
    where: { organization, referral, status: { in: [...UNSENT] }, deleted: false },
    data: { status: 'skipped', statusReason: reason, updatedBy: SYSTEM_USER },
  });
}

/**
 * When each outreach attempt still to come goes: the organization's outreach days after the referral's start, at the
 * start's local time of day in the clinic's zone (the facility's, else the organization's), moved out of quiet hours.
 * Attempts whose time has passed are not sent in a burst: when any of them was not sent, one goes now (in the allowed
 * hours) and the rest are dropped. `done` attempts already went (patients' count or ours, whichever is more); the
 * total never passes the number of outreach days.
 */
export function outreachTimes(input: {
  startOn: Date;
  days: number[];
  timeZone: string;
  allowed: { start: string; end: string };
  done: number;
  now: Date;
}): Date[] {
  const { timeZone, allowed, now } = input;
  const start = DateTime.fromJSDate(input.startOn, { zone: timeZone });
  // Calendar days in the clinic's zone, so an attempt keeps its local time across a DST change.
  const times = input.days.map((day) => nextAllowed(start.plus({ days: day }).toJSDate(), timeZone, allowed));
  const past = times.filter((time) => time.getTime() <= now.getTime()).length;
  const dueNow = past > input.done ? [nextAllowed(now, timeZone, allowed)] : [];
  const ahead = times.filter((time) => time.getTime() > now.getTime());
  return [...dueNow, ...ahead].slice(0, Math.max(0, times.length - input.done));
}

/**
 * Plans the referral's remaining outreach attempts as reminders of type `referral`, numbered on from the attempts
 * already sent. A patient who must not be contacted gets them `blocked` (do-not-contact), as reminders are, so lifting
 * it releases those still ahead.
 */
async function planOutreach(db: Db, organization: string, referral: ReferralData, now: Date): Promise<void> {
  const settings = await messagingSettings(db, organization);
  const facility = referral.facility ? await db.facility.findFirst({ where: { id: referral.facility, organization } }) : null;
  const timeZone = facility?.timeZone ?? settings.timeZone ?? 'UTC';
  const sent = await db.reminder.count({
    where: { organization, referral: referral._id, status: { in: ['sent', 'delivered', 'confirmed'] } },
  });
  const done = Math.max(sent, referral.attempt);
  const times = outreachTimes({
    startOn: new Date(referral.startOn),
    days: settings.referralOutreachDays,
    timeZone,
    allowed: settings.allowed,
    done,
    now,
  });
  if (times.length === 0) return;
  const contact = await db.patientContact.findFirst({ where: { id: referral.patient, organization } });
  const blocked = contact !== null && (contact.doNotContact || contact.optedOutAt !== null || contact.deleted);
  await db.reminder.createMany({
    data: times.map((sendAt, index) => ({
      id: randomUUID(),
      organization,
      patient: referral.patient,
      provider: referral.provider,
      facility: referral.facility,
      type: 'referral' as const,
      sendAt,
      status: blocked ? ('blocked' as const) : ('scheduled' as const),
      statusReason: blocked ? 'do-not-contact' : null,
      messageTemplate: REFERRAL_OUTREACH,
      referral: referral._id,
      referralAttempt: done + index + 1,
      createdBy: SYSTEM_USER,
      updatedBy: SYSTEM_USER,
    })),
  });
}

/**
 * Bindings that plan, move and void referral outreach from patients' referral events: attempts are planned while a
 * referral is `active` and voided when it leaves that state or is deleted; back to `active`, the remaining ones are
 * planned again. `clock` is now.
 */
export function referralOutreachBindings(clock: () => Date): EventBinding<Tx>[] {
  return [
    on(referralCreatedV1, async (event, db) => {
      await keepReferral(db, event.organization, event.data);
      // A replayed created event finds the attempts it planned and plans nothing twice.
      const planned = await db.reminder.count({ where: { organization: event.organization, referral: event.data._id } });
      if (event.data.status === 'active' && planned === 0) await planOutreach(db, event.organization, event.data, clock());
    }),
    on(referralUpdatedV1, async (event, db) => {
      await keepReferral(db, event.organization, event.data);
      if (event.data.status !== 'active') return;
      // A new start, facility or patient moves what is still ahead; other changes (notes, the attempt count) do not.
      if (!event.data.changed.some((field) => REPLANNED_BY.has(field))) return;
      await voidUnsentAttempts(db, event.organization, event.data._id, 'referral-changed');
      await planOutreach(db, event.organization, event.data, clock());
    }),
    on(referralStatusChangedV1, async (event, db) => {
      await keepReferral(db, event.organization, event.data);
      if (event.data.status === 'active') {
        await voidUnsentAttempts(db, event.organization, event.data._id, 'replanned');
        await planOutreach(db, event.organization, event.data, clock());
      } else {
        await voidUnsentAttempts(db, event.organization, event.data._id, `referral-${event.data.status}`);
      }
    }),
    on(referralDeletedV1, async (event, db) => {
      await db.referral.updateMany({ where: { id: event.data._id, organization: event.organization }, data: { deleted: true } });
      await voidUnsentAttempts(db, event.organization, event.data._id, 'referral-deleted');
    }),
  ];
}
