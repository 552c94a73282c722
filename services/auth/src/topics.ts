import { serviceTopics } from '@pep/db';

/**
 * The auth service's topics: what it publishes (from the contracts registry) and what each of its consumer groups
 * reads. The migration Job creates these topics and their dead-letter topics; app.ts's consume() calls must match.
 */
export const topics = serviceTopics(
  'auth',
  {
    activities: [
      'auth.group',
      'auth.integrator-client',
      'auth.organization',
      'auth.settings',
      'auth.user',
      'auth.widget',
      'billing.access',
      'billing.charges',
      'billing.subscriptions',
      'messaging.consent',
      'messaging.message',
      'messaging.referral-outreach',
      'messaging.reminder',
      'messaging.reply',
      'patients.patient',
      'patients.referral',
      'scheduling.appointment',
      'scheduling.appointment-type',
      'scheduling.availability',
      'scheduling.facility',
      'scheduling.offer',
      'scheduling.provider',
      'scheduling.waitlist',
    ],
    'patient-accounts': ['patients.patient'],
    'scheduling-records': ['scheduling.appointment-type', 'scheduling.facility', 'scheduling.provider'],
    'billing-access': ['billing.access'],
  },
  { guardOrganizations: false },
);
