import { appointmentOutcomes, offerSources, offerStatuses, waitlistStatuses, type offerProtocols } from '@pep/contracts';
import type { Appointment, AppointmentType, Availability, Facility, Offer, Provider, Waitlist } from './generated/prisma/client.js';
import type { AppointmentResponse } from './appointment.schemas.js';
import type { AppointmentTypeResponse } from './appointment-type.schemas.js';
import { effectiveStatus, stateOf } from './availability-status.js';
import type { AvailabilityResponse } from './availability.schemas.js';
import type { FacilityResponse } from './facility.schemas.js';
import type { OfferResponse } from './offer.schemas.js';
import type { ProviderResponse } from './provider.schemas.js';
import type { WaitlistResponse } from './waitlist.schemas.js';
import { recordView } from './schemas.js';

/** `firstname [middlename] lastname`, as the product shows a provider. */
export function providerName(provider: Pick<Provider, 'firstname' | 'middlename' | 'lastname'>): string {
  return [provider.firstname, provider.middlename, provider.lastname].filter(Boolean).join(' ');
}

/** A provider as the API shows it. */
export function toProviderResponse(provider: Provider): ProviderResponse {
  const name = providerName(provider);
  return {
    ...recordView(provider),
    firstname: provider.firstname,
    lastname: provider.lastname,
    middlename: provider.middlename,
    name,
    normalizedName: name.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase(),
    alternativeName: provider.alternativeName,
    phonetic: provider.phonetic,
    displayPhone: provider.displayPhone,
    npi: provider.npi === null ? null : Number(provider.npi),
    deptCode: provider.deptCode,
    specialInstructions: provider.specialInstructions,
    schedulable: provider.schedulable,
    isReferringProvider: provider.isReferringProvider,
    isRenderingProvider: provider.isRenderingProvider,
    visible: provider.visible,
    source: provider.source as ProviderResponse['source'],
  };
}

/** The provider snapshot events carry. */
export function providerSnapshot(provider: Provider) {
  return {
    _id: provider.id,
    name: providerName(provider),
    firstname: provider.firstname,
    lastname: provider.lastname,
    alternativeName: provider.alternativeName,
    phonetic: provider.phonetic,
    schedulable: provider.schedulable,
    visible: provider.visible,
  };
}

/** A facility as the API shows it. */
export function toFacilityResponse(facility: Facility): FacilityResponse {
  return {
    ...recordView(facility),
    name: facility.name,
    timeZone: facility.timeZone,
    alternativeName: facility.alternativeName,
    phonetic: facility.phonetic,
    address: facility.address,
    city: facility.city,
    state: facility.state,
    country: facility.country,
    postcode: facility.postcode,
    phone: facility.phone,
    fax: facility.fax,
    alternativePhone: facility.alternativePhone,
    specialInstructions: facility.specialInstructions,
    visible: facility.visible,
  };
}

/** The facility snapshot events carry. */
export function facilitySnapshot(facility: Facility) {
  return {
    _id: facility.id,
    name: facility.name,
    alternativeName: facility.alternativeName,
    phonetic: facility.phonetic,
    address: facility.address,
    city: facility.city,
    state: facility.state,
    postcode: facility.postcode,
    country: facility.country,
    phone: facility.phone,
    timeZone: facility.timeZone,
    visible: facility.visible,
  };
}

/** An appointment type as the API shows it. */
export function toAppointmentTypeResponse(type: AppointmentType): AppointmentTypeResponse {
  return {
    ...recordView(type),
    name: type.name,
    alternativeName: type.alternativeName,
    description: type.description,
    duration: type.duration,
    visible: type.visible ? 1 : 0,
  };
}

/** The appointment type snapshot events carry. */
export function appointmentTypeSnapshot(type: AppointmentType) {
  return { _id: type.id, name: type.name, alternativeName: type.alternativeName, duration: type.duration, visible: type.visible };
}

/** An appointment as the API shows it. */
export function toAppointmentResponse(appointment: Appointment): AppointmentResponse {
  return {
    ...recordView(appointment),
    patient: appointment.patient,
    provider: appointment.providerId,
    facility: appointment.facilityId,
    type: appointment.typeId,
    date: appointment.date.toISOString(),
    duration: appointment.duration,
    source: appointment.source,
    status: appointment.status,
    referral: appointment.referral,
    outcome: appointment.outcome === null ? null : oneOf(appointmentOutcomes, appointment.outcome),
    outcomeAt: appointment.outcomeAt?.toISOString() ?? null,
  };
}

/** The appointment snapshot events carry; the facility's time zone lets messaging tell local times. */
export function appointmentSnapshot(appointment: Appointment, timeZone: string) {
  return {
    _id: appointment.id,
    patient: appointment.patient,
    provider: appointment.providerId,
    facility: appointment.facilityId,
    type: appointment.typeId,
    date: appointment.date.toISOString(),
    duration: appointment.duration,
    status: appointment.status,
    source: appointment.source,
    timeZone,
    referral: appointment.referral,
  };
}

