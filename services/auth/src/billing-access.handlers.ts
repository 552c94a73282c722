import { billingAccessChangedV1, organizationUpdatedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { on, type Tx } from './events.js';

/**
 * Billing's `billing.access-changed`: an organization whose grace period ended unpaid is marked suspended for billing,
 * and a successful payment lifts it. Only the mark changes (no session is revoked, nothing is hidden or deleted); the
 * change goes out as `organization.updated` (`billingSuspended`), which every gateway replica follows to refuse the
 * organization's writes with 402. An event older than the one the mark came from changes nothing.
 */
export function billingAccessBindings(clock: () => Date): EventBinding<Tx>[] {
  return [
    on(billingAccessChangedV1, async (event, tx, emit) => {
      const id = event.data._id;
      const at = new Date(event.time);
      const organization = await tx.organization.findUnique({ where: { id } });
      if (!organization || organization.deletedAt) return;
      if (organization.billingStandingAt && organization.billingStandingAt >= at) return;
      const suspend = event.data.standing === 'suspended';
      const wasSuspended = organization.billingSuspendedAt !== null;
      const now = clock();
      const updated = await tx.organization.update({
        where: { id },
        data: { billingStandingAt: at, billingSuspendedAt: suspend ? (organization.billingSuspendedAt ?? now) : null },
      });
      if (suspend === wasSuspended) return;
      emit(organizationUpdatedV1, {
        organization: id,
        subject: id,
        // Auth's clock, as on every organization event: the gateway orders suspensions and lifts by it.
        time: now,
        data: { _id: id, name: updated.name, active: updated.active, billingSuspended: suspend, changed: ['billingSuspended'] },
      });
    }),
  ];
}
