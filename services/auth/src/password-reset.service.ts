import { randomUUID } from 'node:crypto';
import { userPasswordChangedV1 } from '@pep/contracts';
import { HttpProblem, type Logger } from '@pep/service-kit';
import type { AuthWork } from './events.js';
import type { PrismaClient } from './generated/prisma/client.js';
import { mailFailure, type Mailer } from '@pep/service-kit';
import type { BackgroundMail } from './mailer.js';
import { hashPassword } from './passwords.js';
import { RULES, type RateLimiter } from './rate-limiter.js';
import { recordRevocation } from './revocation.repository.js';
import { hashToken, newOpaqueToken } from './session.service.js';
import { consumeResetToken, revokeUserTokens } from './token.repository.js';
import { findDefaultMembership, findUserByEmail, type Db } from './user.repository.js';

const RESET_TOKEN_TTL_MS = 60 * 60 * 1000;
// People added by an admin may not read their mail within the hour a reset link lives.
const WELCOME_TOKEN_TTL_MS = 7 * 86_400_000;

/** Why a link is mailed: a new account's first password, or a reset an admin asked for. */
export type AccountLinkKind = 'welcome' | 'reset';

/** The same words whether or not the e-mail has an account, so the answer reveals nothing. */
export const FORGOT_PASSWORD_MESSAGE = 'If this e-mail belongs to an account, a link to reset the password has been sent to it.';

const invalidResetToken = () => new HttpProblem(400, 'invalid-reset-token', 'The reset link is invalid, expired or already used.');

/** Forgotten passwords: single-use, one-hour reset links sent by e-mail. */
export class PasswordResetService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly limiter: RateLimiter,
    private readonly mailer: Mailer,
    /** Sends mail after the answer. */
    private readonly background: BackgroundMail,
    private readonly publicUrl: string,
    private readonly clock: () => Date,
    private readonly logger: Logger,
    private readonly work: AuthWork,
  ) {}

  /** Sends a reset link when the e-mail has an active account; answers the same either way. */
  async forgot(rawEmail: string, address: string): Promise<{ message: string }> {
    const email = rawEmail.toLowerCase();
    await this.limiter.hit(RULES.forgotPerAddress, address);
    await this.limiter.hit(RULES.forgotPerAccount, email);
    const user = await findUserByEmail(this.prisma, email);
    if (user && (await findDefaultMembership(this.prisma, user.id))) {
      const token = newOpaqueToken();
      const now = this.clock();
      await this.prisma.passwordResetToken.create({
        data: {
          id: randomUUID(),
          tokenHash: hashToken(token),
          userId: user.id,
          createdAt: now,
          expiresAt: new Date(now.getTime() + RESET_TOKEN_TTL_MS),
        },
      });
      // Sent after answering, so the response time does not tell whether a mail went out.
      this.background.track(this.sendLink(email, token, user.id));
    }
    return { message: FORGOT_PASSWORD_MESSAGE };
  }

  /** Whether a reset link can still be used; 400 otherwise. */
  async check(token: string): Promise<{ valid: true; expiresAt: string }> {
    const row = await this.prisma.passwordResetToken.findUnique({ where: { tokenHash: hashToken(token) } });
    if (!row || row.usedAt || row.expiresAt <= this.clock()) throw invalidResetToken();
    return { valid: true, expiresAt: row.expiresAt.toISOString() };
  }

  /** Sets a new password with a reset link (once), and signs the user out everywhere. */
  async reset(token: string, password: string, address: string, correlationId: string): Promise<{ message: string }> {
    await this.limiter.hit(RULES.resetPerAddress, address);
    // Checked before hashing so invalid links cost no hashing work.
    await this.check(token);
    const passwordHash = await hashPassword(password);
    const now = this.clock();
    const userId = await this.work.run({ correlationId }, async (tx, emit) => {
      const owner = await consumeResetToken(tx, hashToken(token), now);
      if (!owner) return null;
      // Following the mailed link proved the mailbox is theirs.
      await tx.user.update({ where: { id: owner }, data: { passwordHash, emailVerifiedAt: now } });
      await tx.passwordResetToken.updateMany({ where: { userId: owner, usedAt: null }, data: { usedAt: now } });
      await revokeUserTokens(tx, owner, now);
      await recordRevocation(tx, { scope: 'subject', subject: owner, notBefore: now, reason: 'password-changed' });
      // The envelope needs an organization; the user's oldest one stands in, as the revocation covers them everywhere.
      const home = await tx.membership.findFirst({
        where: { userId: owner },
        orderBy: { createdAt: 'asc' },
        select: { organizationId: true },
      });
      if (home) emit(userPasswordChangedV1, { organization: home.organizationId, subject: owner, time: now, data: { _id: owner } });
      return owner;
    });
    if (!userId) throw invalidResetToken();
    const user = await this.prisma.user.findUnique({ where: { id: userId } });
    // The owner proved control of the mailbox; earlier failed guesses should not keep them locked out.
    if (user) await this.limiter.reset(RULES.loginPerAccount, user.email);
    return { message: 'The password has been changed.' };
  }

  /**
   * Stores a single-use link for the user (inside the caller's transaction) and answers its token and expiry; mail it
   * with {@link mailAccountLink} after the transaction commits.
   */
  async createAccountLink(db: Db, userId: string, kind: AccountLinkKind): Promise<{ token: string; expiresAt: Date }> {
    const token = newOpaqueToken();
    const now = this.clock();
    const expiresAt = new Date(now.getTime() + (kind === 'welcome' ? WELCOME_TOKEN_TTL_MS : RESET_TOKEN_TTL_MS));
    // The newest link is the one that works, so a resend leaves no older link alive.
    await db.passwordResetToken.updateMany({ where: { userId, usedAt: null }, data: { usedAt: now } });
    await db.passwordResetToken.create({ data: { id: randomUUID(), tokenHash: hashToken(token), userId, createdAt: now, expiresAt } });
    return { token, expiresAt };
  }

  /** Mails a link made by {@link createAccountLink} in the background; failures are logged without the address. */
  mailAccountLink(user: { id: string; email: string }, token: string, kind: AccountLinkKind, organizationName: string): void {
    const link = `${this.publicUrl.replace(/\/+$/, '')}/reset-password/${token}`;
    const mail =
      kind === 'welcome'
        ? {
            subject: `You have been added to ${organizationName}`,
            text: `An administrator of ${organizationName} created an account for you.\n\nTo choose your password, open this link within 7 days:\n${link}\n\nIf you did not expect this, ignore this e-mail.\n`,
          }
        : {
            subject: 'Reset your password',
            text: `An administrator of ${organizationName} asked to reset the password of your account.\n\nTo choose a new password, open this link within an hour:\n${link}\n\nIf you did not expect this, ignore this e-mail; your password stays as it is.\n`,
          };
    this.background.track(
      this.mailer.send({ to: user.email, ...mail }).catch((error: Error) => {
        this.logger.error({ err: mailFailure(error), user: user.id }, 'account link mail not sent');
      }),
    );
  }

  private async sendLink(email: string, token: string, userId: string): Promise<void> {
    const link = `${this.publicUrl.replace(/\/+$/, '')}/reset-password/${token}`;
    try {
      await this.mailer.send({
        to: email,
        subject: 'Reset your password',
        text: `Someone asked to reset the password of your account.\n\nTo choose a new password, open this link within an hour:\n${link}\n\nIf it was not you, ignore this e-mail; your password stays as it is.\n`,
      });
    } catch (error) {
      this.logger.error({ err: mailFailure(error), user: userId }, 'password reset mail not sent');
    }
  }
}
