-- Referral outreach: referrals as patients describes them, outreach attempts planned as reminders of type `referral`,
-- the organization's outreach days and time zone, and the facilities' phone numbers said in the texts.
-- CreateTable
CREATE TABLE "referral" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "patient" UUID NOT NULL,
    "facility" UUID,
    "provider" UUID,
    "status" TEXT NOT NULL,
    "start_on" TIMESTAMPTZ(3) NOT NULL,
    "expire_at" TIMESTAMPTZ(3),
    "attempt" INTEGER NOT NULL,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "referral_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "referral_organization_patient_idx" ON "referral"("organization", "patient");

-- AlterTable
ALTER TABLE "reminder" ADD COLUMN "referral" UUID,
ADD COLUMN "referral_attempt" INTEGER;

-- CreateIndex
CREATE INDEX "reminder_referral_idx" ON "reminder"("referral");

-- AlterTable
ALTER TABLE "organization_setting" ADD COLUMN "referral_outreach_days" INTEGER[] DEFAULT ARRAY[]::INTEGER[],
ADD COLUMN "time_zone" TEXT;

-- AlterTable
ALTER TABLE "facility" ADD COLUMN "phone" TEXT;
