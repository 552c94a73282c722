-- CreateTable
CREATE TABLE "referral" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "patient" UUID NOT NULL,
    "name" TEXT,
    "facility" UUID,
    "provider" UUID,
    "appointment_type" UUID,
    "referring_provider" UUID,
    "duration" INTEGER,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "status_reason" TEXT,
    "status_reason_description" TEXT,
    "source" TEXT NOT NULL DEFAULT 'ui',
    "start_on" TIMESTAMPTZ(3) NOT NULL,
    "expire_at" TIMESTAMPTZ(3),
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "last_attempt_sent_at" TIMESTAMPTZ(3),
    "called_at" TIMESTAMPTZ(3),
    "accepted_at" TIMESTAMPTZ(3),
    "scheduled_at" TIMESTAMPTZ(3),
    "scheduled_by_appointment" UUID,
    "scheduled_by_offer" UUID,
    "processed_referral_followup" TEXT,
    "notes" TEXT,
    "customer_notes" TEXT,
    "reason" TEXT,
    "department_or_facility" TEXT,
    "external_id" TEXT,
    "fax_sent_at" TIMESTAMPTZ(3),
    "referring_provider_fax_number_override" TEXT,
    "created_by" TEXT,
    "updated_by" TEXT,
    "deleted_at" TIMESTAMPTZ(3),
    "deleted_by" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "referral_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "referring_provider" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "firstname" TEXT,
    "lastname" TEXT,
    "name" TEXT NOT NULL,
    "normalized_name" TEXT NOT NULL DEFAULT '',
    "npi" TEXT,
    "taxonomy" TEXT,
    "email" TEXT,
    "phone" TEXT,
    "fax" TEXT,
    "address" TEXT,
    "city" TEXT,
    "state" TEXT,
    "postcode" TEXT,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "source" TEXT NOT NULL DEFAULT 'ui',
    "created_by" TEXT,
    "updated_by" TEXT,
    "deleted_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "referring_provider_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "referral_setting" (
    "organization" UUID NOT NULL,
    "auto_approve" BOOLEAN NOT NULL,
    "expiry_days" INTEGER NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "referral_setting_pkey" PRIMARY KEY ("organization")
);

-- CreateIndex
CREATE INDEX "referral_organization_created_at_idx" ON "referral"("organization", "created_at");

-- CreateIndex
CREATE INDEX "referral_organization_status_created_at_idx" ON "referral"("organization", "status", "created_at");

-- CreateIndex
CREATE INDEX "referral_organization_patient_idx" ON "referral"("organization", "patient");

-- CreateIndex
CREATE INDEX "referral_organization_referring_provider_idx" ON "referral"("organization", "referring_provider");

-- CreateIndex
CREATE INDEX "referral_status_expire_at_idx" ON "referral"("status", "expire_at");

-- CreateIndex
CREATE INDEX "referring_provider_organization_normalized_name_idx" ON "referring_provider"("organization", "normalized_name");

-- CreateIndex
CREATE UNIQUE INDEX "referring_provider_organization_npi_key" ON "referring_provider"("organization", "npi");

-- Added by hand: the states and reasons the service writes are the product's (@pep/contracts referralStatuses etc.).
ALTER TABLE "referral" ADD CONSTRAINT "referral_status_check" CHECK ("status" IN ('pending', 'active', 'called', 'called-late', 'scheduled', 'scheduled-late', 'incomplete', 'expired', 'cancelled', 'closed'));
ALTER TABLE "referral" ADD CONSTRAINT "referral_status_reason_check" CHECK ("status_reason" IS NULL OR "status_reason" IN ('patient-cancelled', 'invalid-insurance', 'missing-data', 'other'));
