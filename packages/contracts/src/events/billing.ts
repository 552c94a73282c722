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
  /** When Stripe created the object (ISO 8601). */
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
