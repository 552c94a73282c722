import type { BillingStanding } from '@pep/contracts';
import { HttpProblem, notFound, type Identity } from '@pep/service-kit';
import type Stripe from 'stripe';
import type { AccountBody } from './account.schemas.js';
import type { BillingWork, Tx } from './events.js';
import { Prisma, type BillingAccount, type PrismaClient } from './generated/prisma/client.js';
import { stripeProblem } from './stripe-errors.js';

type Address = NonNullable<AccountBody['address']>;

/** The Stripe idempotency key of an organization's customer: however often billing asks, Stripe creates one. */
export const customerIdempotencyKey = (organization: string) => `billing-customer-${organization}`;

/** A billing account as the API answers it. */
export function accountView(account: BillingAccount) {
  return {
    organization: account.organization,
    stripeCustomerId: account.stripeCustomerId,
    billingEmail: account.billingEmail,
    address: (account.address as Address | null) ?? null,
    taxId: account.taxIdType && account.taxIdValue ? { type: account.taxIdType, value: account.taxIdValue } : null,
    defaultPaymentMethod: account.defaultPaymentMethod,
    status: account.status as 'active' | 'sandbox',
    standing: account.standing as BillingStanding,
    graceEndsAt: account.graceEndsAt?.toISOString() ?? null,
    createdAt: account.createdAt.toISOString(),
    updatedAt: account.updatedAt.toISOString(),
  };
}

const stripeAddress = (address: Address | null): Stripe.AddressParam | '' =>
  address
    ? {
        line1: address.line1,
        line2: address.line2 ?? '',
        city: address.city,
        state: address.state ?? '',
        postal_code: address.postalCode,
        country: address.country,
      }
    : '';

/**
 * Each organization's billing account and its Stripe customer. Requests call Stripe before their short transaction; the
 * sign-up handler calls it inside its inbox transaction (for at most the client's timeout), so that a failure retries the
 * event, and the retry meets the same customer through the same idempotency key. With no Stripe client (the sandbox) nothing leaves the service.
 */
