import { messageDeliveredV1, messageFailedV1 } from '@pep/contracts';
import { HttpProblem, notFound, type ServiceApp } from '@pep/service-kit';
import type { FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import twilio from 'twilio';
import { z } from 'zod';
import { EmailAnswerService } from './email-answer.service.js';
import { registerEmailCallbackRoutes } from './email-callback.routes.js';
import type { MessagingWork } from './events.js';
import type { PrismaClient } from './generated/prisma/client.js';
import type { InboundService } from './inbound.service.js';
import { messageEventData } from './outbound.js';
import { outcomeUnknown } from './pending-sweep.js';
import { ReferralVoice, registerReferralVoiceRoutes } from './referral-outreach.routes.js';
import type { LinkKeys } from './email-links.js';
import { idParams } from './schemas.js';
import { registerVoiceCallbackRoutes } from './voice-callback.routes.js';
import { VoiceService } from './voice.service.js';

/** What a vendor's status means for the message: delivered, failed, or nothing final yet. */
type Outcome = 'delivered' | 'undelivered' | null;

// Twilio's message states (MessageStatus) and call states (CallStatus) that end a message's journey.
const OUTCOMES: Record<string, Outcome> = {
  delivered: 'delivered',
  read: 'delivered',
  undelivered: 'undelivered',
  failed: 'undelivered',
  completed: 'delivered',
  busy: 'undelivered',
  'no-answer': 'undelivered',
  canceled: 'undelivered',
};

/** A Twilio status callback: form fields, of which these matter; Twilio sends many more. */
const statusBody = z
  .object({
    MessageSid: z.string().optional(),
    MessageStatus: z.string().optional(),
    CallSid: z.string().optional(),
    CallStatus: z.string().optional(),
    ErrorCode: z.string().optional(),
  })
  .catchall(z.string());

/** Whether a Twilio webhook carries Twilio's signature of the public URL it was sent to and its form fields. */
export function signedByTwilio(request: FastifyRequest, token: string | null, publicUrl: string): boolean {
  const signature = request.headers['x-twilio-signature'];
  if (!token || typeof signature !== 'string') return false;
  const params = (request.body ?? {}) as Record<string, string>;
  return twilio.validateRequest(token, signature, `${publicUrl.replace(/\/+$/, '')}${request.url}`, params);
}

/** Parses Twilio's form-encoded webhooks into plain objects, in the scope of the callback routes only. */
export function acceptForms(scope: ServiceApp): void {
  scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
}

/** Twilio's incoming-message webhook: these fields matter; Twilio sends many more. */
const incomingSms = z
  .object({
    MessageSid: z.string().min(1),
    From: z.string().min(1),
    To: z.string().min(1),
    Body: z.string().default(''),
  })
  .catchall(z.string());

const badSignature = () => new HttpProblem(403, 'bad-signature', 'The request is not signed by the SMS vendor.');

/** What the vendor callbacks need. */
export interface CallbackOptions {
  webhookToken: string | null;
  /** Signs and checks the answer links of e-mails. */
  linkKeys: LinkKeys;
  publicUrl: string;
  work: MessagingWork;
  inbound: InboundService;
}

/**
 * Registers the vendor callbacks messaging serves: Twilio's delivery reports, patients' SMS replies, reminder, offer
 * and referral outreach calls, and the answer links of reminder and offer e-mails.
 */
export function registerCallbackRoutes(app: ServiceApp, prisma: PrismaClient, options: CallbackOptions): void {
  app.register(async (plugin) => {
    const scope = plugin.withTypeProvider<ZodTypeProvider>() as unknown as ServiceApp;
    acceptForms(scope);
    registerTwilioStatusRoute(scope, options);
    // Twilio calls with POST by default; GET (fields in the query) is what the v1 API lists and Twilio can be set to.
    // Numbers used for offers call /sms/offers, those used for referral outreach /sms/referrals: one reading serves
    // them all, since a reply is read against the latest text.
    for (const [method, url] of (['GET', 'POST'] as const).flatMap((verb) =>
      ['/api/callback/sms/reminders', '/api/callback/sms/offers', '/api/callback/sms/referrals'].map((path) => [verb, path] as const),
    )) {
      scope.route({
        method,
        url,
        config: { roles: 'public' },
        schema: {
          tags: ['callback'],
          summary: 'A patient’s SMS reply (Twilio webhook)',
          description:
            'Signed in X-Twilio-Signature. C confirms and X cancels the appointment of the latest reminder, YES and NO answer an offer still open that was texted last ' +
            '(published as reply.received for scheduling); YES or CALL to referral outreach texted last asks the clinic to call to schedule (referral.answered); STOP opts out, START opts in, HELP answers the help text. ' +
            'Answers TwiML; a webhook delivered twice has one effect.',
          ...(method === 'GET' ? { querystring: incomingSms } : { body: incomingSms }),
        },
        handler: async (request, reply) => {
          if (!signedByTwilio(request, options.webhookToken, options.publicUrl)) throw badSignature();
          const sms = (method === 'GET' ? request.query : request.body) as z.output<typeof incomingSms>;
          return reply.type('text/xml').send(await options.inbound.receive(sms, request.id));
        },
      });
    }
    registerVoiceCallbackRoutes(scope, new VoiceService(prisma, options.inbound, options.publicUrl), (request) =>
      signedByTwilio(request, options.webhookToken, options.publicUrl),
    );
    registerReferralVoiceRoutes(scope, new ReferralVoice(prisma, options.inbound, options.publicUrl), (request) =>
      signedByTwilio(request, options.webhookToken, options.publicUrl),
    );
    registerEmailCallbackRoutes(scope, new EmailAnswerService(prisma, options.inbound, options.linkKeys));
  });
}

/**
 * `POST /api/callback/twilio/:id`: Twilio's delivery reports of the message (SMS or call) with that id. Only requests
 * signed with the account's token count (403 otherwise, nothing recorded). A message's first final state is kept:
 * a report delivered twice, or a late report of an earlier state, changes nothing; an `undelivered` recorded without
 * the vendor's word (outcome unknown) is not final. A report that is not final names the vendor's id of a message still
 * pending, and nothing else.
 */
function registerTwilioStatusRoute(scope: ServiceApp, options: CallbackOptions): void {
  scope.post(
    '/api/callback/twilio/:id',
    {
      config: { roles: 'public' },
      schema: {
        tags: ['callback'],
        summary: "Twilio's delivery status of a message",
        description: 'Form-encoded, as Twilio sends it, signed in X-Twilio-Signature. Answers 204; a bad signature 403.',
        params: idParams,
        body: statusBody,
      },
    },
    async (request, reply) => {
      if (!signedByTwilio(request, options.webhookToken, options.publicUrl)) throw badSignature();
      const body = request.body;
      const sid = body.MessageSid ?? body.CallSid;
      const status = body.MessageStatus ?? body.CallStatus ?? '';
      await options.work.run({ correlationId: request.id }, async (tx, emit) => {
        await tx.$executeRawUnsafe('SELECT 1 FROM "message" WHERE "id" = $1::uuid FOR UPDATE', request.params.id);
        const message = await tx.message.findUnique({ where: { id: request.params.id } });
        if (!message || message.type !== 'outbound' || (message.externalId && sid && message.externalId !== sid)) throw notFound('message');
        const outcome = OUTCOMES[status] ?? null;
        if (!outcome) {
          // The vendor took a message still pending (its sender may have died before hearing so): its id is kept, so
          // the pending sweep and a reminder claimed again know it went.
          if (message.status === 'pending' && sid && !message.externalId) {
            await tx.message.update({ where: { id: message.id }, data: { externalId: sid, externalStatus: { status } } });
          }
          return;
        }
        // An `undelivered` that was a guess (the vendor's answer lost, the sender dead) gives way to the vendor's word.
        if (message.status === 'delivered' || (message.status === 'undelivered' && !outcomeUnknown(message))) return;
        const reason = body.ErrorCode ? `twilio-${body.ErrorCode}` : status;
        const updated = await tx.message.update({
          where: { id: message.id },
          data: {
            status: outcome,
            externalId: message.externalId ?? sid ?? null,
            externalStatus: { status, ...(body.ErrorCode ? { errorCode: body.ErrorCode } : {}) },
            terminatingStateAt: new Date(),
            ...(outcome === 'undelivered' ? { skippedStatusReason: reason } : {}),
          },
        });
        if (outcome === 'delivered' && updated.reminder) {
          await tx.reminder.updateMany({ where: { id: updated.reminder, status: 'sent' }, data: { status: 'delivered' } });
        }
        // A reminder's delivery report is traced by the reminder, as its send was.
        const context = {
          organization: updated.organization,
          subject: updated.id,
          cause: { correlationId: updated.reminder ?? request.id },
        };
        if (outcome === 'delivered') emit(messageDeliveredV1, { ...context, data: messageEventData(updated) });
        else emit(messageFailedV1, { ...context, data: { ...messageEventData(updated), reason } });
      });
      return reply.code(204).send();
    },
  );
}
