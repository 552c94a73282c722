/** The services of the platform; `gateway` answers its own groups. */
export const SERVICES = ['gateway', 'auth', 'scheduling', 'messaging', 'patients', 'billing'] as const;
export type ServiceName = (typeof SERVICES)[number];

/**
 * Which service owns each `/api/<group>` of the v1 API (DESIGN.md). Multi-segment entries are
 * matched before single-segment ones, so `callback/stripe` wins over `callback`.
 */
const OWNERS: Record<string, ServiceName> = {
  // gateway (operations until it earns a service)
  status: 'gateway',
  downtimeMessage: 'gateway',
  'reports/periscope': 'gateway',
  deploymentWebhooks: 'gateway',
  // auth
  users: 'auth',
  organizations: 'auth',
  groups: 'auth',
  groupInvites: 'auth',
  tokens: 'auth',
  widgets: 'auth',
  integratorClients: 'auth',
  settings: 'auth',
  demoUsers: 'auth',
  activities: 'auth',
  // scheduling
  appointments: 'scheduling',
  appointmentTypes: 'scheduling',
  availabilities: 'scheduling',
  scheduler: 'scheduling',
  waitlists: 'scheduling',
  offers: 'scheduling',
  providers: 'scheduling',
  facilities: 'scheduling',
  recalls: 'scheduling',
  // messaging
  reminders: 'messaging',
  broadcasts: 'messaging',
  callback: 'messaging',
  messages: 'messaging',
  'messages-errors': 'messaging',
  messageTemplates: 'messaging',
  patientMessageTemplates: 'messaging',
  chatActivities: 'messaging',
  notifications: 'messaging',
  followups: 'messaging',
  feedbackResponses: 'messaging',
  phoneNumbers: 'messaging',
  contexts: 'messaging',
  'admin/shorten': 'messaging',
  // patients
  patients: 'patients',
  patientSubscribers: 'patients',
  referrals: 'patients',
  insurances: 'patients',
  patientForms: 'patients',
  patientFormTemplates: 'patients',
  fileUploads: 'patients',
  fileMappings: 'patients',
  uploads: 'patients',
  diagnoses: 'patients',
  procedures: 'patients',
  hl7messages: 'patients',
  integrators: 'patients',
  'callback/integrators': 'patients',
  'callback/mi7': 'patients',
  'callback/practicefusion': 'patients',
  'admin/dedupe': 'patients',
  'admin/reload-patients': 'patients',
  // Outside (referring) providers and the NPI registry are patients', though the rest of `providers` is scheduling's.
  'providers/referring': 'patients',
  'providers/npi': 'patients',
  // billing
  billing: 'billing',
  'callback/stripe': 'billing',
};

/** The owning service of an `/api/...` path, or null when no group matches. */
export function ownerOf(path: string): { group: string; service: ServiceName } | null {
  const segments = path
    .split('?')[0]!
    .replace(/^\/api\/?/, '')
    .split('/')
    .filter(Boolean);
  if (segments.length === 0) return null;
  const two = segments.length > 1 ? `${segments[0]}/${segments[1]}` : null;
  if (two && OWNERS[two]) return { group: two, service: OWNERS[two] };
  const one = segments[0]!;
  return OWNERS[one] ? { group: one, service: OWNERS[one] } : null;
}

/** Every group and its owner, for the status page and tests. */
export function listGroups(): Array<{ group: string; service: ServiceName }> {
  return Object.entries(OWNERS).map(([group, service]) => ({ group, service }));
}
