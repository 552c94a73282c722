import Stripe from 'stripe';

/** How billing reaches Stripe. */
export interface StripeSettings {
  secretKey: string;
  /** `https://api.stripe.com` by default; a local fake in tests. */
  apiBase?: string;
  timeoutMs?: number;
  maxNetworkRetries?: number;
}

/** The Stripe SDK client for the settings, or null when no key is configured (the sandbox calls nobody). */
export function createStripeClient(settings: StripeSettings | null): Stripe | null {
  if (!settings) return null;
  const base = settings.apiBase ? new URL(settings.apiBase) : null;
  const protocol = base?.protocol === 'http:' ? 'http' : 'https';
  return new Stripe(settings.secretKey, {
    ...(base ? { host: base.hostname, port: base.port || (protocol === 'http' ? '80' : '443'), protocol } : {}),
    timeout: settings.timeoutMs ?? 10_000,
    maxNetworkRetries: settings.maxNetworkRetries ?? 2,
    telemetry: false,
    appInfo: { name: 'pep-billing' },
  });
}

/** Verifies a webhook's `Stripe-Signature` against its raw body with Stripe's 300-second tolerance; throws when it fails. */
export function verifiedStripeEvent(
  rawBody: Buffer,
  signature: string | undefined,
  secret: string,
  receivedAtSeconds?: number,
): Stripe.Event {
  // The SDK takes the time of receipt in milliseconds, and the signature's timestamp in seconds.
  const receivedAt = receivedAtSeconds === undefined ? undefined : receivedAtSeconds * 1000;
  return Stripe.webhooks.constructEvent(rawBody, signature ?? '', secret, 300, undefined, receivedAt);
}
