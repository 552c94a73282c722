-- Follow-up rules (issue 14) and the reminders they plan, one per rule and appointment.
CREATE TABLE "followup_rule" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "group_name" TEXT NOT NULL,
    "trigger" TEXT NOT NULL,
    "delay_days" INTEGER NOT NULL,
    "delay_hours" INTEGER NOT NULL,
    "send_time" TEXT,
    "facilities" UUID[],
    "providers" UUID[],
    "types" UUID[],
    "action" TEXT NOT NULL,
    "text" TEXT,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "deleted" BOOLEAN NOT NULL DEFAULT false,
    "created_by" TEXT NOT NULL,
    "updated_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "followup_rule_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "followup_rule_trigger_check" CHECK ("trigger" IN ('no-show', 'completed', 'cancelled')),
    CONSTRAINT "followup_rule_action_check" CHECK ("action" IN ('text', 'feedback'))
);

CREATE INDEX "followup_rule_organization_trigger_idx" ON "followup_rule"("organization", "trigger");

ALTER TABLE "reminder" ADD COLUMN "followup_rule" UUID;

CREATE UNIQUE INDEX "reminder_followup_rule_appointment_key" ON "reminder"("followup_rule", "appointment");
