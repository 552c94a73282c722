-- AlterTable
ALTER TABLE "patient_contact" ADD COLUMN     "tags" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- CreateTable
CREATE TABLE "organization_profile" (
    "organization" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "changed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "organization_profile_pkey" PRIMARY KEY ("organization")
);

-- CreateTable
CREATE TABLE "notification" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "ref" TEXT NOT NULL,
    "ref_id" UUID NOT NULL,
    "patient" UUID,
    "facility" UUID,
    "provider" UUID,
    "title" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "cleared_by" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "notification_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "notification_organization_created_at_idx" ON "notification"("organization", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "notification_organization_type_ref_id_key" ON "notification"("organization", "type", "ref_id");
