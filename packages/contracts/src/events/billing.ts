import { z } from 'zod';
import { defineEvent } from '../registry.js';

const CHARGE_TOPIC = 'billing.charges';

/** What Stripe's object behind a charge outcome was: a charge, or an invoice it collected. */
export const chargeSources = ['charge', 'invoice'] as const;

/**
 * An organization's charge outcome as billing stored it from Stripe's webhook. Amounts are in the currency's minor unit
 * (cents), as Stripe gives them; no card details, ever.
 */
const chargeSnapshot = z.object({
  /** Billing's charge id. */
  _id: z.uuid(),
  /** Stripe's id of the charge (`ch_…`) or invoice (`in_…`). */
  stripeId: z.string().min(1),
  source: z.enum(chargeSources),
  /** Amount in the currency's minor unit. */
  amount: z.number().int(),
  /** ISO 4217 code, lower case as Stripe writes it. */
  currency: z.string().min(3),
  /** When the outcome happened at Stripe (ISO 8601): a charge's creation, an invoice's payment or failed attempt. */
  createdAt: z.iso.datetime({ offset: true }),
});

/** Stripe collected a charge (or an invoice) of the organization. */
export const chargeSucceededV1 = defineEvent({
  type: 'charge.succeeded',
  version: 1,
  topic: CHARGE_TOPIC,
  data: chargeSnapshot,
});

/** A charge (or an invoice's payment) of the organization failed. */
export const chargeFailedV1 = defineEvent({
  type: 'charge.failed',
  version: 1,
  topic: CHARGE_TOPIC,
  data: chargeSnapshot.extend({
    /** Stripe's failure code (`card_declined`, …), when it gave one. */
    failureCode: z.string().nullable(),
    /** Stripe's failure message, when it gave one (never card details: Stripe does not put them there). */
    failureMessage: z.string().nullable(),
  }),
});

const ACCESS_TOPIC = 'billing.access';

/**
 * Where an organization stands with its payments: `good-standing` (paid), `grace` (a payment failed; it still has full
 * access until `graceEndsAt`), `suspended` (the grace period ended unpaid: reads only, nothing deleted).
 */
export const billingStandings = ['good-standing', 'grace', 'suspended'] as const;
export type BillingStanding = (typeof billingStandings)[number];

/**
 * An organization's billing standing changed: a failed payment opened a grace period, its end suspended the organization,
 * or a successful payment restored it. Keyed by the organization, so its changes arrive in order; auth marks the
 * organization suspended for billing (or lifts it) from this.
 */
export const billingAccessChangedV1 = defineEvent({
  type: 'billing.access-changed',
  version: 1,
  topic: ACCESS_TOPIC,
  data: z.object({
    /** The organization's id. */
    _id: z.uuid(),
    /** Its standing from now on. */
    standing: z.enum(billingStandings),
    /** When its grace period ends (or ended); null in good standing. */
    graceEndsAt: z.iso.datetime({ offset: true }).nullable(),
  }),
});

/** An organization's subscription as billing keeps it; `status` is Stripe's (`active`, `past_due`, `canceled`, …). */
const subscriptionSnapshot = z.object({
  /** Billing's subscription id. */
  _id: z.uuid(),
  /** The plan's id in billing's configuration (`external` for a subscription made at Stripe outside billing). */
  plan: z.string().min(1),
  /** Stripe's subscription id (`sub_…`); null in the sandbox, where nothing is at Stripe. */
  stripeSubscriptionId: z.string().nullable(),
  /** Stripe's status of the subscription, as Stripe spells it. */
  status: z.string().min(1),
  /** Whether it ends when the current period does (asked with `DELETE /api/billing/subscriptions`). */
  cancelAtPeriodEnd: z.boolean(),
  /** When the current period ends (ISO 8601), when known. */
  currentPeriodEnd: z.iso.datetime({ offset: true }).nullable(),
  /** Active providers billed per month. */
  quantity: z.number().int().min(0),
});

/** An organization's subscription started, changed (status, cancellation, provider quantity) or ended. */
export const subscriptionChangedV1 = defineEvent({
  type: 'subscription.changed',
  version: 1,
  topic: 'billing.subscriptions',
  data: subscriptionSnapshot,
});
