import { organizationCreatedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import type { AccountService } from './account.service.js';
import { on, type Tx } from './events.js';

/**
 * An organization signed up: open its billing account and Stripe customer. A redelivered event finds the account (and
 * the inbox record) and does nothing; a Stripe failure throws, so the event is retried with the same idempotency key.
 */
export function organizationCreatedBindings(accounts: AccountService): EventBinding<Tx>[] {
  return [on(organizationCreatedV1, async (event, tx) => accounts.open(tx, event.data._id, event.data.name))];
}
