import { serviceTopics } from '@pep/db';

/**
 * The messaging service's topics: what it publishes (from the contracts registry) and what each of its consumer groups
 * reads. The migration Job creates these topics and their dead-letter topics; app.ts's consume() calls must match.
 */
export const topics = serviceTopics('messaging', {
  'read-models': ['auth.organization', 'auth.settings', 'auth.user', 'patients.patient', 'scheduling.facility', 'scheduling.provider'],
  reminders: ['scheduling.appointment', 'scheduling.waitlist'],
  offers: ['scheduling.offer'],
  feedback: ['auth.settings'],
  'referral-outreach': ['patients.referral'],
  followups: ['scheduling.appointment'],
});
