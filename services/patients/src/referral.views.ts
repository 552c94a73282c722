import { rootAccountOf } from '@pep/service-kit';
import type { Referral, ReferringProvider } from './generated/prisma/client.js';

const iso = (at: Date | null) => at?.toISOString() ?? null;

/** A referral as the v1 API shows it (the product's Referral); `referringProvider` is the referring provider's name. */
export function toReferralResponse(referral: Referral, referringProvider?: Pick<ReferringProvider, 'name'> | null) {
  return {
    _id: referral.id,
    user: rootAccountOf(referral.organization),
    organization: referral.organization,
    name: referral.name,
    patient: referral.patientId,
    facility: referral.facility,
    provider: referral.provider,
    appointmentType: referral.appointmentType,
    referringProviderId: referral.referringProviderId,
    referringProvider: referringProvider?.name ?? null,
    duration: referral.duration,
    status: referral.status,
    statusReason: referral.statusReason,
    statusReasonDescription: referral.statusReasonDescription,
    source: referral.source,
    startOn: referral.startOn.toISOString(),
    expireAt: iso(referral.expireAt),
    attempt: referral.attempt,
    lastAttemptSentAt: iso(referral.lastAttemptSentAt),
    calledAt: iso(referral.calledAt),
    acceptedAt: iso(referral.acceptedAt),
    scheduledAt: iso(referral.scheduledAt),
    scheduledByAppointment: referral.scheduledByAppointment,
    scheduledByOffer: referral.scheduledByOffer,
    processedReferralFollowup: referral.processedReferralFollowup,
    notes: referral.notes,
    customerNotes: referral.customerNotes,
    reason: referral.reason,
    departmentOrFacility: referral.departmentOrFacility,
    externalId: referral.externalId,
    faxSentAt: iso(referral.faxSentAt),
    referringProviderFaxNumberOverride: referral.referringProviderFaxNumberOverride,
    deleted: referral.deletedAt ? 1 : 0,
    createdBy: referral.createdBy,
    updatedBy: referral.updatedBy,
    createdAt: referral.createdAt.toISOString(),
    updatedAt: referral.updatedAt.toISOString(),
  };
}
export type ReferralResponse = ReturnType<typeof toReferralResponse>;

/** A referring provider in the product's provider shape (`isReferringProvider` true, `displayStatus` from `active`). */
export function toReferringProviderResponse(provider: ReferringProvider) {
  return {
    _id: provider.id,
    user: rootAccountOf(provider.organization),
    organization: provider.organization,
    type: 'doctor' as const,
    isReferringProvider: true,
    isRenderingProvider: false,
    schedulable: false,
    name: provider.name,
    normalizedName: provider.normalizedName,
    firstname: provider.firstname,
    lastname: provider.lastname,
    npi: provider.npi === null ? null : Number(provider.npi),
    taxonomy: provider.taxonomy,
    email: provider.email,
    phone: provider.phone,
    fax: provider.fax,
    address: provider.address,
    city: provider.city,
    state: provider.state,
    postcode: provider.postcode,
    active: provider.active ? 1 : 0,
    displayStatus: provider.active ? ('active' as const) : ('suspended' as const),
    source: provider.source,
    createdBy: provider.createdBy,
    updatedBy: provider.updatedBy,
    createdAt: provider.createdAt.toISOString(),
    updatedAt: provider.updatedAt.toISOString(),
  };
}
export type ReferringProviderResponse = ReturnType<typeof toReferringProviderResponse>;
