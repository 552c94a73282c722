-- Messages a crashed send left pending are found by status and age, oldest first; a reminder claimed again after its
-- claim lapsed finds its earlier messages by the reminder.
CREATE INDEX "message_status_created_at_idx" ON "message"("status", "created_at");
CREATE INDEX "message_reminder_idx" ON "message"("reminder");
