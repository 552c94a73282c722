import { serviceTopics } from '@pep/db';

/**
 * The patients service's topics: what it publishes (from the contracts registry) and what each of its consumer groups
 * reads. The migration Job creates these topics and their dead-letter topics; app.ts's consume() calls must match.
 */
export const topics = serviceTopics('patients', {
  journey: ['messaging.consent', 'patients.patient', 'patients.referral', 'scheduling.appointment'],
  'referral-settings': ['auth.settings'],
  referrals: ['messaging.referral-outreach', 'patients.patient', 'scheduling.appointment', 'scheduling.offer'],
});