export class AccountService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: BillingWork,
    private readonly stripe: Stripe | null,
  ) {}

  /** The caller's organization's account; 404 when it has none. */
  async get(caller: Identity) {
    const account = await this.prisma.billingAccount.findUnique({ where: { organization: caller.organization } });
    if (!account) throw notFound('Billing account');
    return accountView(account);
  }

  /**
   * Opens the caller's organization's account (for organizations that signed up before billing existed, or whose
   * `organization.created` has not arrived yet) with the body's details; 409 when it has one.
   */
  async create(caller: Identity, body: AccountBody, correlationId: string) {
    const organization = caller.organization;
    if (await this.prisma.billingAccount.findUnique({ where: { organization } })) {
      throw new HttpProblem(409, 'conflict', 'The organization has a billing account; change it with PUT /api/billing.');
    }
    const customerId = await this.createCustomer(organization);
    const now = new Date();
    const blank: BillingAccount = {
      organization,
      stripeCustomerId: customerId,
      billingEmail: null,
      address: null,
      taxIdType: null,
      taxIdValue: null,
      stripeTaxId: null,
      defaultPaymentMethod: null,
      status: customerId ? 'active' : 'sandbox',
      standing: 'good-standing',
      standingChargeAt: null,
      graceStartedAt: null,
      graceEndsAt: null,
      suspendedAt: null,
      graceNoticeSentAt: null,
      graceReminderSentAt: null,
      createdAt: now,
      updatedAt: now,
    };
    // Stripe first: a field it refuses stores no account (a retry meets the same customer through the same key).
    const data = await this.changeFor(blank, body);
    const opened = await this.work.run({ correlationId }, async (tx) => {
      await this.insertAccount(tx, organization, customerId);
      return tx.billingAccount.update({ where: { organization }, data });
    });
    return accountView(opened);
  }

  /** Changes the caller's organization's account, on the Stripe customer first; 404 when it has none. */
  async update(caller: Identity, body: AccountBody, correlationId: string) {
    const account = await this.prisma.billingAccount.findUnique({ where: { organization: caller.organization } });
    if (!account) throw notFound('Billing account');
    const data = await this.changeFor(account, body);
    if (Object.keys(data).length === 0) return accountView(account);
    const updated = await this.work.run({ correlationId }, (tx) =>
      tx.billingAccount.update({ where: { organization: account.organization }, data }),
    );
    return accountView(updated);
  }

  /**
   * Opens an organization's account and Stripe customer when it signed up, inside the handler's inbox transaction. A
   * redelivered event finds the account and does nothing; a Stripe failure throws, so the event is retried, and the
   * retry's same idempotency key makes Stripe answer with the customer it may already have created.
   */
  async open(tx: Tx, organization: string, name: string): Promise<void> {
    const existing = await tx.billingAccount.findUnique({ where: { organization } });
    if (existing) return;
    const customerId = await this.createCustomer(organization);
    if (customerId && this.stripe) {
      // The organization's name labels the customer in Stripe's dashboard; set apart from the creation, whose
      // parameters must be the same from every path that may create it (one idempotency key, one set of parameters).
      await this.stripe.customers.update(customerId, { name }).catch((error: unknown) => {
        throw stripeProblem(error);
      });
    }
    await this.insertAccount(tx, organization, customerId);
  }

  private async insertAccount(tx: Tx, organization: string, customerId: string | null) {
    const data = { organization, stripeCustomerId: customerId, status: customerId ? 'active' : 'sandbox' };
    // A racing creator (the event and POST /api/billing at once) meets the same Stripe customer: keep whichever landed.
    await tx.billingAccount.createMany({ data: [data], skipDuplicates: true });
    return tx.billingAccount.findUniqueOrThrow({ where: { organization } });
  }

  /**
   * The organization's Stripe customer: the one Stripe already has (`metadata.organization`), else a new one. The
   * idempotency key stays the first guard: Stripe's search is eventually consistent (a customer made in the last minute
   * may not be found yet), and a retry within 24 hours meets the same key. The search covers the retry that comes later
   * (an event dead-lettered and replayed, a request a day after a failed one), when Stripe has forgotten the key.
   */
  private async createCustomer(organization: string): Promise<string | null> {
    if (!this.stripe) return null;
    try {
      const found = await this.stripe.customers.search({ query: `metadata['organization']:'${organization}'`, limit: 10 });
      // Two would only exist from before this search; the oldest is the one the first creation made.
      const existing = found.data.toSorted((a, b) => a.created - b.created)[0];
      if (existing) return existing.id;
      const customer = await this.stripe.customers.create(
        { metadata: { organization } },
        { idempotencyKey: customerIdempotencyKey(organization) },
      );
      return customer.id;
    } catch (error) {
      throw stripeProblem(error);
    }
  }

  /** Sends the change to Stripe and answers what to store; a field the body leaves out stays as it is. */
  private async changeFor(account: BillingAccount, body: AccountBody): Promise<Prisma.BillingAccountUpdateInput> {
    const data: Prisma.BillingAccountUpdateInput = {};
    if (body.billingEmail !== undefined) data.billingEmail = body.billingEmail?.toLowerCase() ?? null;
    if (body.address !== undefined) data.address = body.address ?? Prisma.DbNull;
    if (body.defaultPaymentMethod !== undefined) data.defaultPaymentMethod = body.defaultPaymentMethod;
    if (body.taxId !== undefined) {
      data.taxIdType = body.taxId?.type ?? null;
      data.taxIdValue = body.taxId?.value ?? null;
    }
    if (this.stripe && account.stripeCustomerId) Object.assign(data, await this.pushToStripe(this.stripe, account, body));
    return data;
  }

  /** Changes the Stripe customer as the body asks; answers what billing keeps of Stripe's side (the tax id's id). */
  private async pushToStripe(stripe: Stripe, account: BillingAccount, body: AccountBody): Promise<Prisma.BillingAccountUpdateInput> {
    const customer = account.stripeCustomerId!;
    const kept: Prisma.BillingAccountUpdateInput = {};
    try {
      if (body.defaultPaymentMethod && body.defaultPaymentMethod !== account.defaultPaymentMethod) {
        await stripe.paymentMethods
          .attach(body.defaultPaymentMethod, { customer }, { idempotencyKey: `billing-attach-${customer}-${body.defaultPaymentMethod}` })
          .catch((error: unknown) => {
            throw stripeProblem(error, 'body.defaultPaymentMethod');
          });
      }
      const params: Stripe.CustomerUpdateParams = {};
      if (body.billingEmail !== undefined) params.email = body.billingEmail?.toLowerCase() ?? '';
      if (body.address !== undefined) params.address = stripeAddress(body.address);
      if (body.defaultPaymentMethod !== undefined) params.invoice_settings = { default_payment_method: body.defaultPaymentMethod ?? '' };
      if (Object.keys(params).length > 0) await stripe.customers.update(customer, params);
      const taxIdChanged =
        body.taxId !== undefined &&
        (body.taxId?.type ?? null) + ':' + (body.taxId?.value ?? null) !== `${account.taxIdType}:${account.taxIdValue}`;
      if (taxIdChanged) {
        if (body.taxId) {
          const created = await stripe.customers
            .createTaxId(customer, { type: body.taxId.type as Stripe.CustomerCreateTaxIdParams.Type, value: body.taxId.value })
            .catch((error: unknown) => {
              throw stripeProblem(error, 'body.taxId');
            });
          kept.stripeTaxId = created.id;
        } else kept.stripeTaxId = null;
        if (account.stripeTaxId) {
          await stripe.customers.deleteTaxId(customer, account.stripeTaxId).catch((error: unknown) => {
            // Already gone at Stripe (deleted in its dashboard): what was asked for holds.
            if ((error as { code?: string }).code !== 'resource_missing') throw error;
          });
        }
      }
    } catch (error) {
      throw stripeProblem(error);
    }
    return kept;
  }
}
