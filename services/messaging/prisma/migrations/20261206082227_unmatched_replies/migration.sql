-- Replies from numbers no patient has yet, and the STOP/START such a number sent (ADR 0029).
-- CreateTable
CREATE TABLE "unmatched_reply" (
    "id" UUID NOT NULL,
    "external_id" TEXT NOT NULL,
    "from" TEXT NOT NULL,
    "to" TEXT NOT NULL,
    "text" TEXT NOT NULL,
    "classification" "message_classification" NOT NULL,
    "intent" TEXT NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "unmatched_reply_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "number_consent" (
    "phone" TEXT NOT NULL,
    "opted_out" BOOLEAN NOT NULL,
    "keyword" TEXT NOT NULL,
    "changed_at" TIMESTAMPTZ(3) NOT NULL,
    "applied_to" UUID[],

    CONSTRAINT "number_consent_pkey" PRIMARY KEY ("phone")
);

-- CreateIndex
CREATE UNIQUE INDEX "unmatched_reply_external_id_key" ON "unmatched_reply"("external_id");

-- CreateIndex
CREATE INDEX "unmatched_reply_from_received_at_idx" ON "unmatched_reply"("from", "received_at");
