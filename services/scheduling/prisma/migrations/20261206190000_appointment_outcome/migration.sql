-- What became of an appointment once it started (staff record it): text spelled as the API spells it, held by a check.
ALTER TABLE "appointment" ADD COLUMN "outcome" TEXT;
ALTER TABLE "appointment" ADD COLUMN "outcome_at" TIMESTAMPTZ(3);
ALTER TABLE "appointment" ADD CONSTRAINT "appointment_outcome_check" CHECK ("outcome" IN ('no-show', 'completed'));
