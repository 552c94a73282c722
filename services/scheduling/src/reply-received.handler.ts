import { replyReceivedV1 } from '@pep/contracts';
import { on, type EventBinding } from '@pep/db';
import { HttpProblem, type Logger } from '@pep/service-kit';
import type { AppointmentService } from './appointment.service.js';
import type { Db } from './events.js';
import { joinWaitlistFromReply } from './waitlist.service.js';

/**
 * A patient's answer to a reminder (C/Y/YES or X/N/NO by text, a key on a call, a link in an e-mail), which
 * messaging classified: confirm or cancel the appointment it was about. The change commits with the inbox record, so
 * a redelivered reply changes nothing; a cancellation publishes appointment.cancelled like one made by staff, which
 * offers the freed slot. WAITLIST puts the patient on the waitlist for that appointment's provider, facility and type
 * (once). A reply about someone else's appointment is ignored.
 */
export function replyReceivedHandler(appointments: AppointmentService, logger: Logger): EventBinding {
  return on(replyReceivedV1, async (event, raw) => {
    const { intent, appointment, patient } = event.data;
    const tx = raw as unknown as Db;
    if (appointment && intent === 'waitlist') {
      await joinWaitlistFromReply(tx, {
        organization: event.organization,
        patient,
        appointment,
        correlationId: event.correlationid,
        causationId: event.id,
      });
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
    await tx.$executeRawUnsafe('SAVEPOINT reply_answer');
    try {
      if (intent === 'confirm') await appointments.confirm(identity, appointment, event.correlationid, tx);
      else await appointments.cancel(identity, appointment, event.correlationid, tx);
      await tx.$executeRawUnsafe('RELEASE SAVEPOINT reply_answer');
    } catch (error) {
      if (!(error instanceof HttpProblem)) throw error;
      await tx.$executeRawUnsafe('ROLLBACK TO SAVEPOINT reply_answer');
      logger.info({ appointment, intent, outcome: error.slug }, 'reply to a reminder not applied');
    }
  });
}
