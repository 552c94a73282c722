import { referralStatusChangedV1, type ReferralSnapshot, type ReferralStatus, type referralStatusReasons } from '@pep/contracts';
import type { Emit } from '@pep/db';
import { HttpProblem } from '@pep/service-kit';
import type { Tx } from './events.js';
import type { Prisma, Referral } from './generated/prisma/client.js';

/**
 * The referral state machine: for each status, the statuses it may move to. `pending` waits for review; `active` is
 * being reached out to; `called` asked to be called; `scheduled` has an appointment; `expired`, `cancelled` and
 * `closed` end outreach (`expired` and `incomplete` may be reopened by staff). `-late` is the same state reached after
 * the referral's `expireAt`.
 */
export const REFERRAL_TRANSITIONS: Readonly<Record<ReferralStatus, readonly ReferralStatus[]>> = {
  pending: ['active', 'closed', 'cancelled', 'incomplete', 'scheduled', 'scheduled-late', 'expired'],
  active: ['called', 'called-late', 'scheduled', 'scheduled-late', 'incomplete', 'expired', 'cancelled', 'closed'],
  called: ['active', 'scheduled', 'scheduled-late', 'incomplete', 'expired', 'cancelled', 'closed'],
  'called-late': ['active', 'scheduled', 'scheduled-late', 'incomplete', 'expired', 'cancelled', 'closed'],
  // An appointment cancelled without another reopens outreach (or expires the referral once past its expireAt); staff
  // close a scheduled referral once seen.
  scheduled: ['active', 'expired', 'closed', 'cancelled'],
  'scheduled-late': ['active', 'expired', 'closed', 'cancelled'],
  incomplete: ['active', 'scheduled', 'scheduled-late', 'expired', 'cancelled', 'closed'],
  expired: ['active', 'scheduled', 'scheduled-late', 'closed'],
  cancelled: [],
  closed: [],
};

/** Whether the state machine lets a referral move from `from` to `to`. */
export const canMove = (from: ReferralStatus, to: ReferralStatus): boolean => REFERRAL_TRANSITIONS[from].includes(to);

/** The statuses outreach runs in. */
export const REACHABLE_STATUSES: readonly ReferralStatus[] = ['active'];

/** The statuses in which a referral is still open (not scheduled nor ended). */
export const OPEN_STATUSES: readonly ReferralStatus[] = ['pending', 'active', 'called', 'called-late', 'incomplete'];

/** `called`/`scheduled`, or their `-late` forms when it happens after the referral's `expireAt`. */
export function onTimeOrLate(referral: Pick<Referral, 'expireAt'>, at: Date, state: 'called' | 'scheduled'): ReferralStatus {
  return referral.expireAt && at > referral.expireAt ? `${state}-late` : state;
}

/** The 409 for a transition the state machine refuses. */
export const transitionRefused = (from: string, to: ReferralStatus) =>
  new HttpProblem(409, 'referral-transition', `A referral that is ${from} cannot become ${to}.`, {
    current: from,
    allowed: REFERRAL_TRANSITIONS[from as ReferralStatus] ?? [],
  });

/** The event snapshot of a referral: ids, state and dates only (no notes: they may hold PHI). */
export function referralSnapshot(referral: Referral): ReferralSnapshot {
  return {
    _id: referral.id,
    patient: referral.patientId,
    facility: referral.facility,
    provider: referral.provider,
    appointmentType: referral.appointmentType,
    referringProvider: referral.referringProviderId,
    status: referral.status as ReferralStatus,
    source: referral.source as ReferralSnapshot['source'],
    startOn: referral.startOn.toISOString(),
    expireAt: referral.expireAt?.toISOString() ?? null,
    attempt: referral.attempt,
  };
}

/** What a status change writes besides the status. */
export interface StatusChange {
  to: ReferralStatus;
  /** Why (rejection, cancellation, closure). */
  reason?: (typeof referralStatusReasons)[number] | null;
  /** Staff's words on why; never published (may hold PHI). */
  reasonDescription?: string | null;
  /** Other columns written in the same update (scheduledAt, calledAt, ...). */
  fields?: Omit<Prisma.ReferralUpdateManyMutationInput, 'status' | 'statusReason' | 'statusReasonDescription'>;
  /** Who made the change (a user id), or null for the platform. */
  by?: string | null;
}

/**
 * The one way a referral's status changes: checks the state machine, writes the new status only if the row still has
 * the status it was read with (a concurrent change wins and this one answers 409), and emits `referral.status-changed`
 * in the same transaction.
 */
export async function changeStatus(tx: Tx, emit: Emit, referral: Referral, change: StatusChange): Promise<Referral> {
  const from = referral.status as ReferralStatus;
  if (!canMove(from, change.to)) throw transitionRefused(from, change.to);
  const written = await tx.referral.updateMany({
    where: { id: referral.id, status: from, deletedAt: null },
    data: {
      ...change.fields,
      status: change.to,
      ...(change.reason !== undefined ? { statusReason: change.reason } : {}),
      ...(change.reasonDescription !== undefined ? { statusReasonDescription: change.reasonDescription } : {}),
      ...(change.by !== undefined ? { updatedBy: change.by } : {}),
    },
  });
  if (written.count === 0) {
    const now = await tx.referral.findUnique({ where: { id: referral.id }, select: { status: true } });
    throw transitionRefused(now?.status ?? 'deleted', change.to);
  }
  const changed = await tx.referral.findUniqueOrThrow({ where: { id: referral.id } });
  emit(referralStatusChangedV1, {
    organization: changed.organization,
    subject: changed.id,
    data: {
      ...referralSnapshot(changed),
      previousStatus: from,
      statusReason: (changed.statusReason as StatusChange['reason']) ?? null,
      scheduledByAppointment: changed.scheduledByAppointment,
      scheduledByOffer: changed.scheduledByOffer,
    },
  });
  return changed;
}
