import { timestamp } from '@pep/service-kit';
import { z } from 'zod';

/** What `POST /api/billing/subscriptions` takes: the plan to subscribe to. */
export const subscribeBody = z
  .object({
    plan: z.string().min(1).max(63).describe('A plan id of billing’s configuration (`BILLING_PLANS`; `standard` by default).'),
  })
  .strict();
export type SubscribeBody = z.output<typeof subscribeBody>;

/** An organization's subscription to a plan. */
export const subscriptionResponse = z.object({
  _id: z.uuid(),
  organization: z.uuid(),
  plan: z.string().describe('The plan id; `external` for a subscription made at Stripe outside billing.'),
  stripeSubscriptionId: z.string().nullable().describe('Stripe’s id (sub_…); null in the sandbox.'),
  status: z.string().describe('Stripe’s status: `active`, `trialing`, `past_due`, `unpaid`, `incomplete`, `canceled`, …'),
  cancelAtPeriodEnd: z.boolean().describe('It ends when the current period does.'),
  currentPeriodEnd: timestamp.nullable(),
  canceledAt: timestamp.nullable().describe('When the cancellation was asked for.'),
  quantity: z.number().int().min(0).describe('Active providers billed per month.'),
  sandbox: z.boolean().describe('Kept only in billing’s local ledger: no Stripe account is configured.'),
  createdAt: timestamp,
  updatedAt: timestamp,
});

/** An organization's subscriptions, newest first. */
export const subscriptionsResponse = z.array(subscriptionResponse);
