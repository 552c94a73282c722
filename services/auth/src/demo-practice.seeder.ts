import { HttpProblem } from '@pep/service-kit';
import { z } from 'zod';

/** How big a demo practice is, from a demo user's `demoConfiguration`. */
export const demoPracticeSize = z.object({
  providers: z.coerce.number().int().min(1).max(20).default(2).describe('Providers (default 2, at most 20).'),
  facilities: z.coerce.number().int().min(1).max(10).default(1).describe('Facilities (default 1, at most 10).'),
  patients: z.coerce.number().int().min(1).max(100).default(10).describe('Patients, the demo patient included (default 10, at most 100).'),
  waitlists: z.coerce
    .number()
    .int()
    .min(0)
    .max(50)
    .default(3)
    .describe('Waitlisted patients (default 3, at most 50 and fewer than patients).'),
  appointments: z.coerce.number().int().min(0).max(50).optional().describe('Upcoming appointments (default: one per patient, at most 10).'),
  phone: z
    .string()
    .trim()
    .regex(/^\+?[0-9 ().-]{7,20}$/, 'a phone number such as +15551234567')
    .optional()
    .describe('The salesperson’s mobile: the demo patient’s phone, the only number sample messages go to.'),
});
/** A demo practice's size, defaults filled. */
export type DemoPracticeSize = z.output<typeof demoPracticeSize> & { appointments: number };

/** Reads the size from `demoConfiguration` (other keys are kept but not used); throws a 400 naming the field at fault. */
export function sizeOf(configuration: Record<string, unknown> | undefined): DemoPracticeSize {
  const parsed = demoPracticeSize.safeParse(configuration ?? {});
  if (!parsed.success) {
    const errors = parsed.error.issues.map((issue) => ({
      field: ['body', 'demoConfiguration', ...issue.path].join('.'),
      message: issue.message,
    }));
    throw new HttpProblem(400, 'validation-failed', 'demoConfiguration has an invalid size or phone.', { errors });
  }
  const size = parsed.data;
  // Patients beyond the appointment holders wait; the demo patient is the first and always has an appointment when any are booked.
  const appointments = Math.min(size.appointments ?? Math.min(size.patients, 10), size.patients);
  return { ...size, waitlists: Math.min(size.waitlists, size.patients - 1), appointments };
}

/** Ids of what was seeded so far; stored with the demo user after every step, so a retry carries on where it stopped. */
export interface DemoPractice {
  facilities: string[];
  providers: string[];
  appointmentTypes: string[];
  /** Providers whose working hours were opened. */
  workingHours: string[];
  /** Patients, the demo patient first. */
  patients: string[];
  demoPatient: string | null;
  /** The demo patient's phone as patients stored it (E.164). */
  demoPhone: string | null;
  waitlists: string[];
  appointments: string[];
  completedAt: string | null;
}

/** An empty practice, before any step. */
export const NO_PRACTICE: DemoPractice = {
  facilities: [],
  providers: [],
  appointmentTypes: [],
  workingHours: [],
  patients: [],
  demoPatient: null,
  demoPhone: null,
  waitlists: [],
  appointments: [],
  completedAt: null,
};

const PROVIDERS = [
  'Grace Hopper',
  'Alan Turing',
  'Ada Byron',
  'Edsger Dijkstra',
  'Barbara Liskov',
  'Donald Knuth',
  'Frances Allen',
  'John Backus',
];
const FIRST = [
  'Avery',
  'Blake',
  'Casey',
  'Devon',
  'Emerson',
  'Finley',
  'Harper',
  'Jordan',
  'Kai',
  'Logan',
  'Morgan',
  'Parker',
  'Quinn',
  'Riley',
  'Sage',
];
const LAST = ['Adams', 'Baker', 'Clark', 'Diaz', 'Evans', 'Foster', 'Garcia', 'Hughes'];
const TYPES = [
  { name: 'Check-up', duration: 30 },
  { name: 'Follow-up', duration: 15 },
];
const TIME_ZONE = 'America/New_York';
const DAY_MS = 86_400_000;
const REQUEST_TIMEOUT_MS = 15_000;

