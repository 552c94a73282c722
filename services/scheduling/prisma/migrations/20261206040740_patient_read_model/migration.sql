-- CreateTable
CREATE TABLE "patient" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "merged_into" UUID,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "patient_pkey" PRIMARY KEY ("id")
);
