-- An organization suspended for an unpaid bill (billing's access-changed events): read-only, nothing revoked or deleted.
ALTER TABLE "organization" ADD COLUMN "billing_suspended_at" TIMESTAMPTZ(3),
ADD COLUMN "billing_standing_at" TIMESTAMPTZ(3);