/** The seeder's collaborators: where the gateway is, and how progress is kept. */
export interface DemoPracticeSeederDeps {
  /** The gateway's base URL; undefined while unknown (embedded, before the gateway listens). */
  gatewayUrl: () => string | undefined;
  clock: () => Date;
}

/** Whom the practice is for. */
export interface DemoAccount {
  token: string;
  firstname: string;
  lastname: string;
}

/**
 * Seeds a demo practice through the public API, with the demo account's own token, as a sales tool would: auth never
 * writes another service's data, and each service checks the requests like any other (ADR 0023). Every step records
 * the ids it made through `save` before the next one starts, so a retry after a failure resumes instead of duplicating.
 */
export class DemoPracticeSeeder {
  constructor(private readonly deps: DemoPracticeSeederDeps) {}

  /** Whether a gateway is configured, so practices can be seeded at all. */
  get enabled(): boolean {
    return this.deps.gatewayUrl() !== undefined;
  }

  /** Seeds what `practice` does not hold yet; answers the completed practice. */
  async seed(
    account: DemoAccount,
    size: DemoPracticeSize,
    start: DemoPractice,
    save: (practice: DemoPractice) => Promise<void>,
  ): Promise<DemoPractice> {
    const base = this.deps.gatewayUrl();
    if (!base)
      throw new HttpProblem(503, 'demo-practice-unavailable', 'No gateway is configured (GATEWAY_URL) to seed demo practices through.');
    const api = new Api(base, account.token);
    let practice = { ...start };
    const step = async (change: Partial<DemoPractice>) => {
      practice = { ...practice, ...change };
      await save(practice);
    };

    while (practice.facilities.length < size.facilities) {
      const n = practice.facilities.length + 1;
      const facility = await api.post('/api/facilities', {
        name: n === 1 ? 'Main Street Clinic' : `Main Street Clinic ${n}`,
        timeZone: TIME_ZONE,
      });
      await step({ facilities: [...practice.facilities, facility] });
    }
    while (practice.providers.length < size.providers) {
      const n = practice.providers.length;
      const [firstname = 'Demo', lastname = 'Provider'] = PROVIDERS[n % PROVIDERS.length]!.split(' ');
      const provider = await api.post('/api/providers', { firstname, lastname: n < PROVIDERS.length ? lastname : `${lastname} ${n + 1}` });
      await step({ providers: [...practice.providers, provider] });
    }
    while (practice.appointmentTypes.length < TYPES.length) {
      const type = await api.post('/api/appointmentTypes', TYPES[practice.appointmentTypes.length]);
      await step({ appointmentTypes: [...practice.appointmentTypes, type] });
    }
    const today = new Date(this.deps.clock().getTime()).toISOString().slice(0, 10);
    const inTwoWeeks = new Date(this.deps.clock().getTime() + 14 * DAY_MS).toISOString().slice(0, 10);
    for (const [index, provider] of practice.providers.entries()) {
      if (practice.workingHours.includes(provider)) continue;
      await api.post('/api/availabilities', {
        provider,
        facility: practice.facilities[index % practice.facilities.length],
        appointmentType: practice.appointmentTypes[0],
        workingHours: { from: today, until: inTwoWeeks, weekdays: [1, 2, 3, 4, 5], start: '09:00', end: '17:00', slotMinutes: 30 },
      });
      await step({ workingHours: [...practice.workingHours, provider] });
    }
    while (practice.patients.length < size.patients) {
      const n = practice.patients.length;
      // Only the demo patient has contact details: whatever the practice sends (reminders, offers) reaches no one else.
      const body =
        n === 0
          ? { firstname: account.firstname, lastname: account.lastname, ...(size.phone ? { phone: size.phone } : {}) }
          : {
              firstname: FIRST[n % FIRST.length],
              lastname: `${LAST[Math.floor(n / FIRST.length) % LAST.length]}${n >= FIRST.length * LAST.length ? ` ${n}` : ''}`,
            };
      const created = await api.postFull('/api/patients', body).catch((error: unknown) => {
        // Patients judges phone numbers; a number it refuses is the caller's to fix, and the same request with it resumes.
        if (n === 0 && error instanceof ApiError && error.status === 400 && error.fields.some((field) => field.endsWith('phone'))) {
          throw new HttpProblem(400, 'validation-failed', 'The demo patient cannot have this phone; send the request again with another.', {
            errors: [{ field: 'body.demoConfiguration.phone', message: 'not a phone number patients accepts, e.g. +14155550123' }],
          });
        }
        throw error;
      });
      await step({
        patients: [...practice.patients, String(created['_id'])],
        ...(n === 0
          ? { demoPatient: String(created['_id']), demoPhone: typeof created['phone'] === 'string' ? created['phone'] : null }
          : {}),
      });
    }
    // Tomorrow on, half-hourly from 10:00 New York time (14:00 UTC is 9 or 10 there), one appointment per patient.
    const firstSlot = Date.parse(`${new Date(this.deps.clock().getTime() + DAY_MS).toISOString().slice(0, 10)}T14:00:00.000Z`);
    while (practice.appointments.length < size.appointments) {
      const n = practice.appointments.length;
      const appointment = await api.post('/api/appointments', {
        patient: practice.patients[n],
        provider: practice.providers[n % practice.providers.length],
        facility: practice.facilities[(n % practice.providers.length) % practice.facilities.length],
        type: practice.appointmentTypes[0],
        date: new Date(firstSlot + Math.floor(n / practice.providers.length) * 30 * 60_000).toISOString(),
      });
      await step({ appointments: [...practice.appointments, appointment] });
    }
    while (practice.waitlists.length < size.waitlists) {
      // The last patients wait, so the demo patient (the first) waits only when every patient does.
      const patient = practice.patients[practice.patients.length - 1 - practice.waitlists.length];
      const entry = await api.post('/api/waitlists', {
        patient,
        provider: practice.providers[0],
        facility: practice.facilities[0],
        appointmentType: practice.appointmentTypes[0],
      });
      await step({ waitlists: [...practice.waitlists, entry] });
    }
    if (!practice.completedAt) await step({ completedAt: this.deps.clock().toISOString() });
    return practice;
  }
}

