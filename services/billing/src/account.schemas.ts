import { billingStandings } from '@pep/contracts';
import { text, timestamp } from '@pep/service-kit';
import { z } from 'zod';

/** A postal address as Stripe keeps it on a customer. */
export const addressSchema = z
  .object({
    line1: text(200),
    line2: text(200).nullable().optional(),
    city: text(100),
    state: text(100).nullable().optional(),
    postalCode: text(20),
    country: z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 code such as US'),
  })
  .strict();

/** The organization's tax id as Stripe types it. */
export const taxIdSchema = z
  .object({
    type: z.string().regex(/^[a-z]{2,3}_[a-z_]+$/, "Stripe's tax id type, such as us_ein or eu_vat"),
    value: text(64),
  })
  .strict();

/** What a client may set on the billing account; every field optional, `null` clears it. */
export const accountBody = z
  .object({
    billingEmail: z.email().max(254).nullable().optional().describe('Where invoices and payment notices go.'),
    address: addressSchema.nullable().optional(),
    taxId: taxIdSchema.nullable().optional(),
    defaultPaymentMethod: z
      .string()
      .regex(/^pm_[A-Za-z0-9_]{1,250}$/, 'a Stripe payment method id (pm_…); card numbers are never accepted')
      .nullable()
      .optional()
      .describe('A payment method created with Stripe.js or Stripe Checkout; billing attaches it to the customer.'),
  })
  .strict();
export type AccountBody = z.output<typeof accountBody>;

/** The organization's billing account. */
export const accountResponse = z.object({
  organization: z.uuid(),
  stripeCustomerId: z.string().nullable(),
  billingEmail: z.string().nullable(),
  address: addressSchema.nullable(),
  taxId: taxIdSchema.nullable(),
  defaultPaymentMethod: z.string().nullable(),
  status: z.enum(['active', 'sandbox']).describe('`sandbox`: no Stripe account is configured; nothing is sent to Stripe.'),
  standing: z
    .enum(billingStandings)
    .describe(
      'Access follows payment: `grace` after a failed payment (full access until graceEndsAt), then `suspended` (read-only) until a payment succeeds.',
    ),
  graceEndsAt: timestamp.nullable().describe('When the grace period ends (or ended); null in good standing.'),
  createdAt: timestamp,
  updatedAt: timestamp,
  usage: z
    .object({
      period: z.string().describe('The calendar month (UTC), `YYYY-MM`.'),
      smsSegments: z.number().int().min(0),
      voiceMinutes: z.number().int().min(0),
    })
    .describe(
      "The current month's metered texting as counted so far (reported to Stripe as it is counted, or kept locally in the sandbox).",
    ),
});