/**
 * A stored status or source as the type of the values it may take. The column's check admits only those values, spelled
 * as the API spells them, so a value outside them is a broken invariant and fails loudly rather than reaching a client.
 */
export function oneOf<T extends string>(allowed: readonly T[], value: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new Error(`stored value outside its check: ${value}`);
  return value as T;
}

/** A waitlist entry as the API shows it. */
export function toWaitlistResponse(entry: Waitlist): WaitlistResponse {
  return {
    ...recordView(entry),
    patient: entry.patient,
    provider: entry.providerId,
    facility: entry.facilityId,
    facilities: entry.facilities,
    appointmentType: entry.appointmentTypeId,
    position: entry.position,
    notes: entry.notes,
    status: oneOf(waitlistStatuses, entry.status),
    offer: entry.offerId,
  };
}

/** The waitlist entry snapshot events carry: ids and states, never the notes. */
export function waitlistSnapshot(entry: Waitlist, changed: string[]) {
  return {
    _id: entry.id,
    patient: entry.patient,
    provider: entry.providerId,
    facility: entry.facilityId,
    facilities: entry.facilities,
    appointmentType: entry.appointmentTypeId,
    position: entry.position,
    status: oneOf(waitlistStatuses, entry.status),
    offer: entry.offerId,
    deleted: entry.deleted,
    changed,
  };
}

/** An offer as the API shows it; `waitlists` are the entries it was made to, in rank order. */
export function toOfferResponse(offer: Offer & { recipients: Array<{ waitlistId: string; rank: number; status: string }> }): OfferResponse {
  const ranked = [...offer.recipients].sort((a, b) => a.rank - b.rank);
  const current = ranked.findIndex((recipient) => recipient.status === 'offered');
  return {
    ...recordView(offer),
    provider: offer.providerId,
    facility: offer.facilityId,
    appointmentType: [offer.appointmentTypeId],
    date: offer.date.toISOString(),
    duration: offer.duration,
    expireAt: offer.expireAt.toISOString(),
    protocol: offer.protocol,
    source: oneOf(offerSources, offer.source),
    status: oneOf(offerStatuses, offer.status),
    patientFound: offer.patientFound,
    patientFoundAt: offer.patientFoundAt?.toISOString() ?? null,
    usedForAppointment: offer.usedForAppointment,
    availability: null,
    approvedBy: offer.approvedBy,
    declinedBy: offer.declinedBy,
    currentWaitlist: current,
    rescheduledFromAppointment: null,
    cancelledAppointment: offer.fromAppointment,
    waitlists: ranked.map((recipient) => recipient.waitlistId),
  };
}

/** The offer snapshot events carry; the facility's time zone lets messaging tell the local time. */
export function offerSnapshot(offer: Offer, timeZone: string) {
  return {
    _id: offer.id,
    provider: offer.providerId,
    facility: offer.facilityId,
    appointmentType: offer.appointmentTypeId,
    date: offer.date.toISOString(),
    duration: offer.duration,
    timeZone,
    expireAt: offer.expireAt.toISOString(),
    protocol: offer.protocol as (typeof offerProtocols)[number],
    source: oneOf(offerSources, offer.source),
    status: oneOf(offerStatuses, offer.status),
  };
}

/** An availability with the time zone of its facility, the slot's local clock. */
export type LocatedAvailability = Availability & { facility: { timeZone: string } };

/** An availability as the API shows it, in the state it is in at `now` (a slot that started open is expired). */
export function toAvailabilityResponse(availability: LocatedAvailability, now: Date): AvailabilityResponse {
  // Not `{ ...recordView(availability), provider, … }`: V8 (Node 20) defines each property after a spread through a slow
  // path, which made this the costliest step of a page of open slots (npm run bench:slots). Same fields, same order.
  return Object.assign(recordView(availability), {
    provider: availability.providerId,
    facility: availability.facilityId,
    appointmentType: availability.appointmentTypeId,
    date: availability.date.toISOString(),
    duration: availability.duration,
    endDate: availability.endAt.toISOString(),
    timeZone: availability.facility.timeZone,
    externalId: availability.externalId,
    status: effectiveStatus(stateOf(availability.status), availability.date, now),
    offer: availability.offerId,
    appointment: availability.appointmentId,
    locked: availability.locked,
  });
}

/** The availability snapshot events carry. */
export function availabilitySnapshot(availability: LocatedAvailability) {
  return {
    _id: availability.id,
    provider: availability.providerId,
    facility: availability.facilityId,
    appointmentType: availability.appointmentTypeId,
    date: availability.date.toISOString(),
    duration: availability.duration,
    endDate: availability.endAt.toISOString(),
    timeZone: availability.facility.timeZone,
    status: stateOf(availability.status),
    offer: availability.offerId,
    externalId: availability.externalId,
  };
}
