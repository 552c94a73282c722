/** Clinic staff who write to patients and manage reminders and templates. */
export const WRITERS = ['admin', 'manager', 'staff'] as const;
/** Everyone of the organization who may read messages and reminders: staff, providers, and integrations. */
export const READERS = ['admin', 'manager', 'staff', 'provider', 'integrator'] as const;
/** Who may change the organization's message wording. */
export const TEMPLATE_WRITERS = ['admin', 'manager'] as const;
