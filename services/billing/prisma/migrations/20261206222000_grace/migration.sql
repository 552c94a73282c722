-- Access follows payment: an organization's billing standing, its grace period and the reminders mailed during it.
ALTER TABLE "billing_account" ADD COLUMN "standing" TEXT NOT NULL DEFAULT 'good-standing',
ADD COLUMN "standing_charge_at" TIMESTAMPTZ(3),
ADD COLUMN "grace_started_at" TIMESTAMPTZ(3),
ADD COLUMN "grace_ends_at" TIMESTAMPTZ(3),
ADD COLUMN "suspended_at" TIMESTAMPTZ(3),
ADD COLUMN "grace_notice_sent_at" TIMESTAMPTZ(3),
ADD COLUMN "grace_reminder_sent_at" TIMESTAMPTZ(3);

CREATE INDEX "billing_account_standing_grace_ends_at_idx" ON "billing_account"("standing", "grace_ends_at");
