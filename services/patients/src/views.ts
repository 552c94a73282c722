import { rootAccountOf } from '@pep/service-kit';
import { displayPhone, parseContacts, reachableChannels } from './contact.js';
import type { PatientRecord } from './patient.repository.js';
import type { PatientResponse, PatientSummary } from './patient.schemas.js';

/** A patient as the API shows it. */
export function toPatientResponse(patient: PatientRecord): PatientResponse {
  return {
    _id: patient.id,
    organization: patient.organization,
    user: rootAccountOf(patient.organization),
    firstname: patient.firstname,
    lastname: patient.lastname,
    middlename: patient.middlename,
    name: `${patient.firstname} ${patient.lastname}`,
    normalizedName: patient.normalizedName,
    email: patient.email,
    phone: patient.phone,
    displayPhone: displayPhone(patient.phone),
    contact: parseContacts(patient.contact),
    doNotContact: patient.doNotContact,
    doNotContactMessage: patient.doNotContactMessage,
    language: patient.language,
    dateOfBirth: patient.dateOfBirth,
    gender: patient.gender,
    address: patient.address,
    city: patient.city,
    state: patient.state,
    country: patient.country,
    postcode: patient.postcode,
    externalId: patient.externalId,
    tags: patient.tags,
    source: patient.source,
    mergedInto: patient.mergedInto,
    mergedAt: patient.mergedAt?.toISOString() ?? null,
    subscribers: patient.subscribers.map((subscriber) => subscriber.user),
    possibleDuplicateOf: patient.possibleDuplicateOf,
    verifiedAt: patient.verifiedAt?.toISOString() ?? null,
    verifiedBy: patient.verifiedBy,
    createdBy: patient.createdBy,
    updatedBy: patient.updatedBy,
    createdAt: patient.createdAt.toISOString(),
    updatedAt: patient.updatedAt.toISOString(),
  };
}

/** The compact form crudList answers with. */
export function toPatientSummary(patient: PatientRecord): PatientSummary {
  return {
    _id: patient.id,
    name: `${patient.firstname} ${patient.lastname}`,
    firstname: patient.firstname,
    lastname: patient.lastname,
    dateOfBirth: patient.dateOfBirth,
    displayPhone: displayPhone(patient.phone),
    updatedAt: patient.updatedAt.toISOString(),
  };
}

/** The snapshot patient.created and patient.updated carry. */
export function patientSnapshot(patient: PatientRecord) {
  return {
    _id: patient.id,
    firstname: patient.firstname,
    lastname: patient.lastname,
    middlename: patient.middlename,
    phone: patient.phone,
    email: patient.email,
    dateOfBirth: patient.dateOfBirth,
    doNotContact: patient.doNotContact,
    language: patient.language,
    externalId: patient.externalId,
    subscribers: patient.subscribers.map((subscriber) => subscriber.user),
    tags: patient.tags,
  };
}

/** What patient.contact-preferences-changed carries. */
export function contactPreferences(patient: PatientRecord) {
  return {
    _id: patient.id,
    doNotContact: patient.doNotContact,
    doNotContactMessage: patient.doNotContactMessage,
    language: patient.language,
    channels: patient.doNotContact ? [] : reachableChannels(parseContacts(patient.contact)),
  };
}

/** Whether two preference snapshots differ in anything messaging acts on. */
export function preferencesDiffer(a: ReturnType<typeof contactPreferences>, b: ReturnType<typeof contactPreferences>): boolean {
  return JSON.stringify({ ...a, _id: '' }) !== JSON.stringify({ ...b, _id: '' });
}
