-- Metered texting: one usage record per message sent (SMS segments, voice minutes), and its report to Stripe.
-- CreateTable
CREATE TABLE "usage_record" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "message" UUID NOT NULL,
    "channel" TEXT NOT NULL,
    "quantity" INTEGER NOT NULL,
    "period" TEXT NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "usage_record_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "usage_report" (
    "usage_record_id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "reported_at" TIMESTAMPTZ(3),
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "usage_report_pkey" PRIMARY KEY ("usage_record_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "usage_record_message_key" ON "usage_record"("message");

-- CreateIndex
CREATE INDEX "usage_record_organization_period_idx" ON "usage_record"("organization", "period");

-- CreateIndex
CREATE INDEX "usage_report_reported_at_next_attempt_at_idx" ON "usage_report"("reported_at", "next_attempt_at");
