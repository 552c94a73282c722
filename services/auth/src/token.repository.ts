import type { Db } from './user.repository.js';

/** A refresh token row as the rotation query returns it. */
export interface RefreshTokenRow {
  id: string;
  family_id: string;
  user: string;
  organization: string;
  used_at: Date | null;
  revoked_at: Date | null;
}

/** Stores a new refresh token (its hash only). */
export async function insertRefreshToken(
  db: Db,
  row: {
    id: string;
    tokenHash: string;
    familyId: string;
    parentId: string | null;
    userId: string;
    organizationId: string;
    createdAt: Date;
    expiresAt: Date;
  },
): Promise<void> {
  await db.refreshToken.create({ data: row });
}

/**
 * Marks a live refresh token used and returns it; null when it is unknown, expired, already used or revoked.
 * One statement, so two concurrent rotations of the same token cannot both succeed.
 */
export async function consumeRefreshToken(db: Db, tokenHash: string, now: Date): Promise<RefreshTokenRow | null> {
  const rows = await db.$queryRawUnsafe<RefreshTokenRow[]>(
    `UPDATE "refresh_token" SET "used_at" = $2::timestamptz
     WHERE "token_hash" = $1 AND "used_at" IS NULL AND "revoked_at" IS NULL AND "expires_at" > $2::timestamptz
     RETURNING "id"::text, "family_id"::text, "user"::text, "organization"::text, "used_at", "revoked_at"`,
    tokenHash,
    now,
  );
  return rows[0] ?? null;
}

/** A refresh token by hash, whatever its state. */
export async function findRefreshToken(db: Db, tokenHash: string): Promise<RefreshTokenRow | null> {
  const rows = await db.$queryRawUnsafe<RefreshTokenRow[]>(
    'SELECT "id"::text, "family_id"::text, "user"::text, "organization"::text, "used_at", "revoked_at" FROM "refresh_token" WHERE "token_hash" = $1',
    tokenHash,
  );
  return rows[0] ?? null;
}

/** Revokes every live token of a rotation family. */
export function revokeFamily(db: Db, familyId: string, now: Date): Promise<number> {
  return db.refreshToken.updateMany({ where: { familyId, revokedAt: null }, data: { revokedAt: now } }).then((r) => r.count);
}

/** Revokes every live refresh token of a user, or only those for one organization. */
export function revokeUserTokens(db: Db, userId: string, now: Date, organizationId?: string): Promise<number> {
  return db.refreshToken
    .updateMany({ where: { userId, revokedAt: null, ...(organizationId ? { organizationId } : {}) }, data: { revokedAt: now } })
    .then((r) => r.count);
}

/** Marks a live reset token used and returns its user; null when unknown, expired or used. */
export async function consumeResetToken(db: Db, tokenHash: string, now: Date): Promise<string | null> {
  const rows = await db.$queryRawUnsafe<{ user: string }[]>(
    `UPDATE "password_reset_token" SET "used_at" = $2::timestamptz
     WHERE "token_hash" = $1 AND "used_at" IS NULL AND "expires_at" > $2::timestamptz
     RETURNING "user"::text`,
    tokenHash,
    now,
  );
  return rows[0]?.user ?? null;
}
