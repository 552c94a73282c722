import { randomUUID } from 'node:crypto';
import { chargeFailedV1, chargeSucceededV1 } from '@pep/contracts';
import type { Emit } from '@pep/db';
import { notFound, type Identity } from '@pep/service-kit';
import type Stripe from 'stripe';
import type { BillingWork, Tx } from './events.js';
import { Prisma, type Charge, type PrismaClient } from './generated/prisma/client.js';
import { PLATFORM_ADMIN } from './roles.js';

/** What a stored Stripe event did: applied, already seen (Stripe's retry), older than what is stored, or not ours. */
export type StripeEventOutcome = 'applied' | 'duplicate' | 'stale' | 'unknown-customer' | 'acknowledged';

type ChargeStatus = 'succeeded' | 'failed';

/** A charge outcome read from a Stripe event's object. */
interface ChargeFacts {
  stripeId: string;
  source: 'charge' | 'invoice';
  customer: string | null;
  /** `metadata.organization`, when whoever created the object at Stripe set it. */
  organization: string | null;
  amount: number;
  currency: string;
  status: ChargeStatus;
  failureCode: string | null;
  failureMessage: string | null;
  createdAt: Date;
  /** The charge's PaymentIntent (`pi_…`); null for an invoice. */
  paymentIntent: string | null;
  /** Which payments paid which invoice, as far as the object names them (API versions before 2025 name them on both sides). */
  links: InvoicePaymentLink[];
}

/** A payment (`pi_…` or `ch_…`) that paid an invoice (`in_…`). */
interface InvoicePaymentLink {
  invoice: string;
  payment: string;
}

const UUID = /^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i;
const idOf = (value: string | { id: string } | null | undefined) => (typeof value === 'string' ? value : (value?.id ?? null));
const seconds = (unix: number) => new Date(unix * 1000);

/** The invoice fields API versions before 2025-03-31 had, and the `payments` list that replaced them (when expanded). */
interface InvoiceLinks {
  payment_intent?: string | { id: string } | null;
  charge?: string | { id: string } | null;
  payments?: { data?: Array<{ payment?: InvoicePaymentTarget }> };
}

/** `invoice_payment.payment`: a PaymentIntent, or a charge made without one. */
interface InvoicePaymentTarget {
  payment_intent?: string | { id: string } | null;
  charge?: string | { id: string } | null;
}

/** The payment an invoice payment names: its PaymentIntent, or its charge when it has none. */
const paymentOf = (target: InvoicePaymentTarget | undefined) => idOf(target?.payment_intent) ?? idOf(target?.charge);

/** The charge outcome a Stripe event reports, or null for events billing does not keep charges from. */
function chargeFacts(event: Stripe.Event): ChargeFacts | null {
  switch (event.type) {
    case 'charge.succeeded':
    case 'charge.failed': {
      const charge = event.data.object;
      const paymentIntent = idOf(charge.payment_intent);
      // Before 2025-03-31 a charge named its invoice.
      const invoice = idOf((charge as { invoice?: string | { id: string } | null }).invoice);
      return {
        stripeId: charge.id,
        source: 'charge',
        customer: idOf(charge.customer),
        organization: charge.metadata?.['organization'] ?? null,
        amount: charge.amount,
        currency: charge.currency,
        status: event.type === 'charge.succeeded' ? 'succeeded' : 'failed',
        failureCode: event.type === 'charge.failed' ? (charge.failure_code ?? null) : null,
        failureMessage: event.type === 'charge.failed' ? (charge.failure_message ?? null) : null,
        createdAt: seconds(charge.created),
        paymentIntent,
        links: invoice ? [{ invoice, payment: paymentIntent ?? charge.id }] : [],
      };
    }
    case 'invoice.paid':
    case 'invoice.payment_failed': {
      const invoice = event.data.object;
      const paid = event.type === 'invoice.paid';
      const named = invoice as unknown as InvoiceLinks;
      const payments = [idOf(named.payment_intent), idOf(named.charge), ...(named.payments?.data ?? []).map((p) => paymentOf(p.payment))];
      return {
        stripeId: invoice.id!,
        source: 'invoice',
        customer: idOf(invoice.customer),
        organization: invoice.metadata?.['organization'] ?? null,
        amount: paid ? invoice.amount_paid : invoice.amount_due,
        currency: invoice.currency,
        status: paid ? 'succeeded' : 'failed',
        failureCode: null,
        failureMessage: null,
        // An invoice is created before its payments are tried: its outcome is timed by when it was paid (or the
        // failure's event), so a payment of an old invoice after a newer failed charge still decides the standing.
        createdAt: seconds((paid ? invoice.status_transitions?.paid_at : null) ?? event.created),
        paymentIntent: null,
        links: [...new Set(payments.filter((payment): payment is string => payment !== null))].map((payment) => ({
          invoice: invoice.id!,
          payment,
        })),
      };
    }
    default:
      return null;
  }
}

