-- One payment counted once: the PaymentIntent a charge belongs to, and which payments paid which invoice, so a payment
-- stored both as its charge and as its invoice is known to be one.
-- AlterTable
ALTER TABLE "charge" ADD COLUMN "payment_intent" TEXT;

-- CreateTable
CREATE TABLE "invoice_payment" (
    "invoice" TEXT NOT NULL,
    "payment" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "invoice_payment_pkey" PRIMARY KEY ("invoice","payment")
);

-- CreateIndex
CREATE INDEX "charge_organization_payment_intent_idx" ON "charge"("organization", "payment_intent");
