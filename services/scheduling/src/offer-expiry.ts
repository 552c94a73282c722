import type { Logger } from '@pep/service-kit';
import type { OfferLifecycle } from './offer-lifecycle.js';

/** Lapses due offers every `intervalMs` until stopped; a run still going when the next is due is not doubled. */
export function startExpiryPoller(offers: OfferLifecycle, intervalMs: number, logger: Logger): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = offers
      .runExpiry()
      .catch((error: unknown) => logger.error({ err: error }, 'offer expiry failed; retried at the next tick'))
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
