-- AlterTable
ALTER TABLE "organization" ADD COLUMN     "demo" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "user" ADD COLUMN     "demo_configuration" JSONB,
ADD COLUMN     "salesforce_id" TEXT;

-- AlterTable
ALTER TABLE "organization_membership" ADD COLUMN     "avatar" UUID;

-- CreateTable
CREATE TABLE "avatar" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "user" UUID NOT NULL,
    "content_type" TEXT NOT NULL,
    "size" INTEGER NOT NULL,
    "data" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "avatar_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "widget" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "allowed_origins" TEXT[],
    "active" BOOLEAN NOT NULL DEFAULT true,
    "last_login" TIMESTAMPTZ(3),
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "widget_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "patient_account" (
    "patient" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "email" TEXT,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "last_login" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "patient_account_pkey" PRIMARY KEY ("patient")
);

-- CreateTable
CREATE TABLE "patient_login_code" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "code_hash" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),

    CONSTRAINT "patient_login_code_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "avatar_organization_user_key" ON "avatar"("organization", "user");

-- CreateIndex
CREATE UNIQUE INDEX "widget_key_key" ON "widget"("key");

-- CreateIndex
CREATE INDEX "widget_organization_idx" ON "widget"("organization");

-- CreateIndex
CREATE INDEX "patient_account_organization_email_idx" ON "patient_account"("organization", "email");

-- CreateIndex
CREATE INDEX "patient_login_code_organization_email_idx" ON "patient_login_code"("organization", "email");

-- CreateIndex
CREATE UNIQUE INDEX "user_salesforce_id_key" ON "user"("salesforce_id");

-- AddForeignKey
ALTER TABLE "widget" ADD CONSTRAINT "widget_organization_fkey" FOREIGN KEY ("organization") REFERENCES "organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
