-- CreateTable
CREATE TABLE "access_revocation" (
    "id" UUID NOT NULL,
    "scope" TEXT NOT NULL,
    "subject" TEXT,
    "organization" UUID,
    "not_before" TIMESTAMPTZ(3) NOT NULL,
    "reason" TEXT NOT NULL,

    CONSTRAINT "access_revocation_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "access_revocation_not_before_idx" ON "access_revocation"("not_before");
