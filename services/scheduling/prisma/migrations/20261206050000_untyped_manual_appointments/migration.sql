-- AlterEnum
ALTER TYPE "appointment_source" ADD VALUE 'manual';

-- AlterTable
ALTER TABLE "appointment" ALTER COLUMN "type" DROP NOT NULL;

-- AlterTable
ALTER TABLE "organization_setting" ADD COLUMN     "appointment_duration_minutes" INTEGER;
