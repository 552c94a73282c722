/** Clinic staff and integrations: everyone who works with patient records. */
export const STAFF = ['admin', 'manager', 'staff', 'provider', 'integrator'] as const;
/** Who may delete or merge records; providers see patients but do not curate the register. */
export const CURATORS = ['admin', 'manager', 'staff', 'integrator'] as const;
/** Users with a person behind them, who follow patients and have recently viewed ones. */
export const PEOPLE = ['admin', 'manager', 'staff', 'provider'] as const;
