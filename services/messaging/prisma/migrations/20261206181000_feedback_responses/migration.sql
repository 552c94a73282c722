-- NPS surveys of appointments and their answers, and the review pages promoters are sent to.
CREATE TYPE "feedback_category" AS ENUM ('promoter', 'passive', 'detractor');

CREATE TYPE "feedback_channel" AS ENUM ('sms', 'web');

CREATE TABLE "feedback_response" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "patient" UUID NOT NULL,
    "appointment" UUID NOT NULL,
    "facility" UUID,
    "provider" UUID,
    "reminder" UUID NOT NULL,
    "sent_at" TIMESTAMPTZ(3),
    "score" INTEGER,
    "category" "feedback_category",
    "answered_at" TIMESTAMPTZ(3),
    "channel" "feedback_channel",
    "reply" UUID,
    "positive_comment" TEXT,
    "negative_comment" TEXT,
    "review_link" TEXT,
    "review_token" TEXT,
    "review_clicked_at" TIMESTAMPTZ(3),
    "follow_up_required" BOOLEAN NOT NULL DEFAULT false,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "feedback_response_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "feedback_response_reminder_key" ON "feedback_response"("reminder");

CREATE UNIQUE INDEX "feedback_response_review_token_key" ON "feedback_response"("review_token");

CREATE UNIQUE INDEX "feedback_response_organization_appointment_key" ON "feedback_response"("organization", "appointment");

CREATE INDEX "feedback_response_organization_answered_at_idx" ON "feedback_response"("organization", "answered_at");

CREATE TABLE "review_link" (
    "organization" UUID NOT NULL,
    "ref" UUID NOT NULL,
    "url" TEXT,
    "changed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "review_link_pkey" PRIMARY KEY ("organization","ref")
);
