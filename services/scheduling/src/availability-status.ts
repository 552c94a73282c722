import { availabilityStatuses } from '@pep/contracts';

/** A state of an availability, as the API spells it. */
export type AvailabilityState = (typeof availabilityStatuses)[number];

/**
 * Where an availability may go from each state. Booked states return to available only when the appointment
 * holding the slot is cancelled, deleted or moved away; an offered slot returns to available when its offer ends
 * without a patient. Expired is final.
 */
export const TRANSITIONS: Readonly<Record<AvailabilityState, readonly AvailabilityState[]>> = {
  available: ['booked-pending', 'offered', 'booked', 'booked-by-integrator', 'expired'],
  'booked-pending': ['available', 'booked', 'booked-by-integrator', 'expired'],
  offered: ['available', 'booked-by-offer', 'expired'],
  booked: ['available'],
  'booked-by-integrator': ['available'],
  'booked-by-offer': ['available'],
  expired: [],
};

/**
 * The states staff and integrations may set by hand (PUT). Offered, booked and booked-by-offer follow offers and
 * appointments, so they are reached only through those, and a slot in them is changed only through them.
 */
export const SETTABLE: ReadonlySet<AvailabilityState> = new Set(['available', 'booked-pending', 'booked-by-integrator', 'expired']);

/** States whose slot is held by an offer or an appointment of this service. */
const HELD: ReadonlySet<AvailabilityState> = new Set(['offered', 'booked', 'booked-by-offer']);

/** States that end when the slot starts: an opening nobody took by then is expired. */
const LAPSING: ReadonlySet<AvailabilityState> = new Set(['available', 'booked-pending', 'offered']);

/** States a booking may start from: an open slot, or one held pending this booking. */
export const BOOKABLE: ReadonlySet<AvailabilityState> = new Set(['available', 'booked-pending']);

/** Whether the machine allows `from` → `to`. */
export function canTransition(from: AvailabilityState, to: AvailabilityState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Whether a PUT may move a slot from `from` to `to`: an allowed transition, to a settable state, of a slot not held. */
export function canSet(from: AvailabilityState, to: AvailabilityState): boolean {
  return from === to || (SETTABLE.has(to) && !HELD.has(from) && canTransition(from, to));
}

/**
 * The state an availability is in at `now`. Expiry is computed rather than swept: a slot that started while still
 * open, pending or offered is expired from that moment on, with no job to run late or fail.
 */
export function effectiveStatus(stored: AvailabilityState, date: Date, now: Date): AvailabilityState {
  return LAPSING.has(stored) && date.getTime() <= now.getTime() ? 'expired' : stored;
}

/** A stored status as the state it is; the column's check admits only the API's spellings, so another value throws. */
export function stateOf(stored: string): AvailabilityState {
  if (!(availabilityStatuses as readonly string[]).includes(stored))
    throw new Error(`stored availability status outside its check: ${stored}`);
  return stored as AvailabilityState;
}
