-- The dispatcher reads the earliest retry time of waiting reminders (ADR 0027) by this index, not by a pass over the table.
CREATE INDEX "reminder_status_retry_at_idx" ON "reminder"("status", "retry_at");
