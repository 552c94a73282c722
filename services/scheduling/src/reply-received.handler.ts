import { replyReceivedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { HttpProblem, type Logger } from '@pep/service-kit';
import type { AppointmentService } from './appointment.service.js';
import { on, type SchedulingWork, type Tx } from './events.js';
import { joinWaitlistFromReply } from './waitlist.service.js';

/**
 * A patient's answer to a reminder (C/Y/YES or X/N/NO by text, a key on a call, a link in an e-mail), which
 * messaging classified: confirm or cancel the appointment it was about, through the same service methods as staff's
 * routes, whose unit of work joins the inbox transaction. The change commits with the inbox record, so a redelivered
 * reply changes nothing; a cancellation publishes appointment.cancelled like one made by staff, which offers the freed
 * slot. WAITLIST puts the patient on the waitlist for that appointment's provider, facility and type (once). A reply
 * about someone else's appointment is ignored.
 */
export function replyReceivedHandler(appointments: AppointmentService, work: SchedulingWork, logger: Logger): EventBinding<Tx> {
  return on(replyReceivedV1, async (event, tx, emit) => {
    const { intent, appointment, patient } = event.data;
    if (appointment && intent === 'waitlist') {
      await joinWaitlistFromReply(tx, emit, { organization: event.organization, patient, appointment });
      return;
    }
    if (!appointment || (intent !== 'confirm' && intent !== 'cancel')) return;
    const booked = await tx.appointment.findFirst({
      where: { id: appointment, organization: event.organization, patient, deleted: false },
    });
    if (!booked) return;
    const identity = { organization: event.organization, user: `patient:${patient}`, roles: ['patient'] };
    // A refused answer (confirming a cancelled appointment: 409) must not undo the inbox record, or the event would
    // be retried until dead-lettered.
    try {
      await work.savepoint(() =>
        intent === 'confirm'
          ? appointments.confirm(identity, appointment, event.correlationid)
          : appointments.cancel(identity, appointment, event.correlationid),
      );
    } catch (error) {
      if (!(error instanceof HttpProblem)) throw error;
      logger.info({ appointment, intent, outcome: error.slug }, 'reply to a reminder not applied');
    }
  });
}
