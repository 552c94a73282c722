-- CreateEnum
CREATE TYPE "availability_status" AS ENUM ('available', 'booked-pending', 'offered', 'booked', 'booked-by-integrator', 'booked-by-offer', 'expired');

-- CreateTable
CREATE TABLE "availability" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "provider" UUID NOT NULL,
    "facility" UUID NOT NULL,
    "appointment_type" UUID,
    "date" TIMESTAMPTZ(3) NOT NULL,
    "duration" INTEGER NOT NULL,
    "end_at" TIMESTAMPTZ(3) NOT NULL,
    "external_id" TEXT,
    "status" "availability_status" NOT NULL DEFAULT 'available',
    "offer" UUID,
    "appointment" UUID,
    "locked" BOOLEAN NOT NULL DEFAULT false,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "availability_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "availability_organization_date_idx" ON "availability"("organization", "date");

-- CreateIndex
CREATE INDEX "availability_offer_idx" ON "availability"("offer");

-- CreateIndex
CREATE INDEX "availability_appointment_idx" ON "availability"("appointment");

-- AddForeignKey
ALTER TABLE "availability" ADD CONSTRAINT "availability_organization_provider_fkey" FOREIGN KEY ("organization", "provider") REFERENCES "provider"("organization", "id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "availability" ADD CONSTRAINT "availability_organization_facility_fkey" FOREIGN KEY ("organization", "facility") REFERENCES "facility"("organization", "id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "availability" ADD CONSTRAINT "availability_organization_appointment_type_fkey" FOREIGN KEY ("organization", "appointment_type") REFERENCES "appointment_type"("organization", "id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Written by hand below: what schema.prisma cannot express.

-- end_at is the service's copy of date + duration, as for appointments.
ALTER TABLE "availability" ADD CONSTRAINT "availability_end_at_check" CHECK ("end_at" = "date" + make_interval(mins => "duration"));

-- One live availability per provider and start: posting the same hours twice is refused instead of doubling the
-- slots, and an offer of a freed slot finds its availability by provider and start.
CREATE UNIQUE INDEX "availability_one_per_start" ON "availability"("organization", "provider", "date") WHERE NOT "deleted";
