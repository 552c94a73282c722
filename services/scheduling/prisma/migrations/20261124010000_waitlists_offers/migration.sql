-- CreateEnum
CREATE TYPE "waitlist_status" AS ENUM ('waiting', 'in-flight', 'offered', 'confirming', 'accepted', 'pending', 'declined');

-- CreateEnum
CREATE TYPE "offer_status" AS ENUM ('in-progress', 'patient-found', 'patient-not-found', 'cancelled');

-- CreateEnum
CREATE TYPE "offer_protocol" AS ENUM ('serial', 'parallel');

-- CreateEnum
CREATE TYPE "offer_source" AS ENUM ('cancellation', 'manual', 'find-open-spots', 'self-scheduling', 'reschedule', 'staff-scheduling', 'reschedule-from-intent');

-- CreateEnum
CREATE TYPE "offer_recipient_status" AS ENUM ('queued', 'offered', 'accepted', 'declined', 'expired', 'taken', 'withdrawn');

-- AlterTable
ALTER TABLE "organization_setting" ADD COLUMN     "front_office_acceptance" BOOLEAN,
ADD COLUMN     "max_offers_per_slot" INTEGER,
ADD COLUMN     "offer_expiry_minutes" INTEGER,
ADD COLUMN     "offer_protocol" "offer_protocol";

-- CreateTable
CREATE TABLE "waitlist" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "patient" UUID NOT NULL,
    "provider" UUID,
    "facility" UUID,
    "facilities" UUID[] DEFAULT ARRAY[]::UUID[],
    "appointment_type" UUID,
    "position" INTEGER NOT NULL,
    "notes" TEXT,
    "status" "waitlist_status" NOT NULL DEFAULT 'waiting',
    "offer" UUID,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "waitlist_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "offer" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "provider" UUID NOT NULL,
    "facility" UUID NOT NULL,
    "appointment_type" UUID NOT NULL,
    "date" TIMESTAMPTZ(3) NOT NULL,
    "duration" INTEGER NOT NULL,
    "expire_at" TIMESTAMPTZ(3) NOT NULL,
    "expiry_minutes" INTEGER NOT NULL,
    "protocol" "offer_protocol" NOT NULL,
    "source" "offer_source" NOT NULL,
    "status" "offer_status" NOT NULL DEFAULT 'in-progress',
    "from_appointment" UUID,
    "patient_found" UUID,
    "patient_found_at" TIMESTAMPTZ(3),
    "used_for_appointment" UUID,
    "approved_by" TEXT,
    "declined_by" TEXT,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "offer_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "offer_recipient" (
    "offer" UUID NOT NULL,
    "waitlist" UUID NOT NULL,
    "patient" UUID NOT NULL,
    "rank" INTEGER NOT NULL,
    "status" "offer_recipient_status" NOT NULL,
    "offered_at" TIMESTAMPTZ(3),
    "responded_at" TIMESTAMPTZ(3),

    CONSTRAINT "offer_recipient_pkey" PRIMARY KEY ("offer","waitlist")
);

-- CreateIndex
CREATE INDEX "waitlist_organization_status_position_idx" ON "waitlist"("organization", "status", "position");

-- CreateIndex
CREATE INDEX "waitlist_organization_provider_idx" ON "waitlist"("organization", "provider");

-- CreateIndex
CREATE INDEX "waitlist_organization_patient_idx" ON "waitlist"("organization", "patient");

-- CreateIndex
CREATE UNIQUE INDEX "offer_from_appointment_key" ON "offer"("from_appointment");

-- CreateIndex
CREATE INDEX "offer_organization_date_idx" ON "offer"("organization", "date");

-- CreateIndex
CREATE INDEX "offer_status_expire_at_idx" ON "offer"("status", "expire_at");

-- CreateIndex
CREATE INDEX "offer_recipient_waitlist_idx" ON "offer_recipient"("waitlist");

-- AddForeignKey
ALTER TABLE "offer_recipient" ADD CONSTRAINT "offer_recipient_offer_fkey" FOREIGN KEY ("offer") REFERENCES "offer"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "offer_recipient" ADD CONSTRAINT "offer_recipient_waitlist_fkey" FOREIGN KEY ("waitlist") REFERENCES "waitlist"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Written by hand below: what schema.prisma cannot express.

-- An offer has one winner. The conditional update of the offer row decides who; this keeps a second accepted
-- recipient out even if that logic is ever wrong.
CREATE UNIQUE INDEX "offer_recipient_one_winner" ON "offer_recipient"("offer") WHERE "status" = 'accepted';
