/** Who may see the organization's billing account and charge outcomes. */
export const BILLING_READERS = ['admin', 'manager'] as const;
/** Who may change the billing account: the organization's administrators. */
export const BILLING_WRITERS = ['admin'] as const;
/** Operators of the platform itself, who may name any organization where a route takes one. */
export const PLATFORM_ADMIN = 'platform-admin';
/** Readers of an organization's charge outcomes by id: its readers, and platform admins for any organization. */
export const CHARGE_READERS = [...BILLING_READERS, PLATFORM_ADMIN] as const;
