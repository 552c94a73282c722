import { z } from 'zod';
import { defineEvent } from '../registry.js';

const ORGANIZATION_TOPIC = 'auth.organization';
const USER_TOPIC = 'auth.user';

/** What other services keep about an organization (tenant). */
const organizationSnapshot = z.object({
  /** Organization id; every other service scopes its rows by it. */
  _id: z.uuid(),
  /** Display name of the clinic or health system. */
  name: z.string(),
  /** Whether the organization may use the platform. */
  active: z.boolean(),
});

/**
 * What other services keep about a staff user within one organization. Names are carried so
 * other services can show who did what; contact details (e-mail) are deliberately left out.
 */
const userSnapshot = z.object({
  /** User id. */
  _id: z.uuid(),
  /** Given name. */
  firstname: z.string(),
  /** Family name. */
  lastname: z.string(),
  /** Roles within the event's organization. */
  roles: z.array(z.string()),
  /** Whether the user may act within the event's organization. */
  active: z.boolean(),
});

/** An organization signed up. */
export const organizationCreatedV1 = defineEvent({ type: 'organization.created', version: 1, topic: ORGANIZATION_TOPIC, data: organizationSnapshot });

/** An organization changed; the full new snapshot and the names of the changed fields. */
export const organizationUpdatedV1 = defineEvent({
  type: 'organization.updated',
  version: 1,
  topic: ORGANIZATION_TOPIC,
  data: organizationSnapshot.extend({ changed: z.array(z.string()).min(1) }),
});

/** A user joined an organization (at signup, or later by invitation). */
export const userCreatedV1 = defineEvent({ type: 'user.created', version: 1, topic: USER_TOPIC, data: userSnapshot });

/** A user's profile or roles within the organization changed. */
export const userUpdatedV1 = defineEvent({
  type: 'user.updated',
  version: 1,
  topic: USER_TOPIC,
  data: userSnapshot.extend({ changed: z.array(z.string()).min(1) }),
});

/** A user was deactivated in the organization; their sessions there were revoked. */
export const userDeactivatedV1 = defineEvent({
  type: 'user.deactivated',
  version: 1,
  topic: USER_TOPIC,
  data: z.object({ _id: z.uuid() }),
});
