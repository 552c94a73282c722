-- AlterTable
ALTER TABLE "patient" ADD COLUMN     "tags" TEXT[] DEFAULT ARRAY[]::TEXT[];
