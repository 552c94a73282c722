-- AlterTable
ALTER TABLE "appointment" ADD COLUMN     "type" UUID;
