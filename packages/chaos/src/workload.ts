import { sleep, type TwilioFake } from '@pep/testing';
import { operationId, PlatformClient, TwilioWebhooks, type Answer } from './platform-client.js';
import type { Random } from './random.js';

/** What the workload does, one row each in the report. */
export const OPERATION_KINDS = [
  'patient.create',
  'appointment.book',
  'appointment.cancel',
  'waitlist.add',
  'message.send',
  'reply.C',
  'reply.X',
  'reply.STOP',
  'reply.YES',
  'status.out-of-order',
] as const;
/** One of {@link OPERATION_KINDS}. */
export type OperationKind = (typeof OPERATION_KINDS)[number];

/** One operation the workload attempted, with what the platform answered. */
export interface Operation {
  id: string;
  kind: OperationKind;
  /** When it was sent and, if acknowledged, when the answer came (ms since the epoch). */
  startedAt: number;
  answeredAt: number;
  /** The last answer's status (0: none came); `attempts` counts retries of the same request. */
  status: number;
  attempts: number;
  /** A 2xx answer: its effect must appear. */
  acknowledged: boolean;
  /**
   * Whether its requests carried an Idempotency-Key (every retry the same); null for vendors' webhooks, which the
   * platform deduplicates by the vendor's message id instead.
   */
  keyed: boolean | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- per-kind details the checker reads
  data: Record<string, any>;
}

/** A patient the workload made, by the role it plays. */
export interface WorkloadPatient {
  id: string;
  phone: string;
  role: 'reminded' | 'far' | 'waitlisted' | 'holder';
  /** When the platform acknowledged this patient's STOP. */
  stoppedAt?: number;
  replied?: boolean;
}

/** An appointment a booking was acknowledged for. */
export interface BookedAppointment {
  id: string;
  patient: string;
  provider: string;
  date: string;
  far: boolean;
  cancelled: boolean;
}

/** A freed slot offered to three waitlisted patients, who all answer YES at once. */
export interface OfferScenario {
  provider: string;
  date: string;
  cancelledAppointment: string | null;
  waitlisted: string[];
  /** Patients whose YES the platform acknowledged. */
  yes: string[];
}

const AREA_CODES = ['212', '646', '917', '718', '347', '415', '628', '310', '213', '312', '773', '617', '857', '202', '305', '786'];
const HALF_HOUR = 30 * 60_000;
const DAY = 24 * 3_600_000;
/** Bookings one provider takes before the next provider is made. */
const SLOTS_PER_PROVIDER = 40;
/** The share of the API's writes sent with an Idempotency-Key; the others are retried bare, as a naive client does. */
const KEYED_SHARE = 0.5;
/** The share of clients that give up on an answer after {@link IMPATIENT_TIMEOUT_MS} and retry, faults or not. */
const IMPATIENT_SHARE = 0.25;
const IMPATIENT_TIMEOUT_MS = 5_000;

/** The operations a run performs against the platform, and everything it needs to check them afterwards. */
export class Workload {
  readonly operations: Operation[] = [];
  readonly patients = new Map<string, WorkloadPatient>();
  readonly appointments: BookedAppointment[] = [];
  readonly offers: OfferScenario[] = [];
  /** Booking attempts by patient, whether acknowledged or not (an unanswered one may still have booked). */
  readonly bookingAttempts: Array<{ patient: string; provider: string; date: string }> = [];
  /** Providers made for the workload; the offer providers only ever get the offer's slot. */
  readonly providers: string[] = [];
  private readonly bookingProviders: Array<{ id: string; used: number; last: number }> = [];
  private providerCreation: Promise<void> | undefined;
  private phones = 0;
  private farSlots = 0;
  private offerSlots = 0;
  private facility = '';
  private type = '';
  private stopped = false;
  private readonly background = new Set<Promise<void>>();

