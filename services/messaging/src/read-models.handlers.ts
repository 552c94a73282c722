import {
  facilityCreatedV1,
  organizationCreatedV1,
  organizationUpdatedV1,
  facilityDeletedV1,
  facilityUpdatedV1,
  patientContactPreferencesChangedV1,
  patientCreatedV1,
  patientDeletedV1,
  patientMergedV1,
  patientOptedInV1,
  patientOptedOutV1,
  patientUpdatedV1,
  providerCreatedV1,
  providerDeletedV1,
  providerUpdatedV1,
} from '@pep/contracts';
import type { Emit, EventBinding } from '@pep/db';
import { on, type Db, type Tx } from './events.js';

/**
 * Holds or releases a patient's planned reminders when consent changes: do-not-contact (from patients, or the
 * patient's own STOP) blocks every scheduled one; lifting it puts back those still ahead.
 */
export async function applyConsent(db: Db, organization: string, patient: string, now: Date): Promise<void> {
  const contact = await db.patientContact.findFirst({ where: { id: patient, organization } });
  if (!contact) return;
  if (contact.doNotContact || contact.optedOutAt) {
    await db.reminder.updateMany({
      where: { organization, patient, status: 'scheduled', deleted: false },
      data: { status: 'blocked', statusReason: 'do-not-contact' },
    });
  } else {
    await db.reminder.updateMany({
      where: { organization, patient, status: 'blocked', statusReason: 'do-not-contact', deleted: false, sendAt: { gt: now } },
      data: { status: 'scheduled', statusReason: null },
    });
  }
}

/**
 * Gives a patient just learnt at a number the STOP or START that number sent while no patient was known at it
 * (ADR 0029), once per patient: a STOP opts them out as their own would (patients hears patient.opted-out and sets
 * do-not-contact), a START lifts an opt-out. Runs in the transaction that writes the contact, before any reminder of
 * theirs can be planned or sent with it.
 */
export async function applyNumberConsent(db: Tx, emit: Emit, organization: string, patient: string, phone: string): Promise<void> {
  // Claiming the patient in the row and reading the word is one statement, so two deliveries cannot both apply it.
  const [word] = await db.$queryRawUnsafe<Array<{ opted_out: boolean; keyword: string; changed_at: Date }>>(
    `UPDATE "number_consent" SET "applied_to" = array_append(COALESCE("applied_to", '{}'), $2::uuid)
     WHERE "phone" = $1 AND NOT ($2::uuid = ANY(COALESCE("applied_to", '{}')))
     RETURNING "opted_out", "keyword", "changed_at"`,
    phone,
    patient,
  );
  if (!word) return;
  const contact = await db.patientContact.findFirst({ where: { id: patient, organization } });
  if (!contact || (word.opted_out ? contact.optedOutAt !== null : contact.optedOutAt === null)) return;
  await db.patientContact.update({ where: { id: patient }, data: { optedOutAt: word.opted_out ? word.changed_at : null } });
  const data = { _id: patient, channel: 'sms' as const, keyword: word.keyword };
  emit(word.opted_out ? patientOptedOutV1 : patientOptedInV1, { organization, subject: patient, data });
}

