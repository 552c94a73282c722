-- CreateTable
CREATE TABLE "patient_access" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "actor" TEXT NOT NULL,
    "roles" TEXT[],
    "route" TEXT NOT NULL,
    "patients" TEXT[],
    "request_id" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "patient_access_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "patient_access_organization_at_idx" ON "patient_access"("organization", "at");

-- CreateIndex
CREATE INDEX "patient_access_patients_idx" ON "patient_access" USING GIN ("patients");
