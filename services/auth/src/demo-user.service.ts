import { randomUUID } from 'node:crypto';
import { createEvent, demoUserMessageRequestedV1, organizationCreatedV1, userCreatedV1 } from '@pep/contracts';
import { HttpProblem, notFound, type Identity } from '@pep/service-kit';
import type { z } from 'zod';
import type { CreateDemoUserBody, DemoMessageBody, DemoUserResponse, demoMessageResponse } from './demo-user.schemas.js';
import { enqueue, SOURCE } from './events.js';
import type { Prisma, PrismaClient } from './generated/prisma/client.js';
import type { PasswordResetService } from './password-reset.service.js';
import { findMember, findUserByEmail, type Member } from './user.repository.js';
import { isUniqueViolation } from './user.service.js';
import { NO_PASSWORD, toUserResponse, userSnapshot } from './views.js';

const emailTaken = () => new HttpProblem(409, 'email-taken', 'An account with this e-mail already exists.');
const salesforceIdTaken = () => new HttpProblem(409, 'salesforce-id-taken', 'A demo user with this salesforceId already exists.');

function toDemoUserResponse(member: Member): DemoUserResponse {
  return {
    ...toUserResponse(member),
    salesforceId: member.user.salesforceId ?? '',
    demoConfiguration: (member.user.demoConfig as Record<string, unknown> | null) ?? null,
  };
}

/** Demo users: trial organizations sales creates for prospects, and sample messages sent to them. */
export class DemoUserService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly resets: PasswordResetService,
    private readonly eventsWritten: () => void,
  ) {}

  /**
   * Creates a demo organization with the prospect as its admin, pending until they choose a password from the mailed
   * link (valid 7 days); organization.created (demo) and user.created.
   */
  async create(body: CreateDemoUserBody, correlationId: string): Promise<DemoUserResponse> {
    const email = body.email.toLowerCase();
    if (await findUserByEmail(this.prisma, email)) throw emailTaken();
    if (await this.prisma.user.findUnique({ where: { salesforceId: body.salesforceId }, select: { id: true } })) throw salesforceIdTaken();
    const organizationId = randomUUID();
    const userId = randomUUID();
    const name = body.organizationName ?? `${body.firstname} ${body.lastname} (demo)`;
    try {
      const { member, link } = await this.prisma.$transaction(async (tx) => {
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
        await enqueue(tx, [
          createEvent(organizationCreatedV1, {
            source: SOURCE,
            organization: organizationId,
            subject: organizationId,
            correlationId,
            data: { _id: organizationId, name: organization.name, active: organization.active, demo: true },
          }),
          createEvent(userCreatedV1, { source: SOURCE, organization: organizationId, subject: userId, correlationId, data: userSnapshot(created) }),
        ]);
        return { member: created, link };
      });
      this.eventsWritten();
      this.resets.mailAccountLink(member.user, link.token, 'welcome', name);
      return toDemoUserResponse(member);
    } catch (error) {
      if (isUniqueViolation(error)) {
        const taken = await findUserByEmail(this.prisma, email);
        throw taken ? emailTaken() : salesforceIdTaken();
      }
      throw error;
    }
  }

  /**
   * Asks messaging, through demo-user.message-requested, to send the demo user a sample of a message template: by
   * e-mail to their address, or by SMS to the phone given. Auth does not know messaging's templates; messaging
   * renders the template for the demo organization and reports the outcome with its own events.
   */
  async requestMessage(identity: Identity, salesforceId: string, messageTemplate: string, body: DemoMessageBody, correlationId: string): Promise<z.infer<typeof demoMessageResponse>> {
    const user = await this.prisma.user.findUnique({
      where: { salesforceId },
      include: { memberships: { where: { organization: { demo: true, deletedAt: null } }, orderBy: { createdAt: 'asc' }, take: 1 } },
    });
    const membership = user?.memberships[0];
    if (!user || !membership) throw notFound('demo user');
    const channel = body.channel;
    const event = createEvent(demoUserMessageRequestedV1, {
      source: SOURCE,
      organization: membership.organizationId,
      subject: user.id,
      correlationId,
      data: { _id: user.id, salesforceId, messageTemplate, channel, to: channel === 'sms' ? body.phone! : user.email, requestedBy: identity.user, firstname: user.firstname, lastname: user.lastname },
    });
    await this.prisma.$transaction((tx) => enqueue(tx, [event]));
    this.eventsWritten();
    return {
      _id: event.id,
      user: user.id,
      organization: membership.organizationId,
      salesforceId,
      messageTemplate,
      channel,
      status: 'requested',
      requestedAt: event.time,
    };
  }
}
