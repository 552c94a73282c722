import { appointmentCancelledV1, replyReceivedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { HttpProblem, type Logger } from '@pep/service-kit';
import { on, type SchedulingWork, type Tx } from './events.js';
import type { OfferLifecycle } from './offer-lifecycle.js';

/**
 * The consumers of the `scheduling.offers` group. A cancellation is handled from the event rather than inside the
 * cancel request: the cancel stays fast and never fails because offering did, a failing offer is retried and
 * dead-lettered on its own, and cancellations that do not come through the API (a patient's reply) are covered by
 * the same path. The inbox makes a redelivered event change nothing; the unique `from_appointment` makes a second
 * offer of one cancellation impossible.
 */
export function offerHandlers(offers: OfferLifecycle, work: SchedulingWork, logger: Logger): EventBinding<Tx>[] {
  return [
    on(appointmentCancelledV1, async (event, tx, emit) => {
      await offers.offerCancelledSlot(tx, emit, event);
    }),
    // A patient's YES or NO to an offer text (messaging classified it), answered through the same lifecycle methods as
    // staff's routes. An answer that comes too late or to an offer already taken changes nothing here; messaging
    // learns the outcome from offer.closed and offer.accepted.
    on(replyReceivedV1, async (event, tx) => {
      const { intent, offer, patient } = event.data;
      if (!offer || (intent !== 'accept-offer' && intent !== 'decline-offer')) return;
      const recipient = await tx.offerRecipient.findFirst({
        where: { offerId: offer, patient, offer: { organization: event.organization } },
      });
      if (!recipient) return;
      const actor = { organization: event.organization, user: `patient:${patient}` };
      // An answer refused (409) must not undo the inbox record, or the event would be retried until dead-lettered.
      try {
        await work.savepoint(async () => {
          if (intent === 'accept-offer') await offers.accept(actor, recipient.waitlistId, { mayApprove: false }, event.correlationid);
          else await offers.refuse(actor, recipient.waitlistId, 'declined', { mayRejectHeld: false }, event.correlationid);
        });
      } catch (error) {
        if (!(error instanceof HttpProblem)) throw error;
        logger.info({ offer, intent, outcome: error.slug }, 'reply to an offer not applied');
      }
    }),
  ];
}