  constructor(
    private readonly client: PlatformClient,
    private readonly webhooks: TwilioWebhooks,
    private readonly twilio: TwilioFake,
    private readonly random: Random,
    /** The platform's time when the run began; slots far ahead are laid out from it. */
    private readonly start: Date,
    /** The platform's time now (the clock the run moves). */
    private readonly now: () => Date,
    private readonly log: (line: string) => void,
    /** How long an offer scenario waits for its texts before the YES replies go anyway. */
    private readonly offerWaitMs = 90_000,
  ) {}

  /** Signs the clinic up and creates what every booking needs; offers lapse only after days, as the clock moves hours at a time. */
  async setUp(): Promise<void> {
    const signup = await this.client.signup({ firstname: 'Chaos', lastname: 'Monkey', organizationName: 'Fault Injection Clinic' });
    if (signup.status !== 200) throw new Error(`signup failed: ${signup.status} ${JSON.stringify(signup.body)}`);
    const settings = await this.client.request('POST', '/api/settings', {
      ref: 'organization',
      settings: { offerExpiryMinutes: 10_080, offerProtocol: 'parallel' },
    });
    if (settings.status !== 200) throw new Error(`settings failed: ${settings.status} ${JSON.stringify(settings.body)}`);
    this.facility = await this.created('/api/facilities', { name: 'Chaos Street', timeZone: 'America/New_York' });
    this.type = await this.created('/api/appointmentTypes', { name: 'Check-up', duration: 30 });
    await this.addBookingProvider();
  }

  /** Runs `workers` loops of operations until {@link stop}; resolves when they and the offer scenarios are done. */
  async run(workers: number): Promise<void> {
    await Promise.all(Array.from({ length: workers }, () => this.loop()));
    await Promise.allSettled([...this.background]);
  }

