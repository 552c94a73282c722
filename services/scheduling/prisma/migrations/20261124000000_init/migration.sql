-- CreateEnum
CREATE TYPE "appointment_source" AS ENUM ('integrator', 'reminder', 'ui', 'waitlist', 'reschedule', 'telehealth');

-- CreateEnum
CREATE TYPE "appointment_status" AS ENUM ('unconfirmed', 'confirmed', 'cancelled');

-- CreateTable
CREATE TABLE "provider" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "firstname" TEXT NOT NULL,
    "lastname" TEXT NOT NULL,
    "middlename" TEXT,
    "alternative_name" TEXT,
    "phonetic" TEXT,
    "display_phone" TEXT,
    "npi" TEXT,
    "dept_code" TEXT,
    "special_instructions" TEXT,
    "schedulable" BOOLEAN NOT NULL DEFAULT true,
    "is_referring_provider" BOOLEAN NOT NULL DEFAULT false,
    "is_rendering_provider" BOOLEAN NOT NULL DEFAULT true,
    "visible" BOOLEAN NOT NULL DEFAULT true,
    "source" TEXT NOT NULL DEFAULT 'ui',
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "provider_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "facility" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "alternative_name" TEXT,
    "phonetic" TEXT,
    "address" TEXT,
    "city" TEXT,
    "state" TEXT,
    "country" TEXT,
    "postcode" TEXT,
    "phone" TEXT,
    "fax" TEXT,
    "alternative_phone" TEXT,
    "special_instructions" TEXT,
    "time_zone" TEXT NOT NULL,
    "visible" BOOLEAN NOT NULL DEFAULT true,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "facility_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "appointment_type" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "alternative_name" TEXT,
    "description" TEXT,
    "duration" INTEGER NOT NULL,
    "visible" BOOLEAN NOT NULL DEFAULT true,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "appointment_type_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "appointment" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "patient" UUID NOT NULL,
    "provider" UUID NOT NULL,
    "facility" UUID NOT NULL,
    "type" UUID NOT NULL,
    "date" TIMESTAMPTZ(3) NOT NULL,
    "duration" INTEGER NOT NULL,
    "end_at" TIMESTAMPTZ(3) NOT NULL,
    "source" "appointment_source" NOT NULL DEFAULT 'ui',
    "status" "appointment_status" NOT NULL DEFAULT 'unconfirmed',
    "allow_overlap" BOOLEAN NOT NULL DEFAULT false,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "appointment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "organization_setting" (
    "organization" UUID NOT NULL,
    "allow_double_booking" BOOLEAN NOT NULL DEFAULT false,
    "changed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "organization_setting_pkey" PRIMARY KEY ("organization")
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
CREATE UNIQUE INDEX "provider_organization_id_key" ON "provider"("organization", "id");

-- CreateIndex
CREATE INDEX "provider_organization_lastname_idx" ON "provider"("organization", "lastname");

-- CreateIndex
CREATE UNIQUE INDEX "facility_organization_id_key" ON "facility"("organization", "id");

-- CreateIndex
CREATE INDEX "facility_organization_name_idx" ON "facility"("organization", "name");

-- CreateIndex
CREATE UNIQUE INDEX "appointment_type_organization_id_key" ON "appointment_type"("organization", "id");

-- CreateIndex
CREATE INDEX "appointment_type_organization_name_idx" ON "appointment_type"("organization", "name");

-- CreateIndex
CREATE INDEX "appointment_organization_date_idx" ON "appointment"("organization", "date");

-- CreateIndex
CREATE INDEX "appointment_organization_patient_idx" ON "appointment"("organization", "patient");

-- CreateIndex
CREATE UNIQUE INDEX "outbox_seq_key" ON "outbox"("seq");

-- CreateIndex
CREATE INDEX "outbox_published_at_seq_idx" ON "outbox"("published_at", "seq");

-- AddForeignKey
ALTER TABLE "appointment" ADD CONSTRAINT "appointment_organization_provider_fkey" FOREIGN KEY ("organization", "provider") REFERENCES "provider"("organization", "id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "appointment" ADD CONSTRAINT "appointment_organization_facility_fkey" FOREIGN KEY ("organization", "facility") REFERENCES "facility"("organization", "id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "appointment" ADD CONSTRAINT "appointment_organization_type_fkey" FOREIGN KEY ("organization", "type") REFERENCES "appointment_type"("organization", "id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Written by hand below: what schema.prisma cannot express.

-- end_at is the service's copy of date + duration; the check keeps the overlap constraint honest if a write forgets it.
ALTER TABLE "appointment" ADD CONSTRAINT "appointment_end_at_check" CHECK ("end_at" = "date" + make_interval(mins => "duration"));

-- No double booking: two live appointments of one provider may not overlap, unless both were booked while the
-- organization allowed it. The database decides, so concurrent bookings cannot both win. btree_gist lets the GiST
-- index compare the uuid columns with =; it is a trusted extension, so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;

ALTER TABLE "appointment" ADD CONSTRAINT "appointment_no_overlap" EXCLUDE USING gist ("organization" WITH =, "provider" WITH =, tstzrange("date", "end_at", '[)') WITH &&) WHERE ("status" <> 'cancelled' AND NOT "deleted" AND NOT "allow_overlap");
