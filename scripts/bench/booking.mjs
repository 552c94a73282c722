// `npm run bench:booking`: booking throughput and a race. Throughput: 400 distinct slots of 10 providers booked
// through `PUT /api/availabilities/:id/book`, 10 requests in flight (the service's pool size), in bookings per second
// and p50/p95 latency. Race: 200 patients book one slot at the same instant, by the availability route and by
// `POST /api/appointments`, BENCH_RACE_ROUNDS times (default 3): exactly one 200, the rest 409, no 5xx (ADR 0021),
// and the wall time until the last answer. On Postgres by default (BENCH_BACKENDS=pglite or postgres,pglite for the
// embedded database). Exits 1 when a race has not exactly one winner or answers anything but 200 and 409.
import os from 'node:os';
import { inParallel, ms, quantile, startScheduling } from './scheduling-service.mjs';

const PROVIDERS = 10;
const BOOKINGS = Number(process.env.BENCH_BOOKINGS ?? 400);
const CONCURRENCY = 10;
const RACERS = 200;
const raceRounds = Number(process.env.BENCH_RACE_ROUNDS ?? 3);
const backends = (process.env.BENCH_BACKENDS ?? 'postgres').split(',');
const NOW = new Date('2027-02-20T12:00:00Z');

// Before bookings took the provider's hour locks (lockProviderHours, now in booking-core.ts): Postgres, 2 cores shared with other work, Node 20.
// The ratios printed are now ÷ baseline for throughput and baseline ÷ now for times, so above 1 is better.
const BASELINE = {
  postgres: { bookingsPerSecond: 15, raceWallMs: { availability: 3237, appointment: 4516 } },
  pglite: { bookingsPerSecond: null, raceWallMs: { availability: null, appointment: null } },
};

async function bench(backend) {
  const service = await startScheduling(backend, { now: NOW });
  try {
    const { call, request } = service;
    const facility = (await call('POST', '/api/facilities', { name: 'Bench Clinic', timeZone: 'America/New_York' })).json._id;
    const type = (await call('POST', '/api/appointmentTypes', { name: 'Visit', duration: 30 })).json._id;
    const slots = [];
    for (let index = 0; index < PROVIDERS; index++) {
      const provider = (await call('POST', '/api/providers', { firstname: 'Bench', lastname: `Provider ${index}` })).json._id;
      const hours = { from: '2027-03-01', until: '2027-03-31', weekdays: [1, 2, 3, 4, 5], start: '09:00', end: '17:00', slotMinutes: 30 };
      slots.push(...(await call('POST', '/api/availabilities', { provider, facility, appointmentType: type, workingHours: hours })).json);
    }
    const patients = await service.patients(RACERS);

    // ---- throughput of distinct bookings ----
    const targets = slots.filter((_, index) => index % 2 === 0).slice(0, BOOKINGS);
    const latencies = [];
    const started = performance.now();
    await inParallel(targets, CONCURRENCY, async (slot, index) => {
      const begun = performance.now();
      await call('PUT', `/api/availabilities/${slot._id}/book`, { patient: patients[index % patients.length] });
      latencies.push(performance.now() - begun);
    });
    const seconds = (performance.now() - started) / 1000;
    const throughput = {
      bookings: targets.length,
      concurrency: CONCURRENCY,
      bookingsPerSecond: Math.round(targets.length / seconds),
      p50Ms: ms(quantile(latencies, 0.5)),
      p95Ms: ms(quantile(latencies, 0.95)),
    };

    // ---- 200-way races on one slot ----
    const free = slots.filter((_, index) => index % 2 === 1);
    const race = async (route, slot) => {
      const begun = performance.now();
      const answers = await Promise.all(
        patients.map((patient) =>
          route === 'availability'
            ? request('PUT', `/api/availabilities/${slot._id}/book`, { patient })
            : request('POST', '/api/appointments', { patient, provider: slot.provider, facility, type, date: slot.date, duration: 30 }),
        ),
      );
      const wallMs = performance.now() - begun;
      const statuses = {};
      for (const { status } of answers) statuses[status] = (statuses[status] ?? 0) + 1;
      return { wallMs, statuses, fair: statuses[200] === 1 && statuses[409] === RACERS - 1 };
    };
    const races = { availability: [], appointment: [] };
    for (let round = 0; round < raceRounds; round++) {
      races.availability.push(await race('availability', free[round * 2]));
      races.appointment.push(await race('appointment', free[round * 2 + 1]));
    }
    const summary = (list) => ({
      rounds: list.length,
      wallMsP50: ms(
        quantile(
          list.map((r) => r.wallMs),
          0.5,
        ),
      ),
      wallMsMax: ms(Math.max(...list.map((r) => r.wallMs))),
      statuses: list.map((r) => r.statuses),
      exactlyOneWinnerNo5xx: list.every((r) => r.fair),
    });
    const raceSummary = { racers: RACERS, availability: summary(races.availability), appointment: summary(races.appointment) };
    const baseline = BASELINE[backend];
    const ratio = (value) => (value ? Number(value.toFixed(2)) : null);
    return {
      backend,
      throughput,
      race: raceSummary,
      baseline,
      ratioToBaseline: {
        bookingsPerSecond: ratio(baseline.bookingsPerSecond && throughput.bookingsPerSecond / baseline.bookingsPerSecond),
        raceWallAvailability: ratio(
          baseline.raceWallMs.availability && baseline.raceWallMs.availability / raceSummary.availability.wallMsP50,
        ),
        raceWallAppointment: ratio(baseline.raceWallMs.appointment && baseline.raceWallMs.appointment / raceSummary.appointment.wallMsP50),
      },
    };
  } finally {
    await service.close();
  }
}

const results = [];
for (const backend of backends) results.push(await bench(backend));
process.stdout.write(`${JSON.stringify({ machine: { cpus: os.cpus().length, node: process.version }, results }, null, 2)}\n`);
if (!results.every((result) => result.race.availability.exactlyOneWinnerNo5xx && result.race.appointment.exactlyOneWinnerNo5xx)) {
  process.stderr.write('a race did not end with exactly one 200 and 409 for the rest\n');
  process.exit(1);
}
