import { randomUUID } from 'node:crypto';
import { subscriptionChangedV1 } from '@pep/contracts';
import type { Emit } from '@pep/db';
import { HttpProblem, notFound, type Identity } from '@pep/service-kit';
import type Stripe from 'stripe';
import type { StripeEventOutcome } from './charge.service.js';
import type { BillingWork, Tx } from './events.js';
import type { PrismaClient, Subscription } from './generated/prisma/client.js';
import type { Plan } from './plans.js';
import { PLATFORM_ADMIN } from './roles.js';
import { stripeProblem } from './stripe-errors.js';

/** Stripe's statuses of a subscription that has ended; any other is the organization's live subscription. */
const ENDED = ['canceled', 'incomplete_expired'];

const UUID = /^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i;
const seconds = (unix: number) => new Date(unix * 1000);
/** Now, to Stripe's precision (whole seconds), so billing's own changes and Stripe's events compare alike. */
const wholeSeconds = (date: Date) => new Date(Math.floor(date.getTime() / 1000) * 1000);
const later = (a: Date, b: Date) => (a > b ? a : b);

/** The Stripe idempotency key of an organization's `generation`-th subscription to `plan` for `quantity` providers. */
export const subscriptionIdempotencyKey = (organization: string, generation: number, plan: string, quantity: number) =>
  `billing-subscription-${organization}-${generation}-${plan}-${quantity}`;

/** What billing keeps of a Stripe subscription object. */
interface StripeSubscriptionFacts {
  status: string;
  cancelAtPeriodEnd: boolean;
  currentPeriodEnd: Date | null;
  canceledAt: Date | null;
  providerItemId: string | null;
  textingItemId: string | null;
  quantity: number;
}

/** A subscription as the API answers it; the sandbox's ended period reads as canceled even before anything rewrote it. */
export function subscriptionView(subscription: Subscription, now: Date) {
  return {
    _id: subscription.id,
    organization: subscription.organization,
    plan: subscription.plan,
    stripeSubscriptionId: subscription.stripeSubscriptionId,
    status: sandboxEnded(subscription, now) ? 'canceled' : subscription.status,
    cancelAtPeriodEnd: subscription.cancelAtPeriodEnd,
    currentPeriodEnd: subscription.currentPeriodEnd?.toISOString() ?? null,
    canceledAt: subscription.canceledAt?.toISOString() ?? null,
    quantity: subscription.quantity,
    sandbox: subscription.stripeSubscriptionId === null,
    createdAt: subscription.createdAt.toISOString(),
    updatedAt: subscription.updatedAt.toISOString(),
  };
}

/** A sandbox subscription canceled at a period end that has passed: nothing at Stripe will say so, the ledger's clock does. */
function sandboxEnded(subscription: Subscription, now: Date): boolean {
  return (
    subscription.stripeSubscriptionId === null &&
    subscription.cancelAtPeriodEnd &&
    subscription.currentPeriodEnd !== null &&
    subscription.currentPeriodEnd <= now
  );
}

function emitChanged(emit: Emit, subscription: Subscription): void {
  emit(subscriptionChangedV1, {
    organization: subscription.organization,
    subject: subscription.id,
    data: {
      _id: subscription.id,
      plan: subscription.plan,
      stripeSubscriptionId: subscription.stripeSubscriptionId,
      status: subscription.status,
      cancelAtPeriodEnd: subscription.cancelAtPeriodEnd,
      currentPeriodEnd: subscription.currentPeriodEnd?.toISOString() ?? null,
      quantity: subscription.quantity,
    },
  });
}

const sameState = (a: Subscription, b: Subscription) =>
  a.status === b.status &&
  a.cancelAtPeriodEnd === b.cancelAtPeriodEnd &&
  a.quantity === b.quantity &&
  a.currentPeriodEnd?.getTime() === b.currentPeriodEnd?.getTime();

/** One month after `from`, as the sandbox's period. */
function monthAfter(from: Date): Date {
  const end = new Date(from);
  end.setUTCMonth(end.getUTCMonth() + 1);
  return end;
}

