-- CreateTable
CREATE TABLE "booking_link" (
    "organization" UUID NOT NULL,
    "ref" UUID NOT NULL,
    "url" TEXT,
    "changed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "booking_link_pkey" PRIMARY KEY ("organization","ref")
);
