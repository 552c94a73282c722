-- AlterTable
ALTER TABLE "user" ADD COLUMN     "demo_practice" JSONB;
