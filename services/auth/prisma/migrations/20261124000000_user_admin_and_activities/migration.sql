-- AlterTable
ALTER TABLE "organization" ADD COLUMN     "deleted_at" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "user" ADD COLUMN     "unsubscribed" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "group_invite" ALTER COLUMN "group" DROP NOT NULL;

-- CreateTable
CREATE TABLE "activity" (
    "id" UUID NOT NULL,
    "organization" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "actor" TEXT,
    "source" TEXT NOT NULL,
    "time" TIMESTAMPTZ(3) NOT NULL,
    "summary" JSONB NOT NULL,
    "read" BOOLEAN NOT NULL DEFAULT false,
    "read_at" TIMESTAMPTZ(3),
    "read_by" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "activity_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "activity_organization_time_id_idx" ON "activity"("organization", "time" DESC, "id");

-- CreateIndex
CREATE INDEX "activity_organization_type_idx" ON "activity"("organization", "type");

-- CreateIndex
CREATE INDEX "activity_organization_subject_idx" ON "activity"("organization", "subject");

-- AddForeignKey
ALTER TABLE "group_invite" ADD CONSTRAINT "group_invite_organization_fkey" FOREIGN KEY ("organization") REFERENCES "organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
