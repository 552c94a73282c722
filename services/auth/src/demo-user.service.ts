import { randomUUID } from 'node:crypto';
import { demoSamples, demoUserMessageRequestedV1, organizationCreatedV1, userCreatedV1 } from '@pep/contracts';
import { HttpProblem, notFound } from '@pep/service-kit';
import type { z } from 'zod';
import { NO_PRACTICE, sizeOf, type DemoPractice, type DemoPracticeSeeder } from './demo-practice.seeder.js';
import type { CreateDemoUserBody, DemoUserResponse, demoMessageResponse } from './demo-user.schemas.js';
import type { AuthWork } from './events.js';
import type { Prisma, PrismaClient } from './generated/prisma/client.js';
import type { PasswordResetService } from './password-reset.service.js';
import { RULES, type RateLimiter } from './rate-limiter.js';
import type { SessionService } from './session.service.js';
import { findMember, findUserByEmail, type Member } from './user.repository.js';
import { isUniqueViolation } from './user.service.js';
import { NO_PASSWORD, toUserResponse, userSnapshot } from './views.js';

const emailTaken = () => new HttpProblem(409, 'email-taken', 'An account with this e-mail already exists.');
const salesforceIdTaken = () => new HttpProblem(409, 'salesforce-id-taken', 'A demo user with this salesforceId already exists.');
const unknownSample = (name: string) =>
  new HttpProblem(404, 'not-found', `There is no sample message named ${name}; the samples are ${demoSamples.join(', ')}.`);

function practiceOf(member: Member): DemoPractice | null {
  return (member.user.demoPractice as unknown as DemoPractice | null) ?? null;
}

function toDemoUserResponse(member: Member): DemoUserResponse {
  const practice = practiceOf(member);
  return {
    ...toUserResponse(member),
    salesforceId: member.user.salesforceId ?? '',
    demoConfiguration: (member.user.demoConfig as Record<string, unknown> | null) ?? null,
    demoPractice: practice
      ? {
          facilities: practice.facilities,
          providers: practice.providers,
          appointmentTypes: practice.appointmentTypes,
          patients: practice.patients,
          demoPatient: practice.demoPatient,
          waitlists: practice.waitlists,
          appointments: practice.appointments,
          completedAt: practice.completedAt,
        }
      : null,
  };
}

/** What a sample request answers. */
export type DemoMessageResponse = z.infer<typeof demoMessageResponse>;