  /** Ends the loops after their current operation. */
  stop(): void {
    this.stopped = true;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const roll = this.random.next();
      try {
        if (roll < 0.4) await this.bookReminded();
        else if (roll < 0.52) await this.bookFar();
        else if (roll < 0.6) await this.cancelFar();
        else if (roll < 0.66) this.spawn(this.offerScenario());
        else if (roll < 0.84) await this.replyToReminder();
        else if (roll < 0.92) await this.textPatient();
        else await this.reportOutOfOrder();
      } catch (error) {
        this.log(`workload: ${(error as Error).message}`);
      }
      await sleep(100 + this.random.int(300));
    }
  }

  private spawn(task: Promise<void>): void {
    if (this.background.size >= 2) return;
    const tracked = task
      .catch((error: unknown) => this.log(`offer scenario: ${(error as Error).message}`))
      .finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }

  /**
   * Sends one request, retrying while no answer (a dropped connection, the client's own timeout) or a 5xx comes: half
   * the time with one Idempotency-Key on every try (a careful client, which also waits out `409 idempotency-key-in-use`),
   * otherwise bare (a naive one), so the report shows what a retry costs with and without a key. `keyed` forces a choice.
   */
  private async operate(
    kind: OperationKind,
    method: string,
    path: string,
    body: unknown,
    data: Operation['data'],
    keyed = this.random.next() < KEYED_SHARE,
  ): Promise<Operation> {
    const operation = this.track(kind, keyed, data);
    const timeoutMs = this.random.next() < IMPATIENT_SHARE ? IMPATIENT_TIMEOUT_MS : 20_000;
    let answer: Answer = { status: 0, body: null };
    for (let attempt = 1; attempt <= 6; attempt++) {
      operation.attempts = attempt;
      answer = await this.client.request(method, path, body, keyed ? operation.id : undefined, timeoutMs);
      if (keyed && answer.status === 409 && /idempotency-key-in-use/.test(String(answer.body?.['type'] ?? ''))) {
        await sleep(1_000 * (answer.retryAfter ?? 1));
        continue;
      }
      if (answer.status !== 0 && answer.status < 500) break;
      await sleep(1_000 * attempt);
    }
    operation.status = answer.status;
    operation.answeredAt = Date.now();
    operation.acknowledged = answer.status >= 200 && answer.status < 300;
    operation.data['answer'] = operation.acknowledged ? answer.body : undefined;
    return operation;
  }

  private async created(path: string, body: unknown): Promise<string> {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const answer = await this.client.request('POST', path, body, undefined);
      if (answer.status === 200) return answer.body['_id'] as string;
      if (answer.status !== 0 && answer.status < 500) throw new Error(`${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
      await sleep(1_000 * attempt);
    }
    throw new Error(`${path}: no answer`);
  }

  private async addBookingProvider(): Promise<void> {
    this.providerCreation ??= (async () => {
      const id = await this.created('/api/providers', { firstname: 'Pat', lastname: `Provider ${this.providers.length + 1}` });
      this.providers.push(id);
      this.bookingProviders.push({ id, used: 0, last: 0 });
    })().finally(() => (this.providerCreation = undefined));
    await this.providerCreation;
  }

  private nextPhone(): string {
    const index = this.phones++;
    const area = AREA_CODES[Math.floor(index / 100) % AREA_CODES.length]!;
    // 555-0100 to 555-0199: the numbers set aside for fiction.
    return `+1${area}55501${String(index % 100).padStart(2, '0')}`;
  }

  private async createPatient(role: WorkloadPatient['role']): Promise<WorkloadPatient | null> {
    const phone = this.nextPhone();
    const operation = await this.operate(
      'patient.create',
      'POST',
      '/api/patients',
      { firstname: 'Chaos', lastname: `Patient ${this.phones}`, phone, language: 'en' },
      { phone, role },
    );
    if (!operation.acknowledged) return null;
    const patient: WorkloadPatient = { id: operation.data['answer']['_id'] as string, phone, role };
    this.patients.set(patient.id, patient);
    return patient;
  }

  private async book(patient: WorkloadPatient, provider: string, date: Date, far: boolean): Promise<BookedAppointment | null> {
    const iso = date.toISOString();
    this.bookingAttempts.push({ patient: patient.id, provider, date: iso });
    const operation = await this.operate(
      'appointment.book',
      'POST',
      '/api/appointments',
      { patient: patient.id, provider, facility: this.facility, type: this.type, date: iso },
      { patient: patient.id, provider, date: iso },
    );
    if (!operation.acknowledged) return null;
    const appointment: BookedAppointment = {
      id: operation.data['answer']['_id'] as string,
      patient: patient.id,
      provider,
      date: iso,
      far,
      cancelled: false,
    };
    this.appointments.push(appointment);
    return appointment;
  }

  /** A new patient booked a week ahead: the week-ahead reminder comes due as the clock moves. */
  private async bookReminded(): Promise<void> {
    let slot = this.bookingProviders.find((provider) => provider.used < SLOTS_PER_PROVIDER);
    if (!slot) {
      await this.addBookingProvider();
      slot = this.bookingProviders.at(-1)!;
    }
    slot.used += 1;
    // A week and four hours after the platform's now (on the half hour, after the provider's last booking): the
    // week-ahead reminder is planned before the moving clock passes it, and comes due a few steps later.
    const soonest = Math.ceil((this.now().getTime() + 7 * DAY + 4 * 3_600_000) / HALF_HOUR) * HALF_HOUR;
    const date = Math.max(soonest, slot.last + HALF_HOUR);
    slot.last = date;
    const patient = await this.createPatient('reminded');
    if (!patient) return;
    await this.book(patient, slot.id, new Date(date), false);
  }

  /** A booking a month ahead: no reminder comes due during the run, so cancelling it frees the slot without a text race. */
  private async bookFar(): Promise<void> {
    const provider = this.bookingProviders[0]!.id;
    const index = this.farSlots++;
    const patient = await this.createPatient('far');
    if (!patient) return;
    await this.book(patient, provider, new Date(this.start.getTime() + 30 * DAY + index * HALF_HOUR), true);
  }

  private async cancelFar(): Promise<void> {
    const candidates = this.appointments.filter((appointment) => appointment.far && !appointment.cancelled);
    if (candidates.length === 0) return this.bookFar();
    const appointment = candidates[this.random.int(candidates.length)]!;
    appointment.cancelled = true;
    await this.operate('appointment.cancel', 'PUT', `/api/appointments/${appointment.id}/cancel`, undefined, {
      appointment: appointment.id,
    });
  }

  /** Texts the fake took for a phone number. */
  textsTo(phone: string) {
    return this.twilio.sent.filter((send) => send.kind === 'message' && send.params['To'] === phone);
  }

  /** Staff text a patient booked far ahead: texts reach the vendor steadily, whatever the clock does. */
  private async textPatient(): Promise<void> {
    const far = [...this.patients.values()].filter((patient) => patient.role === 'far');
    if (far.length === 0) return this.bookFar();
    const patient = far[this.random.int(far.length)]!;
    // A reference in the text ties each message to its operation, so a retried request that sent twice shows.
    const reference = operationId().slice(0, 8);
    await this.operate(
      'message.send',
      'POST',
      '/api/messages',
      { patient: patient.id, text: `Please bring your insurance card (ref ${reference}).` },
      { patient: patient.id, reference },
    );
  }

  /**
   * A patient who got a text answers it: C, X or STOP; some replies are delivered twice (Twilio retries a webhook).
   * Some patients send STOP before their reminder is due, so the opt-out meets the dispatcher.
   */
  private async replyToReminder(): Promise<void> {
    const reminded = [...this.patients.values()].filter((patient) => patient.role === 'reminded' && !patient.replied);
    const early = this.random.next() < 0.15;
    const waiting = reminded.filter((patient) => early || this.textsTo(patient.phone).length > 0);
    if (waiting.length === 0) return;
    const patient = waiting[this.random.int(waiting.length)]!;
    patient.replied = true;
    const roll = this.random.next();
    const text = early ? 'STOP' : roll < 0.45 ? 'C' : roll < 0.8 ? 'X' : 'STOP';
    const appointment = this.appointments.find((booked) => booked.patient === patient.id);
    const twice = this.random.next() < 0.3;
    await this.reply(`reply.${text}` as OperationKind, patient, text, { appointment: appointment?.id ?? null, twice });
  }

  /** A new operation, recorded before its first attempt so the checker counts it whatever becomes of it. */
  private track(kind: OperationKind, keyed: boolean | null, data: Operation['data']): Operation {
    const operation: Operation = {
      id: operationId(),
      kind,
      startedAt: Date.now(),
      answeredAt: 0,
      status: 0,
      attempts: 0,
      acknowledged: false,
      keyed,
      data,
    };
    this.operations.push(operation);
    return operation;
  }

  private async reply(kind: OperationKind, patient: WorkloadPatient, text: string, data: Operation['data']): Promise<Operation> {
    const messageSid = TwilioWebhooks.messageSid();
    const operation = this.track(kind, null, { ...data, patient: patient.id, phone: patient.phone, messageSid });
    let answer: Answer = { status: 0, body: null };
    // Twilio retries a webhook that got no answer; with `twice`, it also arrives a second time at once.
    for (let attempt = 1; attempt <= 6; attempt++) {
      operation.attempts = attempt;
      const sends = data['twice']
        ? [this.webhooks.reply(patient.phone, text, messageSid), this.webhooks.reply(patient.phone, text, messageSid)]
        : [this.webhooks.reply(patient.phone, text, messageSid)];
      const answers = await Promise.all(sends);
      answer = answers.find((candidate) => candidate.status === 200) ?? answers[0]!;
      if (answer.status !== 0 && answer.status < 500) break;
      await sleep(1_000 * attempt);
    }
    operation.status = answer.status;
    operation.answeredAt = Date.now();
    operation.acknowledged = answer.status === 200;
    if (operation.acknowledged && text === 'STOP') patient.stoppedAt = operation.answeredAt;
    return operation;
  }

  /** Delivery reports for a text, twice and out of order: delivered, then sent, then delivered again. */
  private async reportOutOfOrder(): Promise<void> {
    const reported = new Set(
      this.operations.filter((operation) => operation.kind === 'status.out-of-order').map((operation) => operation.data['sid'] as string),
    );
    const candidates = this.twilio.sent.filter(
      (send) => send.kind === 'message' && !send.unconfirmed && !reported.has(send.sid) && send.params['StatusCallback'],
    );
    if (candidates.length === 0) return;
    const send = candidates[this.random.int(candidates.length)]!;
    const messageId = new URL(send.params['StatusCallback']!).pathname.split('/').at(-1)!;
    const operation = this.track('status.out-of-order', null, { sid: send.sid, message: messageId });
    let acknowledged = true;
    for (const status of ['delivered', 'sent', 'delivered']) {
      let answer: Answer = { status: 0, body: null };
      for (let attempt = 1; attempt <= 6; attempt++) {
        operation.attempts += 1;
        answer = await this.webhooks.status(messageId, send.sid, send.params['To']!, status);
        if (answer.status !== 0 && answer.status < 500) break;
        await sleep(1_000 * attempt);
      }
      operation.status = answer.status;
      if (answer.status !== 204) acknowledged = false;
    }
    operation.answeredAt = Date.now();
    operation.acknowledged = acknowledged;
  }

  /** Three waitlisted patients, a booking for their provider cancelled, the slot offered to them, and all three say YES at once. */
  private async offerScenario(): Promise<void> {
    const provider = await this.created('/api/providers', { firstname: 'Olive', lastname: `Offer ${this.offers.length + 1}` });
    this.providers.push(provider);
    const date = new Date(this.start.getTime() + 6 * DAY + this.offerSlots++ * HALF_HOUR).toISOString();
    const scenario: OfferScenario = { provider, date, cancelledAppointment: null, waitlisted: [], yes: [] };
    this.offers.push(scenario);
    const waitlisted: WorkloadPatient[] = [];
    for (let index = 0; index < 3; index++) {
      const patient = await this.createPatient('waitlisted');
      if (!patient) continue;
      // Always with a key: a second entry for one patient would have the offer texted to them twice, which the
      // report would count against the platform's offers rather than against this request.
      const entry = await this.operate(
        'waitlist.add',
        'POST',
        '/api/waitlists',
        { patient: patient.id, provider },
        { patient: patient.id, provider },
        true,
      );
      if (entry.acknowledged) {
        waitlisted.push(patient);
        scenario.waitlisted.push(patient.id);
      }
    }
    const holder = await this.createPatient('holder');
    if (!holder || waitlisted.length === 0) return;
    const booked = await this.book(holder, provider, new Date(date), true);
    if (!booked) return;
    booked.cancelled = true;
    const cancel = await this.operate('appointment.cancel', 'PUT', `/api/appointments/${booked.id}/cancel`, undefined, {
      appointment: booked.id,
      offer: true,
    });
    if (!cancel.acknowledged) return;
    scenario.cancelledAppointment = booked.id;
    // Each waits for its offer text; faults may hold texts up for a while.
    const deadline = Date.now() + this.offerWaitMs;
    while (
      Date.now() < deadline &&
      !waitlisted.every((patient) => this.textsTo(patient.phone).some((send) => /YES/i.test(send.params['Body'] ?? '')))
    )
      await sleep(500);
    const answers = await Promise.all(
      waitlisted
        .filter((patient) => this.textsTo(patient.phone).length > 0)
        .map((patient) => this.reply('reply.YES', patient, 'YES', { provider, date, twice: false })),
    );
    scenario.yes = answers.filter((answer) => answer.acknowledged).map((answer) => answer.data['patient'] as string);
  }
}
