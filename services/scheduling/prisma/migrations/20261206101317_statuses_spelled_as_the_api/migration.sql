-- Written by hand. The statuses and sources whose API spelling has a hyphen were Postgres enums that Prisma could only
-- name with an underscore, so raw SQL wrote 'in-progress' and Prisma 'in_progress', with a translation between them.
-- They are text now, spelled once as the API spells them (the lists in @pep/contracts), each held by a check.

-- The open-slot index's predicate compares the status; it is built again on the text column.
DROP INDEX "availability_open";

ALTER TABLE "availability" ALTER COLUMN "status" DROP DEFAULT;
ALTER TABLE "availability" ALTER COLUMN "status" TYPE TEXT USING "status"::text;
ALTER TABLE "availability" ALTER COLUMN "status" SET DEFAULT 'available';
ALTER TABLE "availability" ADD CONSTRAINT "availability_status_check"
  CHECK ("status" IN ('available', 'booked-pending', 'offered', 'booked', 'booked-by-integrator', 'booked-by-offer', 'expired'));
DROP TYPE "availability_status";

CREATE INDEX "availability_open" ON "availability"("organization", "date", "id") WHERE "status" = 'available' AND NOT "locked" AND NOT "deleted";

ALTER TABLE "waitlist" ALTER COLUMN "status" DROP DEFAULT;
ALTER TABLE "waitlist" ALTER COLUMN "status" TYPE TEXT USING "status"::text;
ALTER TABLE "waitlist" ALTER COLUMN "status" SET DEFAULT 'waiting';
ALTER TABLE "waitlist" ADD CONSTRAINT "waitlist_status_check"
  CHECK ("status" IN ('waiting', 'in-flight', 'offered', 'confirming', 'accepted', 'pending', 'declined'));
DROP TYPE "waitlist_status";

ALTER TABLE "offer" ALTER COLUMN "status" DROP DEFAULT;
ALTER TABLE "offer" ALTER COLUMN "status" TYPE TEXT USING "status"::text;
ALTER TABLE "offer" ALTER COLUMN "status" SET DEFAULT 'in-progress';
ALTER TABLE "offer" ADD CONSTRAINT "offer_status_check" CHECK ("status" IN ('in-progress', 'patient-found', 'patient-not-found', 'cancelled'));
DROP TYPE "offer_status";

ALTER TABLE "offer" ALTER COLUMN "source" TYPE TEXT USING "source"::text;
ALTER TABLE "offer" ADD CONSTRAINT "offer_source_check"
  CHECK ("source" IN ('cancellation', 'manual', 'find-open-spots', 'self-scheduling', 'reschedule', 'staff-scheduling', 'reschedule-from-intent'));
DROP TYPE "offer_source";
