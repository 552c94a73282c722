import type { DemoSample } from '@pep/contracts';

/**
 * What each sample sales sends a demo patient says; variables as in the built-in templates (templates.ts), filled from
 * the demo patient and their next appointment. `variants` are picked with ?type= (patientReminderConfirmationThanks).
 */
export const DEMO_SAMPLES: Record<DemoSample, { text: string; variants?: Record<string, string> }> = {
  patientReminder: {
    text: 'Hi {{patient.firstname}}, this is a reminder of your appointment with {{provider.name}} at {{facility.name}} on {{appointment.date}} at {{appointment.time}}. Reply YES to confirm or NO to cancel.',
  },
  patientReminderConfirmationThanks: {
    text: 'Thank you {{patient.firstname}}, your appointment on {{appointment.date}} at {{appointment.time}} is confirmed.',
    variants: {
      insurance:
        'Thank you {{patient.firstname}}, your appointment on {{appointment.date}} is confirmed. Please have your insurance card ready, or send us a photo of it before your visit.',
      intake:
        'Thank you {{patient.firstname}}, your appointment on {{appointment.date}} is confirmed. Please fill in your intake forms before your visit to save time at check-in.',
    },
  },
  patientReminderCancellationNoShow: {
    text: 'Hi {{patient.firstname}}, your appointment on {{appointment.date}} at {{appointment.time}} is cancelled. Please note that missed appointments may be charged. Call {{facility.name}} to book another time.',
  },
  patientReminderCancellationThanksWithReschedule: {
    text: 'Thank you for letting us know, {{patient.firstname}}. Your appointment on {{appointment.date}} is cancelled. Reply R to be offered a new time, or call {{facility.name}}.',
  },
  patientDemoLinkToScheduleAppointment: {
    text: 'Hi {{patient.firstname}}, it is time to book your next visit with {{provider.name}}. Pick a time that suits you online, or reply to this message and we will call you.',
  },
  customActionNoShowFollowup: {
    text: 'Hi {{patient.firstname}}, we missed you at your appointment with {{provider.name}} today. Reply R to reschedule, or call {{facility.name}}.',
  },
  customActionRecall: {
    text: 'Hi {{patient.firstname}}, you are due for your next check-up with {{provider.name}}. Reply YES and we will find you a time.',
  },
  customActionJoinToWaitingRoom: {
    text: 'Hi {{patient.firstname}}, {{provider.name}} is ready for you. Reply HERE when you have arrived at {{facility.name}} and we will call you in.',
  },
  patientTelehealthSessionReminder: {
    text: 'Hi {{patient.firstname}}, your video visit with {{provider.name}} starts on {{appointment.date}} at {{appointment.time}}. Join from your phone a few minutes early.',
  },
  patientApptOffer: {
    text: 'Hi {{patient.firstname}}, an earlier appointment with {{provider.name}} at {{facility.name}} is available on {{appointment.date}} at {{appointment.time}}. Reply YES to take it or NO to pass.',
  },
  patientApptOfferParallel: {
    text: 'Hi {{patient.firstname}}, an earlier appointment with {{provider.name}} is available on {{appointment.date}} at {{appointment.time}}. It is offered to a few patients at once: the first to reply YES gets it.',
  },
  patientApptOfferWithReschedule: {
    text: 'Hi {{patient.firstname}}, an earlier appointment with {{provider.name}} is available on {{appointment.date}} at {{appointment.time}}. Reply YES to move your current appointment to it, or NO to keep yours.',
  },
};

/** Whether a message key is a demo sample's name. */
export function isDemoSample(key: string): boolean {
  return Object.hasOwn(DEMO_SAMPLES, key);
}

/** The wording of a sample (its variant when one is asked for and exists); null for a name that is no sample. */
export function demoSampleText(name: string, variant?: string): string | null {
  const sample = (DEMO_SAMPLES as Record<string, { text: string; variants?: Record<string, string> }>)[name];
  if (!sample) return null;
  return (variant ? sample.variants?.[variant] : undefined) ?? sample.text;
}