/**
 * Keeps one row per payment (alias `c`): Stripe reports a subscription's payment both as its charge and as its invoice,
 * so an invoice any of whose payments is stored as the organization's charge is left to that charge (which carries the
 * outcome and its failure code); an invoice paid without a stored charge (none sent to this endpoint, or paid from the
 * customer's balance) stands for its payment itself.
 */
const ONE_ROW_PER_PAYMENT = Prisma.sql`NOT (c.source = 'invoice' AND EXISTS (
  SELECT 1 FROM invoice_payment l
  JOIN charge p ON p.organization = c.organization AND p.source = 'charge' AND (p.stripe_id = l.payment OR p.payment_intent = l.payment)
  WHERE l.invoice = c.stripe_id))`;

/** Whether the event (at `eventAt`, to `status`) may replace the stored state: never an older one, never a rollback of a success. */
function supersedes(stored: Pick<Charge, 'stateAt' | 'status'>, eventAt: Date, status: ChargeStatus): boolean {
  if (eventAt.getTime() !== stored.stateAt.getTime()) return eventAt > stored.stateAt;
  // Stripe's times are whole seconds: within one, a payment that succeeded stays succeeded.
  return stored.status !== 'succeeded' || status === 'succeeded';
}

/** A charge as the API answers it. */
export function chargeView(charge: Charge) {
  return {
    _id: charge.id,
    organization: charge.organization,
    stripeId: charge.stripeId,
    source: charge.source as 'charge' | 'invoice',
    amount: charge.amount,
    currency: charge.currency,
    status: charge.status as ChargeStatus,
    failureCode: charge.failureCode,
    failureMessage: charge.failureMessage,
    createdAt: charge.stripeCreatedAt.toISOString(),
    updatedAt: charge.updatedAt.toISOString(),
  };
}

