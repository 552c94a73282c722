-- CreateTable
CREATE TABLE "send_count" (
    "organization" UUID NOT NULL,
    "scope" TEXT NOT NULL,
    "subject" UUID NOT NULL,
    "period" TEXT NOT NULL,
    "window_start" TIMESTAMPTZ(3) NOT NULL,
    "count" INTEGER NOT NULL,

    CONSTRAINT "send_count_pkey" PRIMARY KEY ("organization","scope","subject","period","window_start")
);

-- CreateIndex
CREATE INDEX "send_count_window_start_idx" ON "send_count"("window_start");