/** Demo users: trial organizations sales creates for prospects, their seeded demo practices, and sample messages. */
export class DemoUserService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly resets: PasswordResetService,
    private readonly sessions: SessionService,
    private readonly limiter: RateLimiter,
    private readonly seeder: DemoPracticeSeeder,
    private readonly work: AuthWork,
  ) {}

  /**
   * Creates a demo organization with the prospect as its admin, pending until they choose a password from the mailed
   * link (valid 7 days), and seeds its demo practice; organization.created (demo) and user.created. The same e-mail and
   * salesforceId sent again answer the account, resuming the seeding if it had stopped, instead of 409.
   */
  async create(body: CreateDemoUserBody, correlationId: string): Promise<DemoUserResponse> {
    const size = sizeOf(body.demoConfiguration);
    const email = body.email.toLowerCase();
    const resumed = await this.unfinished(email, body.salesforceId);
    if (resumed) return this.seed(resumed, size);
    if (await findUserByEmail(this.prisma, email)) throw emailTaken();
    if (await this.prisma.user.findUnique({ where: { salesforceId: body.salesforceId }, select: { id: true } })) throw salesforceIdTaken();
    const organizationId = randomUUID();
    const userId = randomUUID();
    const name = body.organizationName ?? `${body.firstname} ${body.lastname} (demo)`;
    try {
      const { member, link } = await this.work.run({ correlationId }, async (tx, emit) => {
        const organization = await tx.organization.create({ data: { id: organizationId, name, demo: true } });
        await tx.user.create({
          data: {
            id: userId,
            email,
            passwordHash: NO_PASSWORD,
            firstname: body.firstname,
            lastname: body.lastname,
            salesforceId: body.salesforceId,
            ...(body.demoConfiguration ? { demoConfig: body.demoConfiguration as Prisma.InputJsonObject } : {}),
          },
        });
        await tx.membership.create({ data: { id: randomUUID(), organizationId, userId, roles: ['admin'] } });
        const created = (await findMember(tx, organizationId, userId))!;
        const link = await this.resets.createAccountLink(tx, userId, 'welcome');
        emit(organizationCreatedV1, {
          organization: organizationId,
          subject: organizationId,
          data: { _id: organizationId, name: organization.name, active: organization.active, demo: true },
        });
        emit(userCreatedV1, { organization: organizationId, subject: userId, data: userSnapshot(created) });
        return { member: created, link };
      });
      this.resets.mailAccountLink(member.user, link.token, 'welcome', name);
      return await this.seed(member, size);
    } catch (error) {
      if (isUniqueViolation(error)) {
        const taken = await findUserByEmail(this.prisma, email);
        throw taken ? emailTaken() : salesforceIdTaken();
      }
      throw error;
    }
  }

  /**
   * The demo member with this e-mail and salesforceId, if any: the same request sent again (after a 503, or a timeout
   * while the practice was being seeded) finishes or answers it rather than answering 409.
   */
  private async unfinished(email: string, salesforceId: string): Promise<Member | null> {
    const user = await this.prisma.user.findUnique({ where: { salesforceId }, select: { id: true, email: true } });
    if (!user || user.email !== email || !this.seeder.enabled) return null;
    const membership = await this.demoMembership(user.id);
    return membership ? findMember(this.prisma, membership.organizationId, user.id) : null;
  }

  /** Seeds (or finishes seeding) the member's demo practice with their own token; a failure answers 503 and keeps what was made. */
  private async seed(member: Member, size: ReturnType<typeof sizeOf>): Promise<DemoUserResponse> {
    if (!this.seeder.enabled || practiceOf(member)?.completedAt) return toDemoUserResponse(member);
    const { token } = await this.sessions.issueAccessToken({
      user: member.userId,
      organization: member.organizationId,
      roles: ['admin'],
      kind: 'staff',
    });
    const save = async (practice: DemoPractice) => {
      await this.prisma.user.update({
        where: { id: member.userId },
        data: { demoPractice: practice as unknown as Prisma.InputJsonObject },
      });
    };
    try {
      const practice = await this.seeder.seed(
        { token, firstname: member.user.firstname, lastname: member.user.lastname },
        size,
        practiceOf(member) ?? NO_PRACTICE,
        save,
      );
      return toDemoUserResponse({ ...member, user: { ...member.user, demoPractice: practice as unknown as Prisma.JsonValue } });
    } catch (error) {
      if (error instanceof HttpProblem) throw error;
      throw new HttpProblem(
        503,
        'demo-practice-incomplete',
        'The demo user exists but its practice is not fully seeded; send the same request again to finish it.',
        {
          retryAfter: 5,
        },
      );
    }
  }

  private demoMembership(userId: string) {
    return this.prisma.membership.findFirst({
      where: { userId, organization: { demo: true, deletedAt: null } },
      orderBy: { createdAt: 'asc' },
      select: { organizationId: true },
    });
  }

  /**
   * Asks messaging, through demo-user.message-requested, to send a sample to the demo account's demo patient (never
   * anyone else: the address is the demo patient's, set from demoConfiguration.phone when the practice was seeded).
   * Counted against the account's hourly allowance (429 beyond it). `requestedBy` is the operator, or `demo-link` for a
   * signed link.
   */
  async requestMessage(
    requestedBy: string,
    salesforceId: string,
    sample: string,
    variant: string | undefined,
    correlationId: string,
  ): Promise<DemoMessageResponse> {
    const user = await this.prisma.user.findUnique({ where: { salesforceId } });
    const membership = user ? await this.demoMembership(user.id) : null;
    if (!user || !membership) throw notFound('demo user');
    if (!(demoSamples as readonly string[]).includes(sample)) throw unknownSample(sample);
    const practice = user.demoPractice as unknown as DemoPractice | null;
    if (!practice?.demoPatient || !practice.demoPhone) {
      throw new HttpProblem(
        409,
        'no-demo-patient',
        'This demo account has no demo patient with a phone; create demo users with demoConfiguration.phone.',
        {
          errors: [{ field: 'demoConfiguration.phone', message: 'the salesperson’s mobile, set when the demo user is created' }],
        },
      );
    }
    await this.limiter.hit(RULES.demoMessagePerAccount, user.id);
    const { demoPatient, demoPhone } = practice;
    const event = await this.work.run({ correlationId }, async (_tx, emit) =>
      emit(demoUserMessageRequestedV1, {
        organization: membership.organizationId,
        subject: user.id,
        data: {
          _id: user.id,
          salesforceId,
          messageTemplate: sample,
          channel: 'sms',
          to: demoPhone,
          patient: demoPatient,
          ...(variant ? { variant } : {}),
          requestedBy,
          firstname: user.firstname,
          lastname: user.lastname,
        },
      }),
    );
    return {
      _id: event.id,
      user: user.id,
      organization: membership.organizationId,
      salesforceId,
      messageTemplate: sample,
      channel: 'sms',
      patient: practice.demoPatient,
      type: variant ?? null,
      status: 'requested',
      requestedAt: event.time,
    };
  }
}
