import { appointmentCancelledV1, replyReceivedV1 } from '@pep/contracts';
import { on, type EventBinding } from '@pep/db';
import { HttpProblem, type Logger } from '@pep/service-kit';
import type { Db } from './events.js';
import type { OfferLifecycle } from './offer-lifecycle.js';

/**
 * The consumers of the `scheduling.offers` group. A cancellation is handled from the event rather than inside the
 * cancel request: the cancel stays fast and never fails because offering did, a failing offer is retried and
 * dead-lettered on its own, and cancellations that do not come through the API (a patient's reply) are covered by
 * the same path. The inbox makes a redelivered event change nothing; the unique `from_appointment` makes a second
 * offer of one cancellation impossible.
 */
export function offerHandlers(offers: OfferLifecycle, logger: Logger): EventBinding[] {
  return [
    on(appointmentCancelledV1, async (event, tx) => {
      await offers.offerCancelledSlot(tx as unknown as Db, event);
    }),
    // A patient's YES or NO to an offer text (messaging classified it). An answer that comes too late or to an offer
    // already taken changes nothing here; messaging learns the outcome from offer.closed and offer.accepted.
    on(replyReceivedV1, async (event, raw) => {
      const { intent, offer, patient } = event.data;
      if (!offer || (intent !== 'accept-offer' && intent !== 'decline-offer')) return;
      const tx = raw as unknown as Db;
      const recipient = await tx.offerRecipient.findFirst({
        where: { offerId: offer, patient, offer: { organization: event.organization } },
      });
      if (!recipient) return;
      const actor = {
        organization: event.organization,
        user: `patient:${patient}`,
        correlationId: event.correlationid,
        causationId: event.id,
      };
      // An answer refused (409) must not undo the inbox record, or the event would be retried until dead-lettered.
      await tx.$executeRawUnsafe('SAVEPOINT reply_answer');
      try {
        if (intent === 'accept-offer') await offers.accept(tx, actor, recipient.waitlistId, { mayApprove: false });
        else await offers.refuse(tx, actor, recipient.waitlistId, 'declined', { mayRejectHeld: false });
        await tx.$executeRawUnsafe('RELEASE SAVEPOINT reply_answer');
      } catch (error) {
        if (!(error instanceof HttpProblem)) throw error;
        await tx.$executeRawUnsafe('ROLLBACK TO SAVEPOINT reply_answer');
        logger.info({ offer, intent, outcome: error.slug }, 'reply to an offer not applied');
      }
    }),
  ];
}

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
