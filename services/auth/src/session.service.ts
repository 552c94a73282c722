import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { userSessionsRevokedV1 } from '@pep/contracts';
import { HttpProblem, notFound, type Identity } from '@pep/service-kit';
import { signAccessToken, verifyAccessToken, type AccessClaims, type TokenSubject } from './access-token.js';
import type { Membership, PrismaClient, User } from './generated/prisma/client.js';
import type { AuthWork } from './events.js';
import { verifyDummyPassword, verifyPassword } from './passwords.js';
import { RULES, type RateLimiter } from './rate-limiter.js';
import type { SigningKeyStore } from './signing-keys.js';
import { isTokenRevoked, recordRevocation } from './revocation.repository.js';
import { consumeRefreshToken, findRefreshToken, insertRefreshToken, revokeFamily, type RefreshTokenRow } from './token.repository.js';
import { findDefaultMembership, findMember, findUserByEmail, type Db } from './user.repository.js';
import type { LoginBody, ProviderSessionResponse, SessionResponse, TokenPair } from './user.schemas.js';
import { isPending, toUserResponse } from './views.js';

const REFRESH_TOKEN_TTL_MS = 30 * 86_400_000;

/** The answer to every failed login, whichever part was wrong. */
const invalidCredentials = () => new HttpProblem(401, 'invalid-credentials', 'The e-mail or password is incorrect.');
const invalidRefreshToken = () => new HttpProblem(401, 'invalid-token', 'The refresh token is invalid or expired.');

