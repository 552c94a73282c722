import { HttpProblem, type ServiceApp } from '@pep/service-kit';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Step, VoiceService } from './voice.service.js';

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

const PATHS = ['/api/callback/voice/reminders', '/api/callback/voice/offers'] as const;

/**
 * `GET|POST /api/callback/voice/reminders` and `/offers`: what a reminder or offer call says, and the keys the patient
 * presses. Twilio calls with POST by default; GET (fields in the query) is what the v1 API lists and Twilio can be
 * set to. Only requests `signed` by the vendor count (403 otherwise, nothing recorded).
 */
export function registerVoiceCallbackRoutes(scope: ServiceApp, voice: VoiceService, signed: (request: FastifyRequest) => boolean): void {
  for (const [method, url] of (['GET', 'POST'] as const).flatMap((verb) => PATHS.map((path) => [verb, path] as const))) {
    scope.route({
      method,
      url,
      config: { roles: 'public' },
      schema: {
        tags: ['callback'],
        summary: `A ${url.endsWith('offers') ? 'offer' : 'reminder'} call (Twilio voice webhook)`,
        description:
          'Signed in X-Twilio-Signature. Answers TwiML: when the patient picks up, the reminder (or the offer) and a Gather of one key, whose result comes back here; ' +
          '1 confirms the appointment (takes the offer), 2 cancels it (passes), published as reply.received for scheduling; any other key or none asks once more, then the call ends. ' +
          'A Gather result delivered twice has one effect. The call is found by its CallSid; one messaging did not place is hung up.',
        ...(method === 'GET' ? { querystring: voiceRequest.extend(stepQuery.shape) } : { querystring: stepQuery, body: voiceRequest }),
      },
      handler: async (request, reply) => {
        if (!signed(request)) throw new HttpProblem(403, 'bad-signature', 'The request is not signed by the voice vendor.');
        const query = request.query as z.output<typeof stepQuery>;
        const call = (method === 'GET' ? request.query : request.body) as z.output<typeof voiceRequest>;
        const step = Number(query.step ?? 0) as Step;
        return reply.type('text/xml').send(await voice.respond(url, call, step, request.id));
      },
    });
  }
}
