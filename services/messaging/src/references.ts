import { HttpProblem, type Identity, type OwnerLookup } from '@pep/service-kit';
import type { Appointment, PatientContact, PrismaClient } from './generated/prisma/client.js';
import { builtIn } from './templates.js';

/** The services that own what messaging's requests refer to, asked when a read model has not heard of an id yet. */
export interface Owners {
  patients: OwnerLookup;
  scheduling: OwnerLookup;
}

/**
 * Rows loaded in bulk for a batch, found by id only for their own organization: a batch of many tenants' work never
 * lends one tenant's record to another.
 */
export function ownRows<T extends { id: string; organization: string }>(rows: T[]): (id: string | null, organization: string) => T | null {
  const map = new Map(rows.map((row) => [row.id, row]));
  return (id, organization) => {
    const row = id ? map.get(id) : undefined;
    return row && row.organization === organization ? row : null;
  };
}

/** 404 naming the field whose id is not a record of the caller's organization (an unknown id looks the same). */
export function unknownReference(what: string, field: string): HttpProblem {
  return new HttpProblem(404, 'not-found', `${what} not found`, { errors: [{ field, message: `no such ${what} in your organization` }] });
}

/**
 * 404 naming the list filter whose facility or provider is not the organization's, as messaging knows them (a deleted
 * one still filters its history).
 */
export async function checkPlaceFilters(
  prisma: PrismaClient,
  organization: string,
  filters: { facility?: string | undefined; provider?: string | undefined },
): Promise<void> {
  const [facility, provider] = await Promise.all([
    filters.facility ? prisma.facility.findFirst({ where: { id: filters.facility, organization }, select: { id: true } }) : null,
    filters.provider ? prisma.provider.findFirst({ where: { id: filters.provider, organization }, select: { id: true } }) : null,
  ]);
  const errors = [
    ...(filters.facility && !facility ? [{ field: 'querystring.facility', message: 'no such facility in your organization' }] : []),
    ...(filters.provider && !provider ? [{ field: 'querystring.provider', message: 'no such provider in your organization' }] : []),
  ];
  if (errors.length > 0) throw new HttpProblem(404, 'not-found', 'not found', { errors });
}

/** 503 for a record its owner vouches for whose details have not reached messaging yet; a retry shortly finds them. */
export function notArrivedYet(what: string): HttpProblem {
  return new HttpProblem(503, 'not-arrived-yet', `The ${what} exists but its details have not reached messaging yet; retry shortly.`, {
    retryAfter: 2,
  });
}

/** Whether a reference may name a record its owner deleted (reading history) or not (writing something new). */
interface Options {
  allowDeleted?: boolean;
}

/**
 * Checks that ids in requests name records of the caller's organization. The read models answer first: a record
 * they hold under another organization is not the caller's (records never change organization). An id they have
 * not heard of may be one created a moment ago whose event is still on its way, so its owner is asked; only the
 * owner's "not yours" answers 404, and an owner that cannot be asked answers 503.
 */
export class References {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly owners: Owners,
  ) {}

  /** The caller's patient: its contact, or null when patients vouches for one messaging has not heard of yet; 404 otherwise. */
  async patient(identity: Identity, id: string, field: string, options: Options = {}): Promise<PatientContact | null> {
    const contact = await this.prisma.patientContact.findUnique({ where: { id } });
    if (contact) {
      if (contact.organization !== identity.organization || (contact.deleted && !options.allowDeleted))
        throw unknownReference('patient', field);
      return contact;
    }
    if (!(await this.owners.patients.exists(identity, 'patient', id))) throw unknownReference('patient', field);
    return null;
  }

  /** The caller's appointment, or null when scheduling vouches for one messaging has not heard of yet; 404 otherwise. */
  async appointment(identity: Identity, id: string, field: string, options: Options = {}): Promise<Appointment | null> {
    const appointment = await this.prisma.appointment.findUnique({ where: { id } });
    if (appointment) {
      if (appointment.organization !== identity.organization || (appointment.deleted && !options.allowDeleted))
        throw unknownReference('appointment', field);
      return appointment;
    }
    if (!(await this.owners.scheduling.exists(identity, 'appointment', id))) throw unknownReference('appointment', field);
    return null;
  }

  /** A patient and, optionally, an appointment of theirs; an appointment known to be another patient's answers 400. */
  async patientAndAppointment(identity: Identity, ids: { patient: string; appointment?: string | undefined }, options: Options = {}) {
    // Both are asked at once, but the patient's refusal is the one reported when both fail, whichever answered first.
    const [patient, booked] = await Promise.allSettled([
      this.patient(identity, ids.patient, 'body.patient', options),
      ids.appointment ? this.appointment(identity, ids.appointment, 'body.appointment', options) : null,
    ]);
    if (patient.status === 'rejected') throw patient.reason;
    if (booked.status === 'rejected') throw booked.reason;
    const [contact, appointment] = [patient.value, booked.value];
    // A merge moves appointments to the survivor, so the read model's patient is the one to compare with.
    if (appointment && appointment.patient !== ids.patient) {
      throw new HttpProblem(400, 'validation', 'The request is invalid.', {
        errors: [{ field: 'body.appointment', message: "not this patient's appointment" }],
      });
    }
    return { contact, appointment };
  }

  /** 404 naming the field unless the organization has wording for the template key (its own or built in). */
  async template(identity: Identity, key: string, field: string): Promise<void> {
    if (builtIn(key, 'en')) return;
    const own = await this.prisma.messageTemplate.findFirst({
      where: { organization: identity.organization, key, deleted: false },
      select: { id: true },
    });
    if (!own) throw unknownReference('message template', field);
  }
}