/**
 * Organizations' subscriptions to the configured plans. With Stripe, requests call Stripe before their short
 * transaction (a retry meets the same Stripe subscription through the same idempotency key), and Stripe's subscription
 * events keep the state; in the sandbox the rows are the whole ledger. The quantity of the per-provider item follows the
 * organization's active providers, from scheduling's events.
 */
export class SubscriptionService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: BillingWork,
    private readonly stripe: Stripe | null,
    private readonly plans: ReadonlyArray<Plan>,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * Subscribes the caller's organization to `planId`, billed per active provider (and its texting, when the plan meters
   * it). 400 naming `body.plan` for a plan not configured, 404 without a billing account, 409 when it has a live subscription.
   * A live subscription of the organization at Stripe that is not stored here (an earlier attempt's whose transaction
   * failed) is adopted instead of making another, its quantity then set to the current count; 409 when it is of another plan.
   */
  async subscribe(caller: Identity, planId: string, correlationId: string) {
    const organization = caller.organization;
    const plan = this.plans.find((candidate) => candidate.id === planId);
    if (!plan) {
      throw new HttpProblem(400, 'validation', 'No such plan.', {
        errors: [{ field: 'body.plan', message: `one of ${this.plans.map((known) => known.id).join(', ')}` }],
      });
    }
    const account = await this.prisma.billingAccount.findUnique({ where: { organization } });
    if (!account) throw notFound('Billing account');
    if (await this.liveOf(this.prisma, organization)) throw alreadySubscribed();
    const generation = await this.prisma.subscription.count({ where: { organization } });
    const quantity = await this.activeProviders(this.prisma, organization);
    const now = this.clock();
    let facts: StripeSubscriptionFacts & { stripeSubscriptionId: string | null } = {
      stripeSubscriptionId: null,
      status: 'active',
      cancelAtPeriodEnd: false,
      currentPeriodEnd: monthAfter(now),
      canceledAt: null,
      providerItemId: null,
      textingItemId: null,
      quantity,
    };
    if (this.stripe && account.stripeCustomerId) {
      const orphan = await this.unstoredAtStripe(this.stripe, account.stripeCustomerId, organization);
      if (orphan && orphan.metadata?.['plan'] !== plan.id) {
        throw new HttpProblem(
          409,
          'conflict',
          `Stripe has the organization's subscription to plan '${orphan.metadata?.['plan'] ?? 'unknown'}' from an earlier attempt; subscribe to that plan to keep it, or cancel it (DELETE /api/billing/subscriptions) once it is listed.`,
        );
      }
      const created =
        orphan ??
        (await this.stripe.subscriptions
          .create(
            {
              customer: account.stripeCustomerId,
              items: [{ price: plan.providerPrice, quantity }, ...(plan.texting ? [{ price: plan.texting.price }] : [])],
              metadata: { organization, plan: plan.id },
            },
            { idempotencyKey: subscriptionIdempotencyKey(organization, generation, plan.id, quantity) },
          )
          .catch((error: unknown) => {
            throw stripeProblem(error, 'body.plan');
          }));
      facts = { stripeSubscriptionId: created.id, ...this.factsOf(created, plan) };
    }
    const subscription = await this.work.run({ correlationId }, async (tx, emit) => {
      // One subscribe at a time per organization, so two racing requests cannot both pass the check below.
      await tx.$queryRaw`SELECT organization FROM billing_account WHERE organization = ${organization}::uuid FOR UPDATE`;
      await this.endSandboxPeriods(tx, emit, organization);
      const live = await this.liveOf(tx, organization);
      // This request's own subscription, stored meanwhile by Stripe's webhook or an earlier attempt: answer it.
      if (live && facts.stripeSubscriptionId && live.stripeSubscriptionId === facts.stripeSubscriptionId) return live;
      if (live) throw alreadySubscribed();
      const id = randomUUID();
      await tx.subscription.createMany({
        data: [
          {
            id,
            organization,
            plan: plan.id,
            stripeSubscriptionId: facts.stripeSubscriptionId,
            stripeProviderItemId: facts.providerItemId,
            stripeTextingItemId: facts.textingItemId,
            status: facts.status,
            cancelAtPeriodEnd: facts.cancelAtPeriodEnd,
            currentPeriodEnd: facts.currentPeriodEnd,
            canceledAt: facts.canceledAt,
            quantity: facts.quantity,
            stateAt: wholeSeconds(now),
          },
        ],
        skipDuplicates: true,
      });
      let stored = await tx.subscription.findUniqueOrThrow({ where: { id } });
      // A provider event handled while Stripe was being called found no subscription to update (it waits on the account's
      // lock from here on): count again under the lock, so the quantity does not stay behind.
      const current = await this.activeProviders(tx, organization);
      if (current !== stored.quantity) {
        // Failing here would leave Stripe's subscription unstored (a retry would adopt it, but this request would fail):
        // keep it with the older count, which the next provider event corrects.
        stored = await this.setQuantity(tx, stored, current, `subscribe-${id}`).catch(() => stored);
      }
      emitChanged(emit, stored);
      return stored;
    });
    return subscriptionView(subscription, this.clock());
  }

  /**
   * A live subscription Stripe has for the organization (our `metadata.organization`) that is not stored here: an
   * earlier attempt's, made at Stripe before its transaction failed. Adopting it keeps a retry from making a second
   * one when its idempotency key differs (another provider count since) or Stripe has forgotten the key (24 hours).
   * Stripe's list, unlike its search, shows a subscription as soon as it is made.
   */
  private async unstoredAtStripe(stripe: Stripe, customer: string, organization: string): Promise<Stripe.Subscription | null> {
    const candidates: Stripe.Subscription[] = [];
    try {
      for await (const subscription of stripe.subscriptions.list({ customer, status: 'all', limit: 100 })) {
        if (subscription.metadata?.['organization'] === organization && !ENDED.includes(subscription.status)) candidates.push(subscription);
      }
    } catch (error) {
      throw stripeProblem(error);
    }
    if (candidates.length === 0) return null;
    const stored = await this.prisma.subscription.findMany({
      where: { stripeSubscriptionId: { in: candidates.map((candidate) => candidate.id) } },
      select: { stripeSubscriptionId: true },
    });
    const known = new Set(stored.map((row) => row.stripeSubscriptionId));
    // Newest first, as Stripe lists them: the latest attempt is the one a client retrying expects.
    return candidates.find((candidate) => !known.has(candidate.id)) ?? null;
  }

  /** Cancels the caller's organization's live subscription at the end of its period; 404 when it has none. */
  async cancel(caller: Identity, correlationId: string) {
    const organization = caller.organization;
    const live = await this.liveOf(this.prisma, organization);
    if (!live) throw notFound('Subscription');
    if (live.cancelAtPeriodEnd) return subscriptionView(live, this.clock());
    let facts: Partial<StripeSubscriptionFacts> = { cancelAtPeriodEnd: true, canceledAt: this.clock() };
    if (this.stripe && live.stripeSubscriptionId) {
      const updated = await this.stripe.subscriptions
        .update(
          live.stripeSubscriptionId,
          { cancel_at_period_end: true },
          // Per state: a subscription reactivated at Stripe (a newer state here) may be canceled again under a new key.
          { idempotencyKey: `billing-cancel-${live.id}-${live.stateAt.getTime()}` },
        )
        .catch((error: unknown) => {
          throw stripeProblem(error);
        });
      const plan = this.plans.find((candidate) => candidate.id === live.plan);
      const { quantity: _quantity, providerItemId: _provider, textingItemId: _texting, ...state } = this.factsOf(updated, plan);
      facts = state;
    }
    const subscription = await this.work.run({ correlationId }, async (tx, emit) => {
      const updated = await tx.subscription.update({
        where: { id: live.id },
        data: { ...facts, stateAt: later(live.stateAt, wholeSeconds(this.clock())) },
      });
      if (!sameState(live, updated)) emitChanged(emit, updated);
      return updated;
    });
    return subscriptionView(subscription, this.clock());
  }

  /**
   * The subscriptions of a named organization, newest first: the caller's own, or any for a platform admin. Another
   * organization's, and one billing knows nothing of, answer 404 alike.
   */
  async listOf(caller: Identity, organization: string) {
    if (organization !== caller.organization && !caller.roles.includes(PLATFORM_ADMIN)) throw notFound('Organization');
    const subscriptions = await this.prisma.subscription.findMany({ where: { organization }, orderBy: { createdAt: 'desc' } });
    if (subscriptions.length === 0 && (await this.prisma.billingAccount.count({ where: { organization } })) === 0) {
      throw notFound('Organization');
    }
    const now = this.clock();
    return subscriptions.map((subscription) => subscriptionView(subscription, now));
  }

  /**
   * Keeps a live subscription's per-provider quantity at the organization's active provider count, inside the handler's
   * inbox transaction: the account row is locked first (as a subscribe's transaction does), so two providers' events of
   * one organization, or one and a subscribe, take turns and the later counts both. A Stripe failure throws and the event
   * is retried; the key (event and count) makes a retry of the same change one change at Stripe.
   */
  async syncQuantity(tx: Tx, emit: Emit, organization: string, eventId: string): Promise<void> {
    await tx.$queryRaw`SELECT organization FROM billing_account WHERE organization = ${organization}::uuid FOR UPDATE`;
    const [locked] = await tx.$queryRaw<Array<{ id: string }>>`
      SELECT id FROM subscription WHERE organization = ${organization}::uuid AND status NOT IN ('canceled', 'incomplete_expired')
      ORDER BY created_at DESC LIMIT 1 FOR UPDATE`;
    if (!locked) return;
    const live = await tx.subscription.findUniqueOrThrow({ where: { id: locked.id } });
    const quantity = await this.activeProviders(tx, organization);
    if (quantity === live.quantity) return;
    // A subscription made at Stripe outside billing has no item billing knows to count providers on.
    if (live.stripeSubscriptionId && !live.stripeProviderItemId) return;
    emitChanged(emit, await this.setQuantity(tx, live, quantity, eventId));
  }

  /** Sets the per-provider quantity at Stripe (key: `why`, subscription, count), then here; answers the row. */
  private async setQuantity(tx: Tx, live: Subscription, quantity: number, why: string): Promise<Subscription> {
    if (this.stripe && live.stripeProviderItemId) {
      await this.stripe.subscriptionItems
        .update(live.stripeProviderItemId, { quantity }, { idempotencyKey: `billing-quantity-${why}-${live.id}-${quantity}` })
        .catch((error: unknown) => {
          throw stripeProblem(error);
        });
    }
    return tx.subscription.update({
      where: { id: live.id },
      data: { quantity, stateAt: later(live.stateAt, wholeSeconds(this.clock())) },
    });
  }

  /**
   * Applies Stripe's `customer.subscription.*` event in the webhook's transaction (its id is already recorded): stores a
   * subscription billing did not know (made at Stripe), or moves a known one to the event's state unless the stored
   * state is newer (Stripe's event `created`; within one second, a canceled subscription stays canceled).
   */
  async applyStripeEvent(tx: Tx, emit: Emit, event: Stripe.Event): Promise<StripeEventOutcome> {
    if (!event.type.startsWith('customer.subscription.')) return 'acknowledged';
    const object = event.data.object as Stripe.Subscription;
    // Not a subscription billing can read (no status): acknowledged, so Stripe stops retrying what would fail alike.
    if (typeof object.status !== 'string') return 'acknowledged';
    const eventAt = seconds(event.created);
    const customer = typeof object.customer === 'string' ? object.customer : object.customer?.id;
    const account = customer
      ? await tx.billingAccount.findUnique({ where: { stripeCustomerId: customer }, select: { organization: true } })
      : null;
    const claimed = object.metadata?.['organization'];
    const organization = account?.organization ?? (claimed && UUID.test(claimed) ? claimed : null);
    if (!organization) return 'unknown-customer';
    const planId = object.metadata?.['plan'];
    const plan =
      this.plans.find((candidate) => candidate.id === planId) ??
      this.plans.find((candidate) => object.items?.data?.some((item) => item.price?.id === candidate.providerPrice));
    const facts = this.factsOf(object, plan);
    const state = {
      status: facts.status,
      cancelAtPeriodEnd: facts.cancelAtPeriodEnd,
      currentPeriodEnd: facts.currentPeriodEnd,
      canceledAt: facts.canceledAt,
      quantity: facts.quantity,
      stripeProviderItemId: facts.providerItemId,
      stripeTextingItemId: facts.textingItemId,
      stateAt: eventAt,
    };
    const inserted = await tx.subscription.createMany({
      data: [{ id: randomUUID(), organization, plan: plan?.id ?? 'external', stripeSubscriptionId: object.id, ...state }],
      skipDuplicates: true,
    });
    if (inserted.count === 1) {
      emitChanged(emit, await tx.subscription.findUniqueOrThrow({ where: { stripeSubscriptionId: object.id } }));
      return 'applied';
    }
    // Two events of one subscription at once: the second waits for the first's commit and compares with what it wrote.
    await tx.$queryRaw`SELECT id FROM subscription WHERE stripe_subscription_id = ${object.id} FOR UPDATE`;
    const stored = await tx.subscription.findUniqueOrThrow({ where: { stripeSubscriptionId: object.id } });
    const older = eventAt < stored.stateAt;
    const reopensWithinSecond =
      eventAt.getTime() === stored.stateAt.getTime() && ENDED.includes(stored.status) && !ENDED.includes(facts.status);
    if (older || reopensWithinSecond) return 'stale';
    const updated = await tx.subscription.update({ where: { id: stored.id }, data: state });
    if (!sameState(stored, updated)) emitChanged(emit, updated);
    return 'applied';
  }

  /** What billing keeps of a Stripe subscription: its state, and the items of the plan's two prices. */
  private factsOf(subscription: Stripe.Subscription, plan: Plan | undefined): StripeSubscriptionFacts {
    const items = subscription.items?.data ?? [];
    const provider = items.find((item) => item.price?.id === plan?.providerPrice) ?? items.find((item) => item.quantity !== null);
    const texting = plan?.texting ? items.find((item) => item.price?.id === plan.texting!.price) : undefined;
    // Since Stripe's 2025 API versions the period is on each item; before, on the subscription.
    const periodEnd =
      (provider as { current_period_end?: number } | undefined)?.current_period_end ??
      (subscription as unknown as { current_period_end?: number }).current_period_end;
    return {
      status: subscription.status,
      cancelAtPeriodEnd: subscription.cancel_at_period_end,
      currentPeriodEnd: periodEnd ? seconds(periodEnd) : null,
      canceledAt: subscription.canceled_at ? seconds(subscription.canceled_at) : null,
      providerItemId: provider?.id ?? null,
      textingItemId: texting?.id ?? null,
      quantity: provider?.quantity ?? 0,
    };
  }

  /** Marks the organization's sandbox subscriptions whose canceled period has ended as canceled. */
  private async endSandboxPeriods(tx: Tx, emit: Emit, organization: string): Promise<void> {
    const now = this.clock();
    const ended = await tx.subscription.findMany({
      where: {
        organization,
        stripeSubscriptionId: null,
        cancelAtPeriodEnd: true,
        currentPeriodEnd: { lte: now },
        status: { notIn: ENDED },
      },
    });
    for (const subscription of ended) {
      emitChanged(
        emit,
        await tx.subscription.update({ where: { id: subscription.id }, data: { status: 'canceled', stateAt: wholeSeconds(now) } }),
      );
    }
  }

  private async liveOf(db: Tx | PrismaClient, organization: string): Promise<Subscription | null> {
    const live = await db.subscription.findFirst({
      where: { organization, status: { notIn: ENDED } },
      orderBy: { createdAt: 'desc' },
    });
    return live && !sandboxEnded(live, this.clock()) ? live : null;
  }

  private activeProviders(db: Tx | PrismaClient, organization: string): Promise<number> {
    return db.provider.count({ where: { organization, active: true } });
  }
}

const alreadySubscribed = () =>
  new HttpProblem(409, 'conflict', 'The organization is subscribed; cancel with DELETE /api/billing/subscriptions first.');