/** The sha256 under which opaque tokens are stored, so a database leak yields no usable token. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new opaque token: 32 random bytes, base64url. */
export function newOpaqueToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Sessions: logins, token pairs, refresh rotation with reuse detection, organization switches. */
export class SessionService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly keys: SigningKeyStore,
    private readonly limiter: RateLimiter,
    private readonly clock: () => Date,
    private readonly accessTokenTtlSeconds: number,
    private readonly work: AuthWork,
  ) {}

  /** Signs an access token alone (for clients that log in again rather than refresh), with the usual claims and lifetime. */
  async issueAccessToken(subject: TokenSubject): Promise<{ token: string; expiresIn: number }> {
    const access = await signAccessToken(await this.keys.current(), subject, this.accessTokenTtlSeconds, this.clock());
    return { token: access.token, expiresIn: this.accessTokenTtlSeconds };
  }

  /** Issues an access token and a refresh token (a new family unless continuing one) for a member. */
  async issue(
    db: Db,
    member: { userId: string; organizationId: string; roles: string[] },
    family?: { id: string; parent: string },
  ): Promise<TokenPair> {
    const now = this.clock();
    const key = await this.keys.current();
    const access = await signAccessToken(
      key,
      { user: member.userId, organization: member.organizationId, roles: member.roles, kind: 'staff' },
      this.accessTokenTtlSeconds,
      now,
    );
    const refreshToken = newOpaqueToken();
    await insertRefreshToken(db, {
      id: randomUUID(),
      tokenHash: hashToken(refreshToken),
      familyId: family?.id ?? randomUUID(),
      parentId: family?.parent ?? null,
      userId: member.userId,
      organizationId: member.organizationId,
      createdAt: now,
      expiresAt: new Date(now.getTime() + REFRESH_TOKEN_TTL_MS),
    });
    return { token: access.token, refreshToken, expiresAt: access.expiresAt.toISOString() };
  }

  /** Checks e-mail and password under per-account and per-address limits; every failure looks the same. */
  async login(body: LoginBody, address: string): Promise<SessionResponse> {
    const { user, membership } = await this.authenticate(body, address);
    const pair = await this.prisma.$transaction(async (tx) => {
      await tx.user.update({ where: { id: user.id }, data: { lastLogin: this.clock() } });
      return this.issue(tx, membership);
    });
    const member = await findMember(this.prisma, membership.organizationId, user.id);
    return { ...pair, user: toUserResponse(member!) };
  }

  /**
   * A provider (doctor) logs in: the same credential check, limits and failure answer as {@link login}, landing in
   * the oldest organization where the user is an active provider. The access token carries the provider role alone
   * and kind provider; there is no refresh token (a refresh would come back as a staff session), so providers log in again.
   */
  async loginProvider(body: LoginBody, address: string): Promise<ProviderSessionResponse> {
    const { user, membership } = await this.authenticate(body, address, 'provider');
    await this.prisma.user.update({ where: { id: user.id }, data: { lastLogin: this.clock() } });
    const access = await signAccessToken(
      await this.keys.current(),
      { user: user.id, organization: membership.organizationId, roles: ['provider'], kind: 'provider' },
      this.accessTokenTtlSeconds,
      this.clock(),
    );
    const member = await findMember(this.prisma, membership.organizationId, user.id);
    return {
      token: access.token,
      expiresAt: access.expiresAt.toISOString(),
      expiresIn: this.accessTokenTtlSeconds,
      user: toUserResponse(member!),
    };
  }

  /** The user and the membership a login lands in (holding `role`, when given), or the one 401 every failure gets. */
  private async authenticate(body: LoginBody, address: string, role?: string): Promise<{ user: User; membership: Membership }> {
    const email = body.email.trim().toLowerCase();
    await this.limiter.check(RULES.loginPerAccount, email);
    await this.limiter.check(RULES.loginPerAddress, address);
    const user = await findUserByEmail(this.prisma, email);
    // A user who has not set a password yet costs the same work as an unknown one, so timing tells nothing.
    const valid =
      user && !isPending(user) ? await verifyPassword(user.passwordHash, body.password) : await verifyDummyPassword(body.password);
    const membership = user && valid ? await findDefaultMembership(this.prisma, user.id, role) : null;
    if (!user || !membership) {
      await this.limiter.hit(RULES.loginPerAccount, email);
      await this.limiter.hit(RULES.loginPerAddress, address);
      throw invalidCredentials();
    }
    await this.limiter.reset(RULES.loginPerAccount, email);
    return { user, membership };
  }

  /**
   * Exchanges a refresh token for a new pair. The old token dies; presenting a token that was already
   * exchanged (or revoked) means it leaked, so its whole family is revoked.
   */
  async refresh(refreshToken: string, correlationId: string): Promise<SessionResponse> {
    const tokenHash = hashToken(refreshToken);
    const now = this.clock();
    const outcome = await this.prisma.$transaction(async (tx) => {
      const consumed = await consumeRefreshToken(tx, tokenHash, now);
      if (!consumed) return { kind: 'refused' as const };
      const member = await findMember(tx, consumed.organization, consumed.user);
      if (!member?.active) {
        await revokeFamily(tx, consumed.family_id, now);
        return { kind: 'refused' as const };
      }
      const pair = await this.issue(tx, member, { id: consumed.family_id, parent: consumed.id });
      return { kind: 'issued' as const, pair, member };
    });
    if (outcome.kind === 'issued') return { ...outcome.pair, user: toUserResponse(outcome.member) };

    const known = await findRefreshToken(this.prisma, tokenHash);
    if (known && (known.used_at || known.revoked_at)) await this.revokeLeakedFamily(known, now, correlationId);
    throw invalidRefreshToken();
  }

  /**
   * A refresh token came back after it was exchanged: it leaked. Its family dies and, because whoever holds it may also
   * hold access tokens from it, every access token of the user in that organization issued until now is revoked too.
   */
  private async revokeLeakedFamily(known: RefreshTokenRow, now: Date, correlationId: string): Promise<void> {
    await this.work.run({ correlationId }, async (tx, emit) => {
      const count = await revokeFamily(tx, known.family_id, now);
      if (count === 0) return;
      await recordRevocation(tx, {
        scope: 'member',
        subject: known.user,
        organization: known.organization,
        notBefore: now,
        reason: 'sessions-revoked',
      });
      emit(userSessionsRevokedV1, {
        organization: known.organization,
        subject: known.user,
        time: now,
        data: { _id: known.user, reason: 'refresh-token-reuse' },
      });
    });
  }

  /** A new pair for another organization the caller is an active member of; 404 when they are not. */
  async switchOrganization(identity: Identity, organization: string, organizationUser: string): Promise<SessionResponse> {
    const member = await findMember(this.prisma, organization, identity.user);
    const target = member ? await this.prisma.organization.findUnique({ where: { id: organization } }) : null;
    // `organizationUser` names the membership, by its own id or by the user's; deleted organizations are gone.
    if (!member?.active || !target || target.deletedAt || (member.id !== organizationUser && member.userId !== organizationUser))
      throw notFound('organization user');
    const pair = await this.issue(this.prisma, member);
    return { ...pair, user: toUserResponse(member) };
  }

  /** The claims of a valid access token, or 401; a revoked one is not valid. */
  async validate(token: string | null): Promise<AccessClaims> {
    const verified = token ? await verifyAccessToken(token, this.keys, this.clock()) : null;
    const claims = verified && !(await isTokenRevoked(this.prisma, verified)) ? verified : null;
    if (!claims) throw new HttpProblem(401, 'invalid-token', 'The access token is missing, invalid or expired.');
    return claims;
  }
}
