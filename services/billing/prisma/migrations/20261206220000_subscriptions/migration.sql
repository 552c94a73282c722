-- Subscriptions to plans (at Stripe, or only here in the sandbox) and the providers whose count they bill.
CREATE TABLE "subscription" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "plan" TEXT NOT NULL,
    "stripe_subscription_id" TEXT,
    "stripe_provider_item_id" TEXT,
    "stripe_texting_item_id" TEXT,
    "status" TEXT NOT NULL,
    "cancel_at_period_end" BOOLEAN NOT NULL DEFAULT false,
    "current_period_end" TIMESTAMPTZ(3),
    "canceled_at" TIMESTAMPTZ(3),
    "quantity" INTEGER NOT NULL,
    "state_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "subscription_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "subscription_stripe_subscription_id_key" ON "subscription"("stripe_subscription_id");
CREATE INDEX "subscription_organization_created_at_idx" ON "subscription"("organization", "created_at");

CREATE TABLE "provider" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "active" BOOLEAN NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "provider_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "provider_organization_active_idx" ON "provider"("organization", "active");
