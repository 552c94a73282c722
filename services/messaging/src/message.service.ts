import { dateBoundsWhere, HttpProblem, type Identity, notFound, pageOf, pageWindow } from '@pep/service-kit';
import type { Prisma, PrismaClient } from './generated/prisma/client.js';
import type { MessageListQuery, MessageResponse, SendMessageBody } from './message.schemas.js';
import { addressFor, type Outbound } from './outbound.js';
import { notArrivedYet, type References } from './references.js';
import { invalidFields, type Page } from './schemas.js';
import { toMessageResponse } from './views.js';

/** Messages: the conversation history, and staff writing to a patient. */
export class MessageService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly outbound: Outbound,
    private readonly references: References,
  ) {}

  /** One page of the organization's messages matching the filters, newest first; a patient filter not of the organization answers 404. */
  async list(identity: Identity, query: MessageListQuery): Promise<Page<MessageResponse>> {
    if (query.patient) await this.references.patient(identity, query.patient, 'querystring.patient', { allowDeleted: true });
    const where: Prisma.MessageWhereInput = {
      organization: identity.organization,
      deleted: false,
      ...(query.patient ? { patient: query.patient } : {}),
      ...(query.channel ? { channel: query.channel } : {}),
      ...(query.type ? { type: query.type } : {}),
      ...(query.status ? { status: query.status } : {}),
      ...dateBoundsWhere('createdAt', query.createdAt),
    };
    const [rows, total] = await Promise.all([
      this.prisma.message.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.message.count({ where }),
    ]);
    return pageOf(rows.map(toMessageResponse), query, total);
  }

  /** A message of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<MessageResponse> {
    const message = await this.prisma.message.findFirst({ where: { id, organization: identity.organization, deleted: false } });
    if (!message) throw notFound('message');
    return toMessageResponse(message);
  }

  /**
   * Sends a staff member's message now. The patient and the appointment must be the organization's (404 naming the
   * field). A patient patients vouches for whose contact details have not arrived yet answers 503 with Retry-After:
   * there is no address to send to, and nothing is stored. A patient who must not be contacted answers 409 and nothing
   * is sent; a vendor's refusal is answered as the stored message with status undelivered.
   */
  async send(identity: Identity, body: SendMessageBody, correlationId: string): Promise<MessageResponse> {
    const channel = body.channel ?? 'sms';
    const { contact } = await this.references.patientAndAppointment(identity, body);
    if (!contact) throw notArrivedYet('patient');
    if (contact.doNotContact || contact.optedOutAt) throw new HttpProblem(409, 'do-not-contact', 'The patient must not be contacted.');
    const to = addressFor(channel, contact);
    if (!to)
      throw invalidFields([
        { field: 'body.channel', message: channel === 'email' ? 'the patient has no e-mail address' : 'the patient has no phone number' },
      ]);
    const { message } = await this.outbound.send(
      {
        organization: identity.organization,
        patient: contact.id,
        channel,
        text: body.text,
        subject: body.subject ?? 'Message from your clinic',
        language: contact.language,
        automated: false,
        appointment: body.appointment ?? null,
        createdBy: identity.user,
        correlationId,
      },
      to,
    );
    return toMessageResponse(message);
  }
}
