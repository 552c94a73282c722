import { createHash, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import { HttpProblem, type Logger } from '@pep/service-kit';
import type { PrismaClient } from './generated/prisma/client.js';
import { mailFailure, type Mailer } from '@pep/service-kit';
import type { BackgroundMail } from './mailer.js';
import type { PatientLoginBody, PatientSessionResponse } from './patient-login.schemas.js';
import { RULES, type RateLimiter } from './rate-limiter.js';
import type { SessionService } from './session.service.js';

const CODE_TTL_SECONDS = 10 * 60;
const MAX_CODE_ATTEMPTS = 5;

/** The same words whether or not the e-mail belongs to a patient, so the answer reveals nothing. */
export const PATIENT_CODE_MESSAGE = 'If this e-mail belongs to a patient of the organization, a login code has been sent to it.';

const invalidCode = () => new HttpProblem(401, 'invalid-credentials', 'The e-mail or code is incorrect or expired.');

/** The hash a code is stored under; salted with its row id so equal codes never share a hash. */
function hashCode(id: string, code: string): string {
  return createHash('sha256').update(`${id}:${code}`).digest('hex');
}

/**
 * Patient logins by one-time code. Patients are records of the patients service; auth keeps only what a login needs
 * (see patient-account.handlers.ts) and mails a six-digit code to the e-mail on the record. Limits hold per account
 * (organization and e-mail) and per address. Nothing about the patient is logged.
 */
export class PatientLoginService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly sessions: SessionService,
    private readonly limiter: RateLimiter,
    private readonly mailer: Mailer,
    /** Sends mail after the answer. */
    private readonly background: BackgroundMail,
    private readonly clock: () => Date,
    private readonly logger: Logger,
  ) {}

  /** Mails a code (without `code`) or exchanges a code for a patient token (with it). */
  login(body: PatientLoginBody, address: string): Promise<{ message: string; expiresIn: number } | PatientSessionResponse> {
    const email = body.email.trim().toLowerCase();
    return body.code === undefined
      ? this.sendCode(body.organization, email, address)
      : this.verify(body.organization, email, body.code, body.patient, address);
  }

  private async sendCode(organization: string, email: string, address: string) {
    const account = `${organization}:${email}`;
    await this.limiter.hit(RULES.patientLoginPerAddress, address);
    await this.limiter.hit(RULES.patientCodePerAccount, account);
    const [patients, tenant] = await Promise.all([
      this.accounts(organization, email),
      this.prisma.organization.findUnique({ where: { id: organization } }),
    ]);
    if (patients.length > 0 && tenant?.active && !tenant.deletedAt) {
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
      const id = randomUUID();
      const now = this.clock();
      await this.prisma.$transaction(async (tx) => {
        // Only the newest code works, so an older mail left in an inbox is no use.
        await tx.patientLoginCode.updateMany({ where: { organizationId: organization, email, usedAt: null }, data: { usedAt: now } });
        await tx.patientLoginCode.create({
          data: {
            id,
            organizationId: organization,
            email,
            codeHash: hashCode(id, code),
            createdAt: now,
            expiresAt: new Date(now.getTime() + CODE_TTL_SECONDS * 1000),
          },
        });
      });
      // Sent after answering, so the response time does not tell whether the e-mail belongs to a patient.
      this.background.track(this.mail(email, code, tenant.name));
    }
    return { message: PATIENT_CODE_MESSAGE, expiresIn: CODE_TTL_SECONDS };
  }

  private async verify(
    organization: string,
    email: string,
    code: string,
    patient: string | undefined,
    address: string,
  ): Promise<PatientSessionResponse> {
    const account = `${organization}:${email}`;
    // Every try is counted before the code is compared (a success resets the account's count): counted after, tries
    // sent all at once would all pass the limits before any of them was counted.
    await this.limiter.hit(RULES.patientLoginPerAccount, account);
    await this.limiter.hit(RULES.patientLoginPerAddress, address);
    const now = this.clock();
    const row = await this.prisma.patientLoginCode.findFirst({
      where: { organizationId: organization, email, usedAt: null, expiresAt: { gt: now } },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    });
    if (!row) throw invalidCode();
    // The code's own try, taken in one statement, so however many requests race at most MAX_CODE_ATTEMPTS compare.
    const taken = await this.prisma.patientLoginCode.updateMany({
      where: { id: row.id, usedAt: null, attempts: { lt: MAX_CODE_ATTEMPTS } },
      data: { attempts: { increment: 1 } },
    });
    if (taken.count === 0) throw invalidCode();
    if (!sameHash(row.codeHash, hashCode(row.id, code))) {
      // A code guessed at too often dies, so the limit per code holds even across addresses.
      await this.prisma.patientLoginCode.updateMany({
        where: { id: row.id, usedAt: null, attempts: { gte: MAX_CODE_ATTEMPTS } },
        data: { usedAt: now },
      });
      throw invalidCode();
    }
    const patients = await this.accounts(organization, email);
    const tenant = await this.prisma.organization.findUnique({ where: { id: organization } });
    if (patients.length === 0 || !tenant?.active || tenant.deletedAt) throw invalidCode();
    const chosen = patient ?? (patients.length === 1 ? patients[0] : undefined);
    if (chosen === undefined) {
      // The caller proved control of the mailbox, so naming the records it reaches tells them nothing new; the code stays usable.
      throw new HttpProblem(409, 'choose-patient', 'Several patients share this e-mail; send the code again with `patient`.', { patients });
    }
    if (!patients.includes(chosen)) throw invalidCode();
    // One statement, so two requests racing with one code cannot both log in.
    const used = await this.prisma.patientLoginCode.updateMany({ where: { id: row.id, usedAt: null }, data: { usedAt: now } });
    if (used.count === 0) throw invalidCode();
    await this.limiter.reset(RULES.patientLoginPerAccount, account);
    await this.prisma.patientAccount.update({ where: { patientId: chosen }, data: { lastLogin: now } });
    const access = await this.sessions.issueAccessToken({ user: chosen, organization, roles: ['patient'], kind: 'patient' });
    return {
      token: access.token,
      expiresAt: new Date(now.getTime() + access.expiresIn * 1000).toISOString(),
      expiresIn: access.expiresIn,
      patient: chosen,
      organization,
    };
  }

  private async accounts(organization: string, email: string): Promise<string[]> {
    const rows = await this.prisma.patientAccount.findMany({
      where: { organizationId: organization, email, deleted: false },
      orderBy: { patientId: 'asc' },
      select: { patientId: true },
    });
    return rows.map((row) => row.patientId);
  }

  private async mail(email: string, code: string, organizationName: string): Promise<void> {
    try {
      await this.mailer.send({
        to: email,
        subject: `Your ${organizationName} login code`,
        text: `Your login code is ${code}. It works once, within ${CODE_TTL_SECONDS / 60} minutes.\n\nIf you did not ask for it, ignore this e-mail.\n`,
      });
    } catch (error) {
      this.logger.error({ err: mailFailure(error) }, 'patient login code mail not sent');
    }
  }
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}
