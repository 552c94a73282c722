/** Clinic staff who manage the schedule. */
export const WRITERS = ['admin', 'manager', 'staff'] as const;
/** Everyone of the organization who may see the schedule: staff, providers, and integrations syncing it. */
export const READERS = ['admin', 'manager', 'staff', 'provider', 'integrator'] as const;

/** Who maintains availabilities: clinic staff, and integrations syncing the open slots of an EHR. */
export const AVAILABILITY_WRITERS = [...WRITERS, 'integrator'] as const;