/** A refused request of the seeder; the message names the status, problem type and fields only, as answers may echo a patient's name. */
class ApiError extends Error {
  constructor(
    path: string,
    readonly status: number,
    type: string,
    readonly fields: string[],
  ) {
    super(`POST ${path} answered ${status} ${type} ${fields.join(', ')}`.trim());
  }
}

/** The public API as the demo account calls it. */
class Api {
  constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}

  /** POSTs and answers the created record's id. */
  async post(path: string, body: unknown): Promise<string> {
    return String((await this.postFull(path, body))['_id']);
  }

  /** POSTs and answers the created record; waits out the gateway's rate limit once. */
  async postFull(path: string, body: unknown): Promise<Record<string, unknown>> {
    for (let attempt = 1; ; attempt += 1) {
      const response = await fetch(`${this.base}${path}`, {
        method: 'POST',
        headers: { 'x-access-token': `Bearer ${this.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
      if (response.ok) return answer;
      const retryAfter = Number(response.headers.get('retry-after') ?? '1');
      if ((response.status === 429 || response.status === 503) && attempt < 3 && retryAfter <= 60) {
        await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
        continue;
      }
      const fields = Array.isArray(answer['errors'])
        ? (answer['errors'] as Array<{ field?: unknown }>).map((error) => String(error.field))
        : [];
      throw new ApiError(path, response.status, String(answer['type'] ?? ''), fields);
    }
  }
}
