import { serviceTopics } from '@pep/db';

/**
 * The scheduling service's topics: what it publishes (from the contracts registry) and what each of its consumer groups
 * reads. The migration Job creates these topics and their dead-letter topics; app.ts's consume() calls must match.
 */
export const topics = serviceTopics('scheduling', {
  settings: ['auth.settings'],
  patients: ['patients.patient'],
  'patient-directory': ['patients.patient'],
  offers: ['messaging.reply', 'scheduling.appointment'],
  replies: ['messaging.reply'],
});
