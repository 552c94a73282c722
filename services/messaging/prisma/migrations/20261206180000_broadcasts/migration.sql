-- Broadcasts (issue 14): the broadcast, its recipients each sent once, the organization's review and rate settings,
-- and the broadcast a message went out for.
-- CreateEnum
CREATE TYPE "broadcast_processing_status" AS ENUM ('pre-processing', 'processing-upload', 'rows-processed', 'sending-messages', 'success', 'failure');

-- CreateEnum
CREATE TYPE "broadcast_recipient_status" AS ENUM ('queued', 'claimed', 'sent', 'failed', 'skipped', 'blocked', 'cancelled');

-- AlterTable
ALTER TABLE "organization_setting" ADD COLUMN "broadcast_review_required" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN "broadcast_rate_per_hour" INTEGER NOT NULL DEFAULT 500;

-- AlterTable
ALTER TABLE "message" ADD COLUMN "broadcast" UUID;

-- CreateTable
CREATE TABLE "broadcast" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "title" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "channels" "message_channel"[],
    "audience" JSONB,
    "patients" UUID[],
    "send_at" TIMESTAMPTZ(3) NOT NULL,
    "sent_at" TIMESTAMPTZ(3),
    "processing_status" "broadcast_processing_status" NOT NULL DEFAULT 'pre-processing',
    "throttle" BOOLEAN NOT NULL DEFAULT true,
    "review_required" BOOLEAN NOT NULL DEFAULT false,
    "approved_by" TEXT,
    "approved_at" TIMESTAMPTZ(3),
    "cancelled_by" TEXT,
    "cancelled_at" TIMESTAMPTZ(3),
    "row_count" INTEGER NOT NULL DEFAULT 0,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "broadcast_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "broadcast_recipient" (
    "id" UUID NOT NULL,
    "broadcast" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "patient" UUID NOT NULL,
    "appointment" UUID,
    "status" "broadcast_recipient_status" NOT NULL DEFAULT 'queued',
    "status_reason" TEXT,
    "channel" "message_channel",
    "message" UUID,
    "claimed_at" TIMESTAMPTZ(3),
    "retry_at" TIMESTAMPTZ(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "sent_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "broadcast_recipient_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "message_broadcast_patient_idx" ON "message"("broadcast", "patient");

-- CreateIndex
CREATE INDEX "broadcast_organization_created_at_idx" ON "broadcast"("organization", "created_at");

-- CreateIndex
CREATE INDEX "broadcast_processing_status_send_at_idx" ON "broadcast"("processing_status", "send_at");

-- CreateIndex
CREATE UNIQUE INDEX "broadcast_recipient_broadcast_patient_key" ON "broadcast_recipient"("broadcast", "patient");

-- CreateIndex
CREATE INDEX "broadcast_recipient_status_retry_at_idx" ON "broadcast_recipient"("status", "retry_at");

-- CreateIndex
CREATE INDEX "broadcast_recipient_organization_claimed_at_idx" ON "broadcast_recipient"("organization", "claimed_at");
