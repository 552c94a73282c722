-- AlterTable
ALTER TABLE "integrator_client" ADD COLUMN     "rate_limit_per_minute" INTEGER;
