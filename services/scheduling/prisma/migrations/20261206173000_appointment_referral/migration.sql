-- AlterTable
ALTER TABLE "appointment" ADD COLUMN "referral" UUID;
