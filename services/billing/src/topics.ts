import { serviceTopics } from '@pep/db';

/**
 * The billing service's topics: what it publishes (from the contracts registry) and what each of its consumer groups
 * reads. The migration Job creates these topics and their dead-letter topics; app.ts's consume() calls must match.
 */
export const topics = serviceTopics('billing', {
  organizations: ['auth.organization'],
  providers: ['scheduling.provider'],
  usage: ['messaging.message'],
  standing: ['billing.charges'],
});
