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
  /** Whether it is a trial organization sales created for a prospect (added within v1; absent means false). */
  demo: z.boolean().optional(),
  /**
   * Whether it is suspended for an unpaid bill (added within v1; absent means false): it may read and export, not write.
   * Unlike `active` false, nothing of it is refused to read, revoked or deleted.
   */
  billingSuspended: z.boolean().optional(),
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
  /** Whether the user asked for no platform e-mails beyond those their account needs (added within v1). */
  unsubscribed: z.boolean().optional(),
});

/** An organization signed up. */
export const organizationCreatedV1 = defineEvent({
  type: 'organization.created',
  version: 1,
  topic: ORGANIZATION_TOPIC,
  data: organizationSnapshot,
});

/** An organization changed; the full new snapshot and the names of the changed fields. */
export const organizationUpdatedV1 = defineEvent({
  type: 'organization.updated',
  version: 1,
  topic: ORGANIZATION_TOPIC,
  data: organizationSnapshot.extend({ changed: z.array(z.string()).min(1) }),
});

/** An organization was deleted (soft): it answers 404, nobody can switch into it, and its sessions were revoked. */
export const organizationDeletedV1 = defineEvent({
  type: 'organization.deleted',
  version: 1,
  topic: ORGANIZATION_TOPIC,
  data: z.object({ _id: z.uuid() }),
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

/**
 * A user's password was changed (by a reset link); every access token issued to them before the event's `time`, in any
 * organization, must be refused from now on. Keyed by the user; the envelope's organization is one they belong to.
 */
export const userPasswordChangedV1 = defineEvent({
  type: 'user.password-changed',
  version: 1,
  topic: USER_TOPIC,
  data: z.object({ _id: z.uuid() }),
});

/** Why a user's sessions in an organization were revoked. */
export const sessionRevocationReasons = ['refresh-token-reuse'] as const;

/**
 * A user's sessions in the event's organization were revoked (their refresh tokens die); access tokens issued to them
 * there before the event's `time` must be refused from now on.
 */
export const userSessionsRevokedV1 = defineEvent({
  type: 'user.sessions-revoked',
  version: 1,
  topic: USER_TOPIC,
  data: z.object({
    /** User id. */
    _id: z.uuid(),
    /** What caused it: a refresh token presented twice means it leaked. */
    reason: z.enum(sessionRevocationReasons),
  }),
});

const SETTINGS_TOPIC = 'auth.settings';
const INTEGRATOR_CLIENT_TOPIC = 'auth.integrator-client';
const GROUP_TOPIC = 'auth.group';

/** What a setting record configures: a user, provider, facility, appointment type, integrator client or the whole organization. */
export const settingRefs = ['user', 'provider', 'facility', 'appointment-type', 'integrator', 'organization'] as const;

const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 24-hour clock');

/** Whether the runtime knows an IANA time zone name. */
function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** Limits an organization may set on the messages it sends, each the most per window; the platform's limits still apply. */
export const sendQuotaSetting = z
  .object({
    /** Messages to one patient per hour. */
    patientPerHour: z.number().int().min(1).optional(),
    /** Messages to one patient per day (UTC). */
    patientPerDay: z.number().int().min(1).optional(),
    /** Messages of the organization per minute. */
    organizationPerMinute: z.number().int().min(1).optional(),
    /** Messages of the organization per day (UTC). */
    organizationPerDay: z.number().int().min(1).optional(),
  })
  .strict()
  .describe(
    'Tighter limits than the platform’s on messages sent: per patient an hour and a day, per organization a minute and a day. Higher values have no effect.',
  );
export type SendQuotaSetting = z.infer<typeof sendQuotaSetting>;

/**
 * Setting properties. The documented keys are the ones other services act on (reminders, scheduling, offers);
 * any other key is kept as given so clients can store their own preferences. Every key is optional: a missing
 * one means {@link SETTING_DEFAULTS} (or the value inherited from a broader setting).
 */
export const settingProperties = z
  .object({
    /** Hours before an appointment at which reminders go out. */
    reminderOffsetsHours: z.array(z.number().int().min(0).max(8760)).max(10).optional().describe('Default [168, 96, 48].'),
    /** Start of the hours in which patients may be messaged (local time). */
    quietHoursStart: clockTime.optional().describe('Messages are held outside quietHoursStart..quietHoursEnd. Default 08:00.'),
    /** End of the hours in which patients may be messaged (local time). */
    quietHoursEnd: clockTime.optional().describe('Default 20:00.'),
    /** IANA time zone the clock times above are read in. */
    timeZone: z.string().max(64).refine(isTimeZone, 'an IANA time zone, e.g. America/New_York').optional(),
    /** Whether two appointments may share one provider's slot. */
    allowDoubleBooking: z.boolean().optional().describe('Default false.'),
    /** How a freed slot is offered to waitlisted patients: to several at once, or one after another. */
    offerProtocol: z.enum(['parallel', 'serial']).optional().describe('Default parallel.'),
    /** How many patients one freed slot is offered to. */
    maxOffersPerSlot: z.number().int().min(1).max(100).optional().describe('Default 5.'),
    /** Minutes after which an unanswered offer lapses. */
    offerExpiryMinutes: z.number().int().min(1).max(10_080).optional().describe('Default 60.'),
    /** Whether accepted offers wait for the front office to approve them. */
    frontOfficeAcceptance: z.boolean().optional().describe('Default false.'),
    /** Minutes of an appointment booked with neither an appointment type nor a duration. */
    appointmentDurationMinutes: z.number().int().min(1).max(1440).optional().describe('Default 15.'),
    /** Text shown to patients who ask for help. */
    helpText: z.string().max(2000).optional(),
    /** The organization's own, tighter send quota (messaging, ADR 0012); a limit above the platform's has no effect. */
    sendQuota: sendQuotaSetting.optional(),
    /** Whether a new referral starts `active` (outreach begins) instead of `pending` review. */
    referralAutoApprove: z.boolean().optional().describe('Default false.'),
    /** Days after a referral's start on which outreach attempts go out (day 0 is the start). */
    referralOutreachDays: z.array(z.number().int().min(0).max(365)).min(1).max(10).optional().describe('Default [0, 2, 5, 10].'),
    /** Days after its start at which a referral with no appointment expires. */
    referralExpiryDays: z.number().int().min(1).max(3650).optional().describe('Default 30.'),
    /** Whether a broadcast waits for a second user's approval before it sends. */
    broadcastReviewRequired: z.boolean().optional().describe('Default false.'),
    /** Broadcast texts sent per hour per organization; 0 sends without a limit. */
    broadcastRatePerHour: z.number().int().min(0).max(1_000_000).optional().describe('Default 500; 0 for no limit.'),
    /** The review page (Google, Yelp…) patients who rate a visit 9 or 10 are invited to: a facility's own, else the organization's. */
    reviewLink: z
      .url({ protocol: /^https?$/ })
      .max(2000)
      .optional()
      .describe(
        'An http(s) URL, set on a facility (ref facility) or the organization; a facility’s own comes first. None: promoters are thanked only.',
      ),
    /** The page where patients book an appointment themselves, given in follow-up texts as {{booking.link}}. */
    bookingLink: z
      .url({ protocol: /^https?$/ })
      .max(2000)
      .optional()
      .describe(
        'An http(s) URL, set on a facility (ref facility) or the organization; a facility’s own comes first. None: texts give the facility’s phone instead.',
      ),
  })
  .catchall(z.unknown());
export type SettingProperties = z.infer<typeof settingProperties>;

/** The value of each documented setting when no setting record gives one. */
export const SETTING_DEFAULTS = {
  reminderOffsetsHours: [168, 96, 48],
  quietHoursStart: '08:00',
  quietHoursEnd: '20:00',
  allowDoubleBooking: false,
  offerProtocol: 'parallel',
  maxOffersPerSlot: 5,
  offerExpiryMinutes: 60,
  frontOfficeAcceptance: false,
  appointmentDurationMinutes: 15,
  referralAutoApprove: false,
  referralOutreachDays: [0, 2, 5, 10],
  referralExpiryDays: 30,
  broadcastReviewRequired: false,
  broadcastRatePerHour: 500,
} as const satisfies SettingProperties;

/**
 * A setting record was created, changed or deleted. Carries the whole new state, so a read model can replace its
 * copy; `deleted` tells it to drop the copy.
 */
export const settingsChangedV1 = defineEvent({
  type: 'settings.changed',
  version: 1,
  topic: SETTINGS_TOPIC,
  data: z.object({
    /** Setting id. */
    _id: z.uuid(),
    /** Organization the setting belongs to (also the envelope's). */
    organization: z.uuid(),
    /** What the setting configures. */
    ref: z.enum(settingRefs),
    /** Id of what it configures; the organization id when `ref` is organization. */
    refId: z.string(),
    /** The setting properties as stored now. */
    settings: settingProperties,
    /** Message keys the subject no longer wants. */
    unsubscribed: z.array(z.string()),
    /** Whether the subject wants no messages at all. */
    unsubscribedAll: z.boolean(),
    /** Whether the setting was deleted. */
    deleted: z.boolean(),
  }),
});

/** What other services may know of an integrator client; never its secret. */
const integratorClientSnapshot = z.object({
  /** Integrator client id (the `sub` of its access tokens). */
  _id: z.uuid(),
  /** Display name. */
  name: z.string(),
  /** Public client id used to log in. */
  clientId: z.string(),
  /** Roles its access tokens carry. */
  roles: z.array(z.string()),
  /** Whether it may log in. */
  active: z.boolean(),
});

/** An integrator client was registered. */
export const integratorClientCreatedV1 = defineEvent({
  type: 'integrator-client.created',
  version: 1,
  topic: INTEGRATOR_CLIENT_TOPIC,
  data: integratorClientSnapshot,
});

/** An integrator client changed (name, roles, active, rateLimitPerMinute); the full new snapshot and the changed fields. */
export const integratorClientUpdatedV1 = defineEvent({
  type: 'integrator-client.updated',
  version: 1,
  topic: INTEGRATOR_CLIENT_TOPIC,
  data: integratorClientSnapshot.extend({ changed: z.array(z.string()).min(1) }),
});

/** An integrator client was deleted; it can no longer log in. */
export const integratorClientDeletedV1 = defineEvent({
  type: 'integrator-client.deleted',
  version: 1,
  topic: INTEGRATOR_CLIENT_TOPIC,
  data: z.object({ _id: z.uuid() }),
});

/** A group of users (and the facilities it covers) within an organization. */
const groupSnapshot = z.object({
  /** Group id. */
  _id: z.uuid(),
  /** Display name. */
  name: z.string(),
  /** `user` groups are made by people; `system` groups by the platform. */
  type: z.enum(['user', 'system']),
  /** Ids of the member users. */
  users: z.array(z.uuid()),
  /** Ids of the facilities the group covers. */
  facilities: z.array(z.string()),
});

/** A group was created. */
export const groupCreatedV1 = defineEvent({ type: 'group.created', version: 1, topic: GROUP_TOPIC, data: groupSnapshot });

/** A group's name, type or facilities changed; the full new snapshot and the changed fields. */
export const groupUpdatedV1 = defineEvent({
  type: 'group.updated',
  version: 1,
  topic: GROUP_TOPIC,
  data: groupSnapshot.extend({ changed: z.array(z.string()).min(1) }),
});

/** A group was deleted. */
export const groupDeletedV1 = defineEvent({ type: 'group.deleted', version: 1, topic: GROUP_TOPIC, data: z.object({ _id: z.uuid() }) });

/** A user joined a group (added by staff, or by accepting an invitation). */
export const groupMemberAddedV1 = defineEvent({
  type: 'group.member-added',
  version: 1,
  topic: GROUP_TOPIC,
  data: z.object({ _id: z.uuid(), user: z.uuid() }),
});

/** A user left a group. */
export const groupMemberRemovedV1 = defineEvent({
  type: 'group.member-removed',
  version: 1,
  topic: GROUP_TOPIC,
  data: z.object({ _id: z.uuid(), user: z.uuid() }),
});

const WIDGET_TOPIC = 'auth.widget';

/** What other services may know of an organization's booking widget. */
const widgetSnapshot = z.object({
  /** Widget id (the `sub` of its access tokens). */
  _id: z.uuid(),
  /** Display name. */
  name: z.string(),
  /** Web origins its logins are held to; empty means any. */
  allowedOrigins: z.array(z.string()),
  /** Whether it may log in. */
  active: z.boolean(),
});

/** An organization's booking widget was registered. */
export const widgetCreatedV1 = defineEvent({ type: 'widget.created', version: 1, topic: WIDGET_TOPIC, data: widgetSnapshot });

/** A widget changed (name, origins, active); the full new snapshot and the changed fields. */
export const widgetUpdatedV1 = defineEvent({
  type: 'widget.updated',
  version: 1,
  topic: WIDGET_TOPIC,
  data: widgetSnapshot.extend({ changed: z.array(z.string()).min(1) }),
});

/** Channels a demo user can be sent a sample message on. */
export const demoMessageChannels = ['email', 'sms'] as const;

/**
 * The sample messages sales can send a demo account's demo patient (`POST /api/demoUsers/:salesforceId/messages/:name`),
 * as v1 names them; messaging holds their wording.
 */
export const demoSamples = [
  'patientReminder',
  'patientReminderConfirmationThanks',
  'patientReminderCancellationNoShow',
  'patientReminderCancellationThanksWithReschedule',
  'patientDemoLinkToScheduleAppointment',
  'customActionNoShowFollowup',
  'customActionRecall',
  'customActionJoinToWaitingRoom',
  'patientTelehealthSessionReminder',
  'patientApptOffer',
  'patientApptOfferParallel',
  'patientApptOfferWithReschedule',
] as const;
/** A sample message's name. */
export type DemoSample = (typeof demoSamples)[number];

/**
 * Sales asked for a sample message to be sent to a demo user (a prospect trying the platform). Messaging owns sending:
 * it renders the template for the demo organization and sends it to the address given here. Unlike other auth events
 * this one carries the prospect's address, because the prospect asked to receive it; consumers must not log it.
 * Keyed by the demo user.
 */
export const demoUserMessageRequestedV1 = defineEvent({
  type: 'demo-user.message-requested',
  version: 1,
  topic: USER_TOPIC,
  data: z.object({
    /** Demo user id. */
    _id: z.uuid(),
    /** The prospect's CRM (Salesforce) id. */
    salesforceId: z.string().min(1),
    /** Key of the message template to send (messaging's template keys, e.g. reminder). */
    messageTemplate: z.string().min(1),
    /** Channel to send on. */
    channel: z.enum(demoMessageChannels),
    /** Where to send it: an e-mail address for email, an E.164 number for sms. */
    to: z.string().min(1),
    /** Platform admin who asked. */
    requestedBy: z.string().min(1),
    /** The demo user's first name, which the sample greets. */
    firstname: z.string().min(1).optional(),
    /** The demo user's last name. */
    lastname: z.string().min(1).optional(),
    /** The demo account's demo patient, the only one a sample goes to; absent for requests made before demo practices. */
    patient: z.uuid().optional(),
    /** A variant of the sample, e.g. insurance or intake for patientReminderConfirmationThanks. */
    variant: z.string().min(1).max(40).optional(),
  }),
});
