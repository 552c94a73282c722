-- CreateEnum
CREATE TYPE "patient_gender" AS ENUM ('male', 'female', 'unknown', 'nonbinary');

-- AlterTable
ALTER TABLE "patient" ADD COLUMN     "middlename" TEXT,
ADD COLUMN     "normalized_name" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "contact" JSONB NOT NULL DEFAULT '[]',
ADD COLUMN     "gender" "patient_gender",
ADD COLUMN     "language" TEXT NOT NULL DEFAULT 'en',
ADD COLUMN     "address" TEXT,
ADD COLUMN     "city" TEXT,
ADD COLUMN     "state" TEXT,
ADD COLUMN     "country" TEXT,
ADD COLUMN     "postcode" TEXT,
ADD COLUMN     "external_id" TEXT,
ADD COLUMN     "source" TEXT NOT NULL DEFAULT 'ui',
ADD COLUMN     "do_not_contact_message" TEXT,
ADD COLUMN     "possible_duplicate_of" UUID[] DEFAULT ARRAY[]::UUID[],
ADD COLUMN     "merged_into" UUID,
ADD COLUMN     "merged_at" TIMESTAMPTZ(3),
ADD COLUMN     "verified_at" TIMESTAMPTZ(3),
ADD COLUMN     "verified_by" TEXT,
ADD COLUMN     "created_by" TEXT,
ADD COLUMN     "updated_by" TEXT,
ADD COLUMN     "deleted_at" TIMESTAMPTZ(3),
ADD COLUMN     "deleted_by" TEXT;

-- Rows written before this migration get the folded name and the contact list the service now keeps.
-- (Added by hand after generation; the service folds accents more thoroughly than translate() does.)
UPDATE "patient" SET
    "email" = lower("email"),
    "normalized_name" = trim(regexp_replace(translate(lower("firstname" || ' ' || "lastname"), 'àáâãäåçèéêëìíîïñòóôõöùúûüýÿøđłı', 'aaaaaaceeeeiiiinooooouuuuyyodli'), '[[:space:][:punct:]]+', ' ', 'g')),
    "contact" = (
        CASE WHEN "phone" IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_build_object('type', 'mobile', 'value', "phone")) END
        || CASE WHEN "email" IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_build_object('type', 'email', 'value', lower("email"))) END
    );

-- CreateTable
CREATE TABLE "patient_subscriber" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "patient" UUID NOT NULL,
    "user" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "patient_subscriber_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "recent_patient" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "user" TEXT NOT NULL,
    "patient" UUID NOT NULL,
    "viewed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "recent_patient_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "patient_subscriber_organization_user_idx" ON "patient_subscriber"("organization", "user");

-- CreateIndex
CREATE UNIQUE INDEX "patient_subscriber_patient_user_key" ON "patient_subscriber"("patient", "user");

-- CreateIndex
CREATE INDEX "recent_patient_organization_user_viewed_at_idx" ON "recent_patient"("organization", "user", "viewed_at");

-- CreateIndex
CREATE UNIQUE INDEX "recent_patient_organization_user_patient_key" ON "recent_patient"("organization", "user", "patient");

-- CreateIndex
CREATE INDEX "patient_organization_normalized_name_idx" ON "patient"("organization", "normalized_name");

-- CreateIndex
CREATE INDEX "patient_organization_phone_idx" ON "patient"("organization", "phone");

-- CreateIndex
CREATE INDEX "patient_organization_email_idx" ON "patient"("organization", "email");

-- CreateIndex
CREATE INDEX "patient_organization_date_of_birth_idx" ON "patient"("organization", "date_of_birth");

-- CreateIndex
CREATE INDEX "patient_organization_external_id_idx" ON "patient"("organization", "external_id");

-- AddForeignKey
ALTER TABLE "patient_subscriber" ADD CONSTRAINT "patient_subscriber_patient_fkey" FOREIGN KEY ("patient") REFERENCES "patient"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "recent_patient" ADD CONSTRAINT "recent_patient_patient_fkey" FOREIGN KEY ("patient") REFERENCES "patient"("id") ON DELETE CASCADE ON UPDATE CASCADE;
