-- AlterTable
ALTER TABLE "user" ADD COLUMN     "email_verified_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "user_group" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL DEFAULT 'user',
    "facilities" TEXT[],
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "user_group_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "group_member" (
    "group" UUID NOT NULL,
    "user" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "group_member_pkey" PRIMARY KEY ("group","user")
);

-- CreateTable
CREATE TABLE "group_invite" (
    "id" UUID NOT NULL,
    "organization" UUID NOT NULL,
    "group" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "roles" TEXT[],
    "token_hash" TEXT NOT NULL,
    "invited_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "accepted_at" TIMESTAMPTZ(3),
    "accepted_by" UUID,

    CONSTRAINT "group_invite_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "user_group_organization_idx" ON "user_group"("organization");

-- CreateIndex
CREATE INDEX "group_member_user_idx" ON "group_member"("user");

-- CreateIndex
CREATE UNIQUE INDEX "group_invite_token_hash_key" ON "group_invite"("token_hash");

-- CreateIndex
CREATE INDEX "group_invite_organization_idx" ON "group_invite"("organization");

-- CreateIndex
CREATE INDEX "group_invite_group_idx" ON "group_invite"("group");

-- CreateIndex
CREATE INDEX "group_invite_email_idx" ON "group_invite"("email");

-- AddForeignKey
ALTER TABLE "user_group" ADD CONSTRAINT "user_group_organization_fkey" FOREIGN KEY ("organization") REFERENCES "organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "group_member" ADD CONSTRAINT "group_member_group_fkey" FOREIGN KEY ("group") REFERENCES "user_group"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "group_member" ADD CONSTRAINT "group_member_user_fkey" FOREIGN KEY ("user") REFERENCES "user"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "group_invite" ADD CONSTRAINT "group_invite_group_fkey" FOREIGN KEY ("group") REFERENCES "user_group"("id") ON DELETE CASCADE ON UPDATE CASCADE;
