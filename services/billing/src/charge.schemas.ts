import { timestamp } from '@pep/service-kit';
import { z } from 'zod';

/** A charge or invoice payment outcome, from Stripe. */
export const chargeResponse = z.object({
  _id: z.uuid(),
  organization: z.uuid(),
  stripeId: z.string().describe('Stripe’s id: ch_… for a charge, in_… for an invoice.'),
  source: z.enum(['charge', 'invoice']),
  amount: z.number().int().describe('In the currency’s minor unit (cents).'),
  currency: z.string(),
  status: z.enum(['succeeded', 'failed']),
  failureCode: z.string().nullable(),
  failureMessage: z.string().nullable(),
  createdAt: timestamp.describe('When Stripe created the charge or invoice.'),
  updatedAt: timestamp,
});

/** An organization's latest charge outcome. */
export const lastStatusResponse = z.object({
  organization: z.uuid(),
  status: z.enum(['succeeded', 'failed']).nullable().describe('Null when the organization has no charge yet.'),
  charge: chargeResponse.nullable(),
});

/** How many of an organization's payments succeeded (a payment reported as its charge and its invoice counts once). */
export const successCountResponse = z.object({ organization: z.uuid(), count: z.number().int().min(0) });

/** Stripe's acknowledgement answer. */
export const webhookResponse = z.object({ received: z.literal(true), outcome: z.string() });
