import { SETTING_DEFAULTS } from '@pep/contracts';
import type { Db } from './events.js';

/** Whether the organization lets two appointments share a provider's time; no setting kept means it does not. */
export async function allowsDoubleBooking(db: Db, organization: string): Promise<boolean> {
  const setting = await db.organizationSetting.findUnique({ where: { organization } });
  return setting?.allowDoubleBooking ?? false;
}

/** Minutes of an appointment booked with neither a type nor a duration: the organization's setting, else the default. */
export async function defaultAppointmentDuration(db: Db, organization: string): Promise<number> {
  const setting = await db.organizationSetting.findUnique({ where: { organization } });
  return setting?.appointmentDurationMinutes ?? SETTING_DEFAULTS.appointmentDurationMinutes;
}

/** How the organization offers freed slots. */
export interface OfferSettings {
  protocol: 'parallel' | 'serial';
  maxOffersPerSlot: number;
  expiryMinutes: number;
  frontOfficeAcceptance: boolean;
}

/** The organization's offer settings; what it never set is auth's documented default (SETTING_DEFAULTS). */
export async function offerSettings(db: Db, organization: string): Promise<OfferSettings> {
  const setting = await db.organizationSetting.findUnique({ where: { organization } });
  return {
    protocol: setting?.offerProtocol ?? SETTING_DEFAULTS.offerProtocol,
    maxOffersPerSlot: setting?.maxOffersPerSlot ?? SETTING_DEFAULTS.maxOffersPerSlot,
    expiryMinutes: setting?.offerExpiryMinutes ?? SETTING_DEFAULTS.offerExpiryMinutes,
    frontOfficeAcceptance: setting?.frontOfficeAcceptance ?? SETTING_DEFAULTS.frontOfficeAcceptance,
  };
}
