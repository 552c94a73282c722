-- CreateTable
CREATE TABLE "scheduling_record" (
    "id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "organization" UUID NOT NULL,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "scheduling_record_pkey" PRIMARY KEY ("id")
);
