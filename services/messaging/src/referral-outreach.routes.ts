import { referralAnsweredV1 } from '@pep/contracts';
import { HttpProblem, type ServiceApp } from '@pep/service-kit';
import type { FastifyRequest } from 'fastify';
import twilio from 'twilio';
import { z } from 'zod';
import type { PrismaClient } from './generated/prisma/client.js';
import type { InboundService } from './inbound.service.js';
import { REFERRAL_ANSWERED, REFERRAL_OUTREACH } from './referral-outreach.handlers.js';
import { outreachFacility, referralAnswered } from './referral-outreach.service.js';
import { render, variablesOf, wordingFor } from './templates.js';
import { VOICE_LANGUAGES, type Step, type VoiceCall } from './voice.service.js';

/** Twilio's voice webhook (the call answered, or a Gather's result): these fields matter; Twilio sends many more. */
const voiceRequest = z
  .object({
    CallSid: z.string().min(1),
    Digits: z.string().optional(),
  })
  .catchall(z.string());

/** Which ask a Gather's result answers; absent when Twilio fetches what the call is to say. */
const stepQuery = z.object({
  step: z.enum(['1', '2']).optional().describe('Which ask of the call this answers; set by the service in the Gather it answered.'),
});

const PATH = '/api/callback/voice/referrals';

/**
 * Referral outreach calls. When the patient picks up, the call invites them to schedule and asks for a key: 1 asks to
 * be called back (referral.answered, channel voice, while the referral is still active; reply.received as every
 * answer), once per call and ask however often Twilio repeats the request; anything else, or nothing, asks once more,
 * then the call ends. Everything is answered as TwiML.
 */
export class ReferralVoice {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly inbound: InboundService,
    private readonly publicUrl: string,
  ) {}

  /** The TwiML answering a request of a referral outreach call at a step. */
  async respond(call: VoiceCall, step: Step, correlationId: string): Promise<string> {
    const response = new twilio.twiml.VoiceResponse();
    const message = await this.prisma.message.findFirst({
      where: { externalId: call.CallSid, type: 'outbound', channel: 'voice', key: REFERRAL_OUTREACH, deleted: false },
    });
    if (!message) {
      // Not a referral call messaging placed: nothing to say to whoever answered.
      response.hangup();
      return response.toString();
    }
    const { organization } = message;
    const attempt = message.reminder
      ? await this.prisma.reminder.findFirst({ where: { id: message.reminder, organization }, select: { referral: true, facility: true } })
      : null;
    const [referral, facility, contact, profile] = await Promise.all([
      attempt?.referral ? this.prisma.referral.findFirst({ where: { id: attempt.referral, organization, deleted: false } }) : null,
      attempt?.facility ? this.prisma.facility.findFirst({ where: { id: attempt.facility, organization } }) : null,
      this.prisma.patientContact.findFirst({ where: { id: message.patient, organization } }),
      this.prisma.organizationProfile.findUnique({ where: { organization } }),
    ]);
    const voice = { language: VOICE_LANGUAGES[message.language] ?? 'en-US' };
    const wording = async (key: string) => {
      const found = await wordingFor(this.prisma, organization, key, message.language);
      if (!found) return '';
      const patient = contact ? { firstname: contact.firstname, language: contact.language } : null;
      return render(found.text, variablesOf({ patient, facility: outreachFacility(facility), organization: profile }, found.language));
    };

    if (step > 0 && call.Digits === '1') {
      const open = referral !== null && referral.status === 'active';
      const { outcome } = await this.inbound.answer(
        {
          answered: message,
          key: `${call.CallSid}:${step}`,
          text: call.Digits,
          reading: { intent: 'confirm', classification: 'positive', keyword: '1' },
          outcome: REFERRAL_ANSWERED,
          ...(open
            ? {
                also: (emit, reply, receivedAt) =>
                  emit(referralAnsweredV1, referralAnswered(organization, message.patient, referral.id, 'voice', reply, receivedAt)),
              }
            : {}),
        },
        correlationId,
      );
      response.say(voice, await wording(outcome));
      response.hangup();
      return response.toString();
    }
    if (step === 2) {
      response.say(voice, await wording('voice-goodbye'));
      response.hangup();
      return response.toString();
    }
    if (step === 1) response.say(voice, await wording('voice-retry'));
    // With actionOnEmptyResult, silence comes back as a Gather result too, so a missed ask is asked again.
    const gather = response.gather({
      numDigits: 1,
      timeout: 6,
      action: `${this.publicUrl.replace(/\/+$/, '')}${PATH}?step=${step + 1}`,
      method: 'POST',
      actionOnEmptyResult: true,
    });
    gather.say(voice, await wording('voice-referral'));
    return response.toString();
  }
}

/**
 * `GET|POST /api/callback/voice/referrals`: what a referral outreach call says, and the key the patient presses.
 * Twilio calls with POST by default; GET (fields in the query) is what the v1 API lists and Twilio can be set to. Only
 * requests `signed` by the vendor count (403 otherwise, nothing recorded). Registered in the callback routes' scope,
 * which reads Twilio's form-encoded bodies.
 */
export function registerReferralVoiceRoutes(scope: ServiceApp, voice: ReferralVoice, signed: (request: FastifyRequest) => boolean): void {
  for (const method of ['GET', 'POST'] as const) {
    scope.route({
      method,
      url: PATH,
      config: { roles: 'public' },
      schema: {
        tags: ['callback'],
        summary: 'A referral outreach call (Twilio voice webhook)',
        description:
          'Signed in X-Twilio-Signature. Answers TwiML: when the patient picks up, the invitation to schedule and a Gather of one key, whose result comes back here; ' +
          '1 asks the clinic to call back to schedule (published as referral.answered, channel voice); any other key or none asks once more, then the call ends. ' +
          'A Gather result delivered twice has one effect. The call is found by its CallSid; one messaging did not place is hung up.',
        ...(method === 'GET' ? { querystring: voiceRequest.extend(stepQuery.shape) } : { querystring: stepQuery, body: voiceRequest }),
      },
      handler: async (request, reply) => {
        if (!signed(request)) throw new HttpProblem(403, 'bad-signature', 'The request is not signed by the voice vendor.');
        const query = request.query as z.output<typeof stepQuery>;
        const call = (method === 'GET' ? request.query : request.body) as z.output<typeof voiceRequest>;
        const step = Number(query.step ?? 0) as Step;
        return reply.type('text/xml').send(await voice.respond(call, step, request.id));
      },
    });
  }
}
