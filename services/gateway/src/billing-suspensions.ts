import { organizationUpdatedV1, type AccessRevocationsSnapshot, type EventEnvelope } from '@pep/contracts';
import { HttpProblem } from '@pep/service-kit';

/**
 * How long after a snapshot's `asOf` a suspension may still be committing at auth unseen by it (a transaction's bound, with
 * room): only suspensions older than that are lifted for being absent from a snapshot.
 */
const SNAPSHOT_SETTLE_MS = 30_000;

/**
 * Which organizations this gateway replica knows to be suspended for an unpaid bill, from auth's `organization.updated`
 * events (`billingSuspended`) and auth's revocation snapshot. Each organization's latest known change wins, so events and
 * snapshots may arrive in any order, any number of times, with the same result.
 */
export class BillingSuspensions {
  private readonly known = new Map<string, { suspended: boolean; at: number }>();

  /** Applies an auth event; answers whether it was a billing suspension or lift this replica did not know yet. */
  applyEvent(event: EventEnvelope): boolean {
    if (event.type !== organizationUpdatedV1.type || event.dataversion !== 1) return false;
    const data = event.data as { _id?: string; billingSuspended?: boolean; changed?: string[] };
    if (!data._id || !data.changed?.includes('billingSuspended')) return false;
    return this.set(data._id, data.billingSuspended === true, Date.parse(event.time));
  }

  /** Applies auth's snapshot: the organizations suspended as of its `asOf`, each since when. */
  applySnapshot(snapshot: Pick<AccessRevocationsSnapshot, 'asOf' | 'billingSuspended'>): void {
    if (!snapshot.billingSuspended) return;
    const listed = new Set<string>();
    for (const { organization, since } of snapshot.billingSuspended) {
      listed.add(organization);
      this.set(organization, true, Date.parse(since));
    }
    const settled = Date.parse(snapshot.asOf) - SNAPSHOT_SETTLE_MS;
    // Absent from the snapshot: lifted since, unless this replica's suspension is too recent for the snapshot to show.
    for (const [organization, state] of this.known) {
      if (state.suspended && !listed.has(organization) && state.at < settled)
        this.known.set(organization, { suspended: false, at: state.at });
    }
  }

  /** Whether the organization is suspended for billing. */
  isSuspended(organization: string): boolean {
    return this.known.get(organization)?.suspended === true;
  }

  /** How many organizations are suspended. */
  get size(): number {
    let count = 0;
    for (const state of this.known.values()) if (state.suspended) count++;
    return count;
  }

  private set(organization: string, suspended: boolean, at: number): boolean {
    if (Number.isNaN(at)) return false;
    const current = this.known.get(organization);
    if (current && current.at >= at) return false;
    this.known.set(organization, { suspended, at });
    return current?.suspended !== suspended;
  }
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Writes a billing-suspended organization may still make: paying (the billing routes), Stripe's webhook, and signing in,
 * out or between organizations, so that the clinic can reach the billing page.
 */
const OPEN_TO_SUSPENDED = [
  /^\/api\/billing(\/|$)/,
  /^\/api\/callback\//,
  /^\/api\/users\/(login|signup|forgot-password|reset-password\/[^/]+|activate|logout)\/?$/,
  /^\/api\/tokens\//,
  /^\/api\/(patients|providers|widgets|integratorClients)\/login\/?$/,
  /^\/api\/organizations\/[^/]+\/users\/[^/]+\/switch\/?$/,
];

/** Whether a request of a billing-suspended organization is refused: every write except those that let it pay. */
export function refusedWhileSuspended(method: string, path: string): boolean {
  return WRITES.has(method.toUpperCase()) && !OPEN_TO_SUSPENDED.some((pattern) => pattern.test(path));
}

/** The 402 a billing-suspended organization's write answers. */
export function paymentRequired(): HttpProblem {
  return new HttpProblem(
    402,
    'payment-required',
    'The organization is suspended for an unpaid bill: it can read and export its data but not change it. Pay the outstanding ' +
      'invoice or update the payment method (PUT /api/billing); access is restored as soon as the payment succeeds.',
    { title: 'Payment Required' },
  );
}
