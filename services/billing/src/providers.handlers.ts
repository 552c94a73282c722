import { providerCreatedV1, providerDeletedV1, providerUpdatedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { on, type Tx } from './events.js';
import type { SubscriptionService } from './subscription.service.js';

/**
 * Scheduling's providers, counted per organization: a provider is active (billed) while it is schedulable and not
 * deleted. Each change sets the live subscription's quantity to the new count; a redelivered event finds its inbox
 * record and does nothing, and a Stripe failure retries the event.
 */
export function providerBindings(subscriptions: SubscriptionService): EventBinding<Tx>[] {
  const snapshot = (definition: typeof providerCreatedV1 | typeof providerUpdatedV1) =>
    on(definition, async (event, tx, emit) => {
      const active = event.data.schedulable;
      await tx.provider.upsert({
        where: { id: event.data._id },
        create: { id: event.data._id, organization: event.organization, active },
        update: { active },
      });
      await subscriptions.syncQuantity(tx, emit, event.organization, event.id);
    });
  return [
    snapshot(providerCreatedV1),
    snapshot(providerUpdatedV1),
    on(providerDeletedV1, async (event, tx, emit) => {
      await tx.provider.upsert({
        where: { id: event.data._id },
        create: { id: event.data._id, organization: event.organization, active: false },
        update: { active: false },
      });
      await subscriptions.syncQuantity(tx, emit, event.organization, event.id);
    }),
  ];
}
