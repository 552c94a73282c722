// `npm run bench:slots`: how fast a client gets the open slots of a month. A clinic of 25 providers with working
// hours every weekday of March 2027 (09:00–17:00 New York, 30-minute slots: 9,200 slots), 20 % of them booked (half
// through the slot, half as direct appointments the open-slot query has to subtract). Each run walks the whole month
// as a client does, 100 slots a page: page 1, then the `Link: rel="next"` target while there is one, else page
// numbers (BENCH_PAGING=pages walks by page numbers only, the v1 way). Reports p50/p95 of a page and of the whole
// month on Postgres and on PGlite (BENCH_BACKENDS=postgres or pglite picks one; BENCH_MONTH_RUNS walks, default 5).
import os from 'node:os';
import { inParallel, ms, quantile, startScheduling } from './scheduling-service.mjs';

const PROVIDERS = 25;
const BOOKED_SHARE = 0.2;
const LIMIT = 100;
const NOW = new Date('2027-02-20T12:00:00Z');
const MONTH = { from: '2027-03-01', to: '2027-03-31' };
const runs = Number(process.env.BENCH_MONTH_RUNS ?? 5);
const paging = process.env.BENCH_PAGING === 'pages' ? 'pages' : 'links';
const backends = (process.env.BENCH_BACKENDS ?? 'postgres,pglite').split(',');

// Before the open-slot query was rewritten (a NOT EXISTS scanning the organization's earlier appointments per slot,
// OFFSET pages, a count and a second read per page): this seed, 2 cores shared with other work, Node 20.
// The ratios printed are baseline ÷ now.
const BASELINE = {
  postgres: { pageP95Ms: 4047, monthP50Ms: 181_322 },
  pglite: { pageP95Ms: 30_469, monthP50Ms: 1_276_317 },
};
const TARGET = { pageP95Ms: 100, monthMs: 1000 };

async function bench(backend) {
  const service = await startScheduling(backend, { now: NOW });
  try {
    const { call } = service;
    const seedStarted = performance.now();
    const [patient] = await service.patients(1);
    const facility = (await call('POST', '/api/facilities', { name: 'Bench Clinic', timeZone: 'America/New_York' })).json._id;
    const type = (await call('POST', '/api/appointmentTypes', { name: 'Visit', duration: 30 })).json._id;
    const slots = [];
    for (let index = 0; index < PROVIDERS; index++) {
      const provider = (await call('POST', '/api/providers', { firstname: 'Bench', lastname: `Provider ${index}` })).json._id;
      const hours = { from: MONTH.from, until: MONTH.to, weekdays: [1, 2, 3, 4, 5], start: '09:00', end: '17:00', slotMinutes: 30 };
      slots.push(...(await call('POST', '/api/availabilities', { provider, facility, appointmentType: type, workingHours: hours })).json);
    }
    // A fixed shuffle (Knuth's multiplicative hash), so every run books the same fifth of the slots.
    const order = slots.map((slot, index) => ({ slot, key: (index * 2654435761) % 4294967296 })).sort((a, b) => a.key - b.key);
    const booked = order.slice(0, Math.round(slots.length * BOOKED_SHARE)).map(({ slot }) => slot);
    await inParallel(booked, backend === 'postgres' ? 8 : 1, (slot, index) =>
      index % 2 === 0
        ? call('PUT', `/api/availabilities/${slot._id}/book`, { patient })
        : call('POST', '/api/appointments', { patient, provider: slot.provider, facility, type, date: slot.date, duration: 30 }),
    );
    const seedSeconds = ms((performance.now() - seedStarted) / 1000);
    const open = slots.length - booked.length;

    const pageMs = [];
    const monthMs = [];
    let pages = 0;
    const first = `/api/scheduler/availabilities?from=${MONTH.from}&to=${MONTH.to}&limit=${LIMIT}`;
    const walk = async () => {
      const started = performance.now();
      const seen = new Set();
      let count = 0;
      for (let page = 1, path = first; path; page++) {
        const pageStarted = performance.now();
        const { json, headers } = await call('GET', path);
        pageMs.push(performance.now() - pageStarted);
        count++;
        for (const slot of json.response) seen.add(slot._id);
        const link = paging === 'links' ? /<([^>]+)>;\s*rel="next"/.exec(headers.get('link') ?? '')?.[1] : undefined;
        if (link) path = link;
        else if (page * LIMIT < json.total) path = `${first}&page=${page + 1}`;
        else path = null;
      }
      monthMs.push(performance.now() - started);
      if (seen.size !== open) throw new Error(`the walk saw ${seen.size} distinct open slots, expected ${open}`);
      pages = count;
    };
    await walk(); // warm-up: JIT, pools, caches
    pageMs.length = 0;
    monthMs.length = 0;
    for (let run = 0; run < runs; run++) await walk();

    const page = { p50Ms: ms(quantile(pageMs, 0.5)), p95Ms: ms(quantile(pageMs, 0.95)), samples: pageMs.length };
    const month = { p50Ms: ms(quantile(monthMs, 0.5)), p95Ms: ms(quantile(monthMs, 0.95)), runs: monthMs.length, pages };
    const baseline = BASELINE[backend];
    const ratio = (before, now) => (before ? Number((before / now).toFixed(1)) : null);
    return {
      backend,
      paging,
      slots: slots.length,
      booked: booked.length,
      open,
      seedSeconds,
      page,
      month,
      baseline,
      ratioToBaseline: { pageP95: ratio(baseline.pageP95Ms, page.p95Ms), monthP50: ratio(baseline.monthP50Ms, month.p50Ms) },
      target: { ...TARGET, met: page.p95Ms < TARGET.pageP95Ms && month.p95Ms < TARGET.monthMs },
    };
  } finally {
    await service.close();
  }
}

const results = [];
for (const backend of backends) results.push(await bench(backend));
const report = { machine: { cpus: os.cpus().length, node: process.version }, providers: PROVIDERS, limit: LIMIT, results };
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
