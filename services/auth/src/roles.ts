/** Every role a caller can hold within an organization. */
export const ALL_ROLES = ['admin', 'manager', 'staff', 'provider', 'patient', 'widget', 'integrator'] as const;
/** Roles a staff user may be given in an organization. */
export const STAFF_ROLES = ['admin', 'manager', 'staff', 'provider'] as const;
/** Organization administrators. */
export const ADMIN = ['admin'] as const;
/** Clinic staff of any kind. */
export const STAFF = STAFF_ROLES;
/** Any authenticated caller. */
export const ANYONE = ALL_ROLES;

/** Who may change settings. */
export const SETTING_WRITERS = ['admin', 'manager'] as const;
/** Roles an integrator client may carry; never admin, so a client cannot manage users or mint more clients. */
export const INTEGRATOR_ROLES = ['integrator', 'manager', 'staff', 'provider'] as const;
/** Who may create and change groups. */
export const GROUP_WRITERS = ['admin', 'manager'] as const;
/** Operators of the platform itself, who see users across organizations. Granted in the database only, never through the API. */
export const PLATFORM_ADMIN = ['platform-admin'] as const;