/** Bindings keeping patients' contact details and consent; `clock` decides which blocked reminders are still ahead. */
export function patientBindings(clock: () => Date): EventBinding<Tx>[] {
  const snapshotHandler = (definition: typeof patientCreatedV1 | typeof patientUpdatedV1) =>
    on(definition, async (event, db, emit) => {
      const data = event.data;
      const fields = {
        firstname: data.firstname,
        lastname: data.lastname,
        phone: data.phone,
        email: data.email,
        doNotContact: data.doNotContact,
        ...(data.language ? { language: data.language } : {}),
        // Events from before patients kept tags carry none: they leave the ones known as they are.
        ...(data.tags ? { tags: data.tags } : {}),
      };
      await db.patientContact.upsert({
        where: { id: data._id },
        create: { id: data._id, organization: event.organization, ...fields },
        update: fields,
      });
      if (data.phone) await applyNumberConsent(db, emit, event.organization, data._id, data.phone);
      await applyConsent(db, event.organization, data._id, clock());
    });

  return [
    snapshotHandler(patientCreatedV1),
    snapshotHandler(patientUpdatedV1),
    on(patientContactPreferencesChangedV1, async (event, db) => {
      await db.patientContact.updateMany({
        where: { id: event.data._id, organization: event.organization },
        data: { doNotContact: event.data.doNotContact, language: event.data.language },
      });
      await applyConsent(db, event.organization, event.data._id, clock());
    }),
    on(patientDeletedV1, async (event, db) => {
      await db.patientContact.updateMany({ where: { id: event.data._id, organization: event.organization }, data: { deleted: true } });
      await db.reminder.updateMany({
        where: { organization: event.organization, patient: event.data._id, status: { in: ['scheduled', 'blocked'] }, deleted: false },
        data: { status: 'skipped', statusReason: 'patient-deleted' },
      });
    }),
    // Planned reminders and the message history follow the surviving record, so the conversation stays whole.
    on(patientMergedV1, async (event, db) => {
      const where = { organization: event.organization, patient: event.data.merged };
      await db.patientContact.updateMany({
        where: { id: event.data.merged, organization: event.organization },
        data: { deleted: true, mergedInto: event.data.survivor },
      });
      await db.reminder.updateMany({ where, data: { patient: event.data.survivor } });
      await db.message.updateMany({ where, data: { patient: event.data.survivor } });
      await db.appointment.updateMany({ where, data: { patient: event.data.survivor } });
      await applyConsent(db, event.organization, event.data.survivor, clock());
    }),
  ];
}

/** Bindings keeping the names of facilities and providers said in messages, and the facilities' time zones. */
export const catalogBindings: EventBinding<Tx>[] = [
  ...[facilityCreatedV1, facilityUpdatedV1].map((definition) =>
    on(definition, async (event, tx) => {
      const fields = { name: event.data.alternativeName ?? event.data.name, timeZone: event.data.timeZone, phone: event.data.phone };
      await tx.facility.upsert({
        where: { id: event.data._id },
        create: { id: event.data._id, organization: event.organization, ...fields },
        update: fields,
      });
    }),
  ),
  on(facilityDeletedV1, async (event, tx) => {
    await tx.facility.updateMany({ where: { id: event.data._id, organization: event.organization }, data: { deleted: true } });
  }),
  ...[providerCreatedV1, providerUpdatedV1].map((definition) =>
    on(definition, async (event, tx) => {
      const fields = { name: event.data.alternativeName ?? event.data.name };
      await tx.provider.upsert({
        where: { id: event.data._id },
        create: { id: event.data._id, organization: event.organization, ...fields },
        update: fields,
      });
    }),
  ),
  on(providerDeletedV1, async (event, tx) => {
    await tx.provider.updateMany({ where: { id: event.data._id, organization: event.organization }, data: { deleted: true } });
  }),
];

/**
 * Bindings keeping each organization's name, said in texts as {{organization.name}}. An event older than the one
 * applied last changes nothing, so a late redelivery cannot bring back an old name.
 */
export const organizationBindings: EventBinding<Tx>[] = [organizationCreatedV1, organizationUpdatedV1].map((definition) =>
  on(definition, async (event, tx) => {
    const changedAt = new Date(event.time);
    await tx.$executeRawUnsafe(
      `INSERT INTO "organization_profile" ("organization", "name", "changed_at") VALUES ($1::uuid, $2, $3::timestamptz)
       ON CONFLICT ("organization") DO UPDATE SET "name" = EXCLUDED."name", "changed_at" = EXCLUDED."changed_at"
       WHERE "organization_profile"."changed_at" <= EXCLUDED."changed_at"`,
      event.data._id,
      event.data.name,
      changedAt.toISOString(),
    );
  }),
);
