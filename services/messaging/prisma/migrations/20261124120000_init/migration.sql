-- CreateEnum
CREATE TYPE "reminder_status" AS ENUM ('scheduled', 'pending', 'queued', 'sent', 'confirmed', 'emailOpened', 'skipped', 'delivered', 'blocked');

-- CreateEnum
CREATE TYPE "reminder_type" AS ENUM ('appointment', 'feedback', 'referral', 'outbound-referral', 'followup', 'patient-form', 'recall', 'telehealth', 'waiting-room');

-- CreateEnum
CREATE TYPE "message_channel" AS ENUM ('sms', 'email', 'voice');

-- CreateEnum
CREATE TYPE "message_direction" AS ENUM ('inbound', 'outbound');

-- CreateEnum
CREATE TYPE "message_status" AS ENUM ('sent', 'pending', 'delivered', 'undelivered', 'opened', 'skipped');

-- CreateEnum
CREATE TYPE "message_classification" AS ENUM ('positive', 'negative', 'irregular', 'recognized-keywords', 'unclassified');

-- CreateTable
CREATE TABLE "patient_contact" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "firstname" TEXT NOT NULL,
    "lastname" TEXT NOT NULL,
    "phone" TEXT,
    "email" TEXT,
    "language" TEXT NOT NULL DEFAULT 'en',
    "do_not_contact" BOOLEAN NOT NULL DEFAULT false,
    "opted_out_at" TIMESTAMPTZ(3),
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "merged_into" UUID,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "patient_contact_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "facility" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "time_zone" TEXT NOT NULL,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "facility_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "provider" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "provider_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "appointment" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "patient" UUID NOT NULL,
    "provider" UUID NOT NULL,
    "facility" UUID NOT NULL,
    "date" TIMESTAMPTZ(3) NOT NULL,
    "duration" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "time_zone" TEXT NOT NULL,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "appointment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "offer" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "provider" UUID NOT NULL,
    "facility" UUID NOT NULL,
    "date" TIMESTAMPTZ(3) NOT NULL,
    "duration" INTEGER NOT NULL,
    "time_zone" TEXT NOT NULL,
    "expire_at" TIMESTAMPTZ(3) NOT NULL,
    "status" TEXT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "offer_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "organization_setting" (
    "organization" UUID NOT NULL,
    "reminder_offsets_hours" INTEGER[],
    "quiet_hours_start" TEXT NOT NULL,
    "quiet_hours_end" TEXT NOT NULL,
    "help_text" TEXT,
    "changed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "organization_setting_pkey" PRIMARY KEY ("organization")
);

-- CreateTable
CREATE TABLE "reminder" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "appointment" UUID,
    "patient" UUID NOT NULL,
    "provider" UUID,
    "facility" UUID,
    "type" "reminder_type" NOT NULL DEFAULT 'appointment',
    "channel" "message_channel",
    "offset_hours" INTEGER,
    "send_at" TIMESTAMPTZ(3) NOT NULL,
    "sent_at" TIMESTAMPTZ(3),
    "status" "reminder_status" NOT NULL DEFAULT 'scheduled',
    "status_reason" TEXT,
    "offer" UUID,
    "message_template" TEXT,
    "text" TEXT,
    "message" UUID,
    "claimed_at" TIMESTAMPTZ(3),
    "retry_at" TIMESTAMPTZ(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "forced_time" BOOLEAN NOT NULL DEFAULT false,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "reminder_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "message" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "patient" UUID NOT NULL,
    "type" "message_direction" NOT NULL,
    "channel" "message_channel" NOT NULL,
    "status" "message_status" NOT NULL,
    "skipped_status_reason" TEXT,
    "key" TEXT,
    "from" TEXT,
    "to" TEXT,
    "subject" TEXT,
    "text" TEXT NOT NULL,
    "language" TEXT NOT NULL DEFAULT 'en',
    "external_id" TEXT,
    "external_status" JSONB,
    "classification" "message_classification",
    "automated" BOOLEAN NOT NULL DEFAULT false,
    "appointment" UUID,
    "reminder" UUID,
    "offer" UUID,
    "terminating_state_at" TIMESTAMPTZ(3),
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "message_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "message_template" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "language" TEXT NOT NULL DEFAULT 'en',
    "description" TEXT,
    "subject" TEXT,
    "text" TEXT NOT NULL,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "message_template_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "patient_message_template" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "text" TEXT NOT NULL,
    "language" TEXT NOT NULL DEFAULT 'en',
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "patient_message_template_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "outbox" (
    "id" UUID NOT NULL,
    "seq" BIGSERIAL NOT NULL,
    "topic" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "envelope" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "published_at" TIMESTAMPTZ(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,

    CONSTRAINT "outbox_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "inbox" (
    "event_id" UUID NOT NULL,
    "consumer" TEXT NOT NULL,
    "handled_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "inbox_pkey" PRIMARY KEY ("event_id","consumer")
);

-- CreateIndex
CREATE INDEX "patient_contact_phone_idx" ON "patient_contact"("phone");

-- CreateIndex
CREATE INDEX "appointment_organization_patient_idx" ON "appointment"("organization", "patient");

-- CreateIndex
CREATE INDEX "reminder_status_send_at_idx" ON "reminder"("status", "send_at");

-- CreateIndex
CREATE INDEX "reminder_organization_appointment_idx" ON "reminder"("organization", "appointment");

-- CreateIndex
CREATE INDEX "reminder_organization_patient_idx" ON "reminder"("organization", "patient");

-- CreateIndex
CREATE INDEX "reminder_organization_send_at_idx" ON "reminder"("organization", "send_at");

-- CreateIndex
CREATE INDEX "reminder_offer_idx" ON "reminder"("offer");

-- CreateIndex
CREATE INDEX "message_organization_patient_created_at_idx" ON "message"("organization", "patient", "created_at");

-- CreateIndex
CREATE INDEX "message_organization_created_at_idx" ON "message"("organization", "created_at");

-- CreateIndex
CREATE INDEX "message_type_to_created_at_idx" ON "message"("type", "to", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "message_external_id_type_key" ON "message"("external_id", "type");

-- CreateIndex
CREATE UNIQUE INDEX "message_template_organization_key_language_key" ON "message_template"("organization", "key", "language");

-- CreateIndex
CREATE INDEX "patient_message_template_organization_name_idx" ON "patient_message_template"("organization", "name");

-- CreateIndex
CREATE UNIQUE INDEX "outbox_seq_key" ON "outbox"("seq");

-- CreateIndex
CREATE INDEX "outbox_published_at_seq_idx" ON "outbox"("published_at", "seq");
