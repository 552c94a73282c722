-- CreateTable
CREATE TABLE "organization_access" (
    "organization" UUID NOT NULL,
    "active" BOOLEAN NOT NULL,
    "deleted_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "organization_access_pkey" PRIMARY KEY ("organization")
);