/** Organizations' charge outcomes, as Stripe's webhooks report them. */
export class ChargeService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: BillingWork,
    /** Applies the events that are not charges' (subscriptions'), in the same transaction as the event's record. */
    private readonly otherEvents?: (tx: Tx, emit: Emit, event: Stripe.Event) => Promise<StripeEventOutcome>,
  ) {}

  /**
   * Applies one verified Stripe event, once: its id is recorded with its effect, so Stripe's retry of it changes
   * nothing; a charge's state moves only to a newer event's (Stripe's `created`), so a late older event is recorded and
   * ignored. `charge.succeeded|failed` is published when a charge's outcome is new or changed.
   */
  async applyStripeEvent(event: Stripe.Event, correlationId: string): Promise<StripeEventOutcome> {
    return this.work.run({ correlationId }, async (tx, emit) => {
      const recorded = await tx.stripeEvent.createMany({
        data: [{ id: event.id, type: event.type, created: seconds(event.created) }],
        skipDuplicates: true,
      });
      if (recorded.count === 0) return 'duplicate';
      if (event.type === 'invoice_payment.paid') {
        // Since 2025-03-31 the only word of which payment paid an invoice: neither the charge nor the invoice names the other.
        const invoice = idOf(event.data.object.invoice);
        const payment = paymentOf(event.data.object.payment);
        if (!invoice || !payment) return 'acknowledged';
        await this.link(tx, [{ invoice, payment }]);
        return 'applied';
      }
      const facts = chargeFacts(event);
      if (!facts) return this.otherEvents ? this.otherEvents(tx, emit, event) : 'acknowledged';
      const organization = await this.organizationOf(tx, facts);
      if (!organization) return 'unknown-customer';
      await this.link(tx, facts.links);
      return this.applyCharge(tx, emit, organization, facts, seconds(event.created));
    });
  }

  private async link(tx: Tx, links: InvoicePaymentLink[]): Promise<void> {
    if (links.length > 0) await tx.invoicePayment.createMany({ data: links, skipDuplicates: true });
  }

  private async organizationOf(tx: Tx, facts: ChargeFacts): Promise<string | null> {
    if (facts.customer) {
      const account = await tx.billingAccount.findUnique({ where: { stripeCustomerId: facts.customer }, select: { organization: true } });
      if (account) return account.organization;
    }
    return facts.organization && UUID.test(facts.organization) ? facts.organization : null;
  }

  private async applyCharge(tx: Tx, emit: Emit, organization: string, facts: ChargeFacts, eventAt: Date): Promise<StripeEventOutcome> {
    const row = {
      amount: facts.amount,
      currency: facts.currency,
      status: facts.status,
      failureCode: facts.failureCode,
      failureMessage: facts.failureMessage,
      stateAt: eventAt,
      paymentIntent: facts.paymentIntent,
    };
    const inserted = await tx.charge.createMany({
      data: [{ id: randomUUID(), organization, stripeId: facts.stripeId, source: facts.source, stripeCreatedAt: facts.createdAt, ...row }],
      skipDuplicates: true,
    });
    let charge: Charge;
    if (inserted.count === 1) {
      charge = await tx.charge.findUniqueOrThrow({ where: { stripeId: facts.stripeId } });
    } else {
      // Two events of one charge at once: the second waits for the first's commit and compares with what it wrote.
      await tx.$queryRaw`SELECT id FROM charge WHERE stripe_id = ${facts.stripeId} FOR UPDATE`;
      const stored = await tx.charge.findUniqueOrThrow({ where: { stripeId: facts.stripeId } });
      if (!supersedes(stored, eventAt, facts.status)) return 'stale';
      charge = await tx.charge.update({ where: { id: stored.id }, data: row });
      if (stored.status === charge.status) return 'applied';
    }
    const data = {
      _id: charge.id,
      stripeId: charge.stripeId,
      source: facts.source,
      amount: charge.amount,
      currency: charge.currency,
      createdAt: charge.stripeCreatedAt.toISOString(),
    };
    if (charge.status === 'succeeded') emit(chargeSucceededV1, { organization, subject: charge.id, data });
    else
      emit(chargeFailedV1, {
        organization,
        subject: charge.id,
        data: { ...data, failureCode: charge.failureCode, failureMessage: charge.failureMessage },
      });
    return 'applied';
  }

  /** The latest charge outcome of the caller's organization (by Stripe's creation time); `status` null when it has none. */
  async lastStatus(caller: Identity) {
    return this.lastStatusOf(caller.organization);
  }

  /**
   * The latest charge outcome of a named organization: the caller's own, or any for a platform admin. Another
   * organization's, and one billing has no account or charge of, answer 404 alike.
   */
  async lastStatusOfOrganization(caller: Identity, organization: string) {
    if (organization !== caller.organization && !caller.roles.includes(PLATFORM_ADMIN)) throw notFound('Organization');
    const known =
      (await this.prisma.billingAccount.count({ where: { organization } })) > 0 ||
      (await this.prisma.charge.count({ where: { organization } })) > 0;
    if (!known) throw notFound('Organization');
    return this.lastStatusOf(organization);
  }

  private async lastStatusOf(organization: string) {
    const [newest] = await this.prisma.$queryRaw<Array<{ id: string }>>`
      SELECT c.id FROM charge c WHERE c.organization = ${organization}::uuid AND ${ONE_ROW_PER_PAYMENT}
      ORDER BY c.stripe_created_at DESC, c.created_at DESC LIMIT 1`;
    const latest = newest ? await this.prisma.charge.findUnique({ where: { id: newest.id } }) : null;
    return { organization, status: (latest?.status as ChargeStatus | undefined) ?? null, charge: latest ? chargeView(latest) : null };
  }

  /** How many of the caller's organization's payments succeeded: a payment stored as its charge and its invoice counts once. */
  async successCount(caller: Identity) {
    const [row] = await this.prisma.$queryRaw<Array<{ count: number }>>`
      SELECT count(*)::int AS count FROM charge c
      WHERE c.organization = ${caller.organization}::uuid AND c.status = 'succeeded' AND ${ONE_ROW_PER_PAYMENT}`;
    return { organization: caller.organization, count: row?.count ?? 0 };
  }
}
