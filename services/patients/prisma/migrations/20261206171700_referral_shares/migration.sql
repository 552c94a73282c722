-- CreateTable
CREATE TABLE "referral_share" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "referring_provider" UUID NOT NULL,
    "channel" TEXT NOT NULL,
    "recipient" TEXT NOT NULL,
    "referrals" UUID[],
    "shared_by" TEXT,
    "shared_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "referral_share_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "referral_share_organization_referring_provider_shared_at_idx" ON "referral_share"("organization", "referring_provider", "shared_at");
