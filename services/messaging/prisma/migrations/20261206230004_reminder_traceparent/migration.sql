-- AlterTable
ALTER TABLE "reminder" ADD COLUMN     "traceparent" TEXT;
