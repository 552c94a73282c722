-- AlterTable
ALTER TABLE "organization_setting" ADD COLUMN     "send_quota" JSONB;
