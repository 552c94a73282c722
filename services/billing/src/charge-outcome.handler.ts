import { chargeFailedV1, chargeSucceededV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { on, type Tx } from './events.js';
import type { StandingService } from './standing.service.js';

/**
 * Billing follows its own charge outcomes: a failure opens a grace period, a success ends it (or a suspension) at once.
 * Taking them from `billing.charges` keeps the webhook's transaction to what Stripe said; the inbox gives a
 * redelivered outcome no second effect.
 */
export function chargeOutcomeBindings(standing: StandingService): EventBinding<Tx>[] {
  return [
    on(chargeFailedV1, async (event, tx, emit) => standing.paymentFailed(tx, emit, event.organization, new Date(event.data.createdAt))),
    on(chargeSucceededV1, async (event, tx, emit) =>
      standing.paymentSucceeded(tx, emit, event.organization, new Date(event.data.createdAt)),
    ),
  ];
}
