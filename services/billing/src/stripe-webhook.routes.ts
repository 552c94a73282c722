import { Readable } from 'node:stream';
import { HttpProblem, type ServiceApp } from '@pep/service-kit';
import type { FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { webhookResponse } from './charge.schemas.js';
import type { ChargeService } from './charge.service.js';
import { verifiedStripeEvent } from './stripe-client.js';

/** What the Stripe webhook needs. */
export interface StripeWebhookOptions {
  /** The endpoint's signing secret (`whsec_…`); null refuses every webhook. */
  webhookSecret: string | null;
  charges: ChargeService;
  /** Unix seconds now, which Stripe's 300-second tolerance is measured from (default the real clock). */
  now?: () => number;
}

/** The limit when the route has none of its own (the app's body limit applies otherwise). */
const MAX_WEBHOOK_BYTES = 1024 * 1024;

const tooLarge = () => new HttpProblem(413, 'body-too-large', 'The request body is too large.');

/** Each webhook request's body as received, for the signature check. */
const rawBodies = new WeakMap<FastifyRequest, Buffer>();

const unsigned = () =>
  new HttpProblem(400, 'bad-signature', 'The request is not signed by Stripe with this endpoint’s secret, or its signature is too old.');

/**
 * `POST /api/callback/stripe/charges`: Stripe's webhook. Its `Stripe-Signature` is checked against the body's bytes as
 * Stripe sent them (not the parsed and re-serialized JSON), with the endpoint secret and Stripe's 300-second tolerance;
 * a tampered, stale or unsigned request answers 400 and stores nothing.
 */
export function registerStripeWebhookRoutes(app: ServiceApp, options: StripeWebhookOptions): void {
  app.register(async (plugin) => {
    const scope = plugin.withTypeProvider<ZodTypeProvider>() as unknown as ServiceApp;
    // The bytes are kept before the kit's JSON parser reads its own copy, so its input guard still refuses what Postgres
    // cannot store (400 naming the field) before the signature is even looked at.
    scope.addHook('preParsing', async (request, _reply, payload) => {
      const limit = request.routeOptions.bodyLimit ?? MAX_WEBHOOK_BYTES;
      if (Number(request.headers['content-length'] ?? 0) > limit) throw tooLarge();
      const chunks: Buffer[] = [];
      let length = 0;
      // A body over the limit is read to its end and dropped, so the connection stays fit for the next request.
      for await (const chunk of payload) {
        length += (chunk as Buffer).length;
        if (length <= limit) chunks.push(chunk as Buffer);
      }
      if (length > limit) throw tooLarge();
      const raw = Buffer.concat(chunks);
      rawBodies.set(request, raw);
      return Readable.from([raw]);
    });
    scope.post(
      '/api/callback/stripe/charges',
      {
        config: { roles: 'public' },
        schema: {
          tags: ['callback'],
          summary: "Stripe's webhook: charges, invoices and subscriptions",
          description:
            'Signed in Stripe-Signature with the endpoint secret (300 s tolerance); 400 and nothing stored otherwise. Stores ' +
            '`charge.succeeded|failed` and `invoice.paid|payment_failed` as the organization’s charges and publishes `charge.succeeded|failed`, ' +
            'and from `invoice_payment.paid` which payment paid which invoice (so a payment counts once); ' +
            'keeps `customer.subscription.updated|deleted` as the organization’s subscription and publishes `subscription.changed`. ' +
            'An event delivered twice has ' +
            'one effect; an older event never replaces a newer state.',
          response: { 200: webhookResponse },
        },
      },
      async (request) => {
        const raw = rawBodies.get(request);
        if (!options.webhookSecret || !raw) throw unsigned();
        const signature = request.headers['stripe-signature'];
        let event;
        try {
          event = verifiedStripeEvent(raw, typeof signature === 'string' ? signature : undefined, options.webhookSecret, options.now?.());
        } catch {
          throw unsigned();
        }
        const outcome = await options.charges.applyStripeEvent(event, request.id);
        request.log.info({ stripeEventId: event.id, stripeEventType: event.type, outcome }, 'stripe event received');
        return { received: true as const, outcome };
      },
    );
  });
}
