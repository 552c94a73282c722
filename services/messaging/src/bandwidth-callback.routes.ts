import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpProblem, isLoopbackAddress, originalClientAddress, type ServiceApp } from '@pep/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { InboundService } from './inbound.service.js';

/** Where Bandwidth posts patients' replies: at the host root, as the product's Bandwidth applications are configured. */
export const BANDWIDTH_REPLY_PATH = '/webhooks/reply/bandwidth/sms';

/** HTTP Basic credentials Bandwidth sends with its callbacks, as configured on the Bandwidth application. */
export interface BasicCredentials {
  username: string;
  password: string;
}

/** The OpenAPI security scheme the webhook names; the service declares it and the gateway's merged document too. */
export const VENDOR_BASIC_SCHEME = {
  vendorBasic: { type: 'http', scheme: 'basic', description: 'HTTP Basic credentials configured for a vendor webhook (Bandwidth).' },
} as const;

/** What the Bandwidth webhook needs. */
export interface BandwidthCallbackOptions {
  inbound: InboundService;
  /** Null: no credentials configured, only loopback callers (as the gateway established them) are accepted. */
  credentials: BasicCredentials | null;
  /** Checks the client address the gateway signed. */
  internalAuthSecret: string;
}

const phone = z.string().min(1).max(64);

/** The message of a Bandwidth Messaging API v2 callback; these fields matter, Bandwidth sends more (kept, ignored). */
const bandwidthMessage = z
  .object({
    id: z.string().min(1).max(200).describe("Bandwidth's message id; a callback delivered again with it has no second effect"),
    from: phone.describe("The patient's number (E.164)"),
    to: z
      .union([z.array(phone).max(100), phone])
      .optional()
      .describe('The numbers it was sent to (an array; a single number is taken too)'),
    text: z.string().max(10_000).default('').describe('What the patient wrote; empty for media only'),
    direction: z
      .string()
      .max(32)
      .optional()
      .describe('`in` from Bandwidth; `inbound` and `inbound-api` are taken too, anything else is ignored'),
    time: z.string().max(64).optional(),
    owner: phone.optional().describe('The number of ours that received it'),
    applicationId: z.string().max(200).optional(),
    media: z.array(z.string().max(2_000)).max(50).optional(),
    segmentCount: z.number().int().min(0).max(1_000).optional(),
    tag: z.string().max(1_024).optional(),
  })
  .catchall(z.unknown());

/** One Bandwidth callback event. */
const bandwidthEvent = z
  .object({
    type: z
      .string()
      .min(1)
      .max(64)
      .describe('`message-received` (or `inbound`) is read as a reply; delivery reports and other types are acknowledged and ignored'),
    time: z.string().max(64).optional(),
    to: phone.optional().describe('The number of ours that received it'),
    description: z.string().max(1_000).optional(),
    message: bandwidthMessage,
  })
  .catchall(z.unknown());

/** Bandwidth posts a JSON array of events; a single event object is taken too. */
const bandwidthCallbackBody = z.union([z.array(bandwidthEvent).min(1).max(100), bandwidthEvent]);

const bandwidthCallbackResponse = z.object({
  received: z.number().int().describe('Replies read (a repeat of one already recorded counts, with no second effect)'),
  ignored: z.number().int().describe('Events that are not replies: delivery reports, outbound directions'),
});

const RECEIVED_TYPES = new Set(['message-received', 'inbound']);
const INBOUND_DIRECTIONS = new Set(['in', 'inbound', 'inbound-api']);

/**
 * `POST /webhooks/reply/bandwidth/sms`: patients' replies through Bandwidth, read exactly like Twilio's (same
 * classifier, same effects, one effect per Bandwidth message id). Answers 200 once every reply is recorded, so a failure
 * makes Bandwidth deliver the callback again and the replies already recorded are not read twice.
 */
export function registerBandwidthCallbackRoutes(app: ServiceApp, options: BandwidthCallbackOptions): void {
  const authorize = bandwidthCaller(options);
  app.post(
    BANDWIDTH_REPLY_PATH,
    {
      schema: {
        tags: ['callback'],
        summary: 'A patient’s SMS reply (Bandwidth callback)',
        description:
          'Bandwidth Messaging API v2 callbacks as Bandwidth posts them: a JSON array of `{type, time, to, description, message: {id, from, to: [...], text, direction, time, segmentCount, owner, applicationId, media}}`. ' +
          '`message-received` events are read exactly like a Twilio reply (C confirms, X cancels, YES/NO answer an open offer, STOP/START/HELP) and published as reply.received; other types ' +
          '(delivery reports) answer 200 and change nothing. The same message id twice has one effect. Authentication is Bandwidth’s own: HTTP Basic with the credentials ' +
          'configured in BANDWIDTH_CALLBACK_USERNAME/PASSWORD (401 with WWW-Authenticate otherwise); with none configured (the embedded default) only callers on the machine ' +
          'itself are accepted (403 for others). Bandwidth cannot carry an answer back in the response: acknowledgements of STOP, START and HELP are recorded as skipped.',
        security: [{ vendorBasic: [] }],
        body: bandwidthCallbackBody,
        response: { 200: bandwidthCallbackResponse },
      },
      onRequest: authorize,
    },
    async (request) => {
      const events = Array.isArray(request.body) ? request.body : [request.body];
      let received = 0;
      for (const event of events) {
        const { message } = event;
        if (!RECEIVED_TYPES.has(event.type) || (message.direction !== undefined && !INBOUND_DIRECTIONS.has(message.direction))) continue;
        const ours = event.to ?? message.owner ?? (Array.isArray(message.to) ? message.to[0] : message.to) ?? '';
        await options.inbound.receive(
          { MessageSid: message.id, From: message.from, To: ours, Body: message.text, vendor: 'bandwidth' },
          request.id,
        );
        received += 1;
      }
      return { received, ignored: events.length - received };
    },
  );
}

/**
 * Refuses callers that are not Bandwidth: without the configured Basic credentials 401 (Bandwidth sends them after
 * the challenge); with none configured, anyone not on this machine, judged by the address the gateway signed.
 */
function bandwidthCaller(options: BandwidthCallbackOptions) {
  const expected = options.credentials ? digest(`${options.credentials.username}:${options.credentials.password}`) : null;
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (expected) {
      const given = basicCredentials(request.headers.authorization);
      // Digests of equal length, compared in constant time: neither the password nor its length leaks through timing.
      if (given !== null && timingSafeEqual(digest(given), expected)) return;
      reply.header('www-authenticate', 'Basic realm="bandwidth-callbacks", charset="UTF-8"');
      throw new HttpProblem(
        401,
        'unauthenticated',
        'Send the Basic credentials configured for Bandwidth callbacks (BANDWIDTH_CALLBACK_USERNAME and BANDWIDTH_CALLBACK_PASSWORD).',
      );
    }
    if (!isLoopbackAddress(await originalClientAddress(request, options.internalAuthSecret))) {
      throw new HttpProblem(
        403,
        'loopback-only',
        'No Bandwidth callback credentials are configured, so only callers on this machine are accepted; set BANDWIDTH_CALLBACK_USERNAME and BANDWIDTH_CALLBACK_PASSWORD.',
      );
    }
  };
}

/** `user:password` of an `Authorization: Basic` header; null when it is absent or not Basic. */
function basicCredentials(header: string | undefined): string | null {
  const match = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header ?? '');
  return match ? Buffer.from(match[1]!, 'base64').toString('utf8') : null;
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
