-- CreateTable
CREATE TABLE "setting" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "ref" TEXT NOT NULL,
    "ref_id" TEXT NOT NULL,
    "settings" JSONB NOT NULL,
    "unsubscribed" TEXT[],
    "unsubscribed_all" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "setting_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "setting_organization_ref_ref_id_key" ON "setting"("organization", "ref", "ref_id");

-- AddForeignKey
ALTER TABLE "setting" ADD CONSTRAINT "setting_organization_fkey" FOREIGN KEY ("organization") REFERENCES "organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
