import { z } from 'zod';

const stripePriceId = z.string().regex(/^price_[A-Za-z0-9_]{1,250}$/, 'a Stripe price id (price_…)');

/** Metered texting of a plan: what messaging sends is reported to this Stripe meter, and billed by its metered price. */
export const textingSchema = z
  .object({
    /** The metered Stripe price backed by the meter, added to every subscription of the plan as its own item (no quantity). */
    price: stripePriceId,
    /** The meter's `event_name` that usage (SMS segments and voice minutes) is reported under, with `payload.stripe_customer_id`. */
    meterEventName: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, "a Stripe meter's event name"),
    /** Price of one unit in the currency's minor unit, for display and the sandbox (Stripe bills from the price). */
    unitAmount: z.number().min(0),
  })
  .strict();

/** One plan an organization may subscribe to. */
export const planSchema = z
  .object({
    /** How clients name the plan (`POST /api/billing/subscriptions { plan }`). */
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
    name: z.string().min(1).max(100),
    /** ISO 4217, lower case as Stripe writes it. */
    currency: z.string().regex(/^[a-z]{3}$/),
    /** The licensed monthly Stripe price per active provider; the subscription's quantity is the active provider count. */
    providerPrice: stripePriceId,
    /** Price per active provider per month in the currency's minor unit, for display and the sandbox. */
    providerUnitAmount: z.number().int().min(0),
    /** Metered texting; absent, the plan bills providers only. */
    texting: textingSchema.optional(),
  })
  .strict();

/** A plan of billing's configuration. */
export type Plan = z.output<typeof planSchema>;
/** A plan's metered texting: the key other parts of billing read to report usage. */
export type TextingPrice = z.output<typeof textingSchema>;

/** The plans, as `BILLING_PLANS` gives them (a JSON array); ids are unique. */
export const plansSchema = z
  .array(planSchema)
  .min(1)
  .refine((plans) => new Set(plans.map((plan) => plan.id)).size === plans.length, 'plan ids must be unique');

/**
 * The plans when `BILLING_PLANS` is not set: what the sandbox offers. Against a real Stripe account set `BILLING_PLANS`
 * to prices that exist there; these ids are placeholders Stripe would refuse.
 */
export const DEFAULT_PLANS: ReadonlyArray<Plan> = [
  {
    id: 'standard',
    name: 'Standard',
    currency: 'usd',
    providerPrice: 'price_pep_standard_provider_monthly',
    providerUnitAmount: 4900,
    texting: { price: 'price_pep_standard_texting', meterEventName: 'pep_texting_units', unitAmount: 2 },
  },
];

/** Reads `BILLING_PLANS` (a JSON array of plans); throws naming what is wrong. */
export function parsePlans(json: string): Plan[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error('BILLING_PLANS is not JSON');
  }
  return plansSchema.parse(value);
}
