import { randomUUID } from 'node:crypto';
import type { AccessRevocation, RevocationScope } from '@pep/contracts';
import type { Db } from './user.repository.js';

/** Why access tokens were revoked (kept for operators; the gateway only needs scope and instant). */
export type RevocationReason =
  | 'user-decommissioned'
  | 'user-transferred'
  | 'organization-deleted'
  | 'organization-suspended'
  | 'client-deleted'
  | 'client-deactivated'
  | 'widget-deactivated'
  | 'password-changed'
  | 'sessions-revoked';

/** Records, inside the caller's transaction, that tokens in a scope issued before `notBefore` are no longer valid. */
export async function recordRevocation(
  db: Db,
  revocation: { scope: RevocationScope; subject?: string; organization?: string; notBefore: Date; reason: RevocationReason },
): Promise<void> {
  await db.accessRevocation.create({
    data: {
      id: randomUUID(),
      scope: revocation.scope,
      subject: revocation.subject ?? null,
      organization: revocation.organization ?? null,
      notBefore: revocation.notBefore,
      reason: revocation.reason,
    },
  });
}

/** Revocations younger than `since`: the only ones that can still cover an unexpired token. */
export async function recentRevocations(db: Db, since: Date): Promise<AccessRevocation[]> {
  const rows = await db.accessRevocation.findMany({ where: { notBefore: { gt: since } }, orderBy: { notBefore: 'asc' } });
  return rows.map((row) => ({
    scope: row.scope as RevocationScope,
    ...(row.subject ? { subject: row.subject } : {}),
    ...(row.organization ? { organization: row.organization } : {}),
    notBefore: row.notBefore.toISOString(),
  }));
}

/**
 * Whether a token was revoked after it was issued: a revocation of its subject, its membership or its organization at or
 * after its issue instant (`iat_ms`, or the end of its `iat` second for tokens without it).
 */
export async function isTokenRevoked(
  db: Db,
  token: { sub: string; org: string; iat: number; iat_ms?: number | undefined },
): Promise<boolean> {
  const issuedAt = new Date(token.iat_ms ?? token.iat * 1000 + 999);
  const found = await db.accessRevocation.findFirst({
    where: {
      notBefore: { gte: issuedAt },
      OR: [
        { scope: 'subject', subject: token.sub },
        { scope: 'member', subject: token.sub, organization: token.org },
        { scope: 'organization', organization: token.org },
      ],
    },
    select: { id: true },
  });
  return found !== null;
}
