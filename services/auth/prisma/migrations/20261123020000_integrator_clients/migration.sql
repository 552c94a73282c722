-- CreateTable
CREATE TABLE "integrator_client" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "client_id" TEXT NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "roles" TEXT[],
    "active" BOOLEAN NOT NULL DEFAULT true,
    "last_login" TIMESTAMPTZ(3),
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "integrator_client_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "integrator_client_client_id_key" ON "integrator_client"("client_id");

-- CreateIndex
CREATE INDEX "integrator_client_organization_idx" ON "integrator_client"("organization");

-- AddForeignKey
ALTER TABLE "integrator_client" ADD CONSTRAINT "integrator_client_organization_fkey" FOREIGN KEY ("organization") REFERENCES "organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
