import { HttpProblem } from '@pep/service-kit';
import Stripe from 'stripe';

/**
 * What a failed Stripe call answers the caller: Stripe refusing what the client sent (an unknown payment method, a tax
 * id Stripe does not accept) is 400 naming `field`; anything else (Stripe down, a timeout, our key refused) is 502, and
 * an event handler's throw makes the event retry. Stripe's message names no card data, but it is not echoed anyway.
 */
export function stripeProblem(error: unknown, field?: string): HttpProblem {
  if (error instanceof HttpProblem) return error;
  if (field && (error instanceof Stripe.errors.StripeInvalidRequestError || error instanceof Stripe.errors.StripeCardError)) {
    return new HttpProblem(400, 'validation', 'Stripe refused a field of the request.', {
      errors: [{ field, message: `Stripe refused it (${error.code ?? error.type}).` }],
    });
  }
  const code = error instanceof Stripe.errors.StripeError ? (error.code ?? error.type) : 'unreachable';
  return new HttpProblem(502, 'stripe-unavailable', `Stripe did not accept the call (${code}); nothing was changed here. Retry later.`);
}
