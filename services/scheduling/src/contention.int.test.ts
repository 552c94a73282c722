import { DatabaseContentionError, openDatabase, retryingTransactions, sqlState, type Database } from '@pep/db';
import { kafkaBrokers } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { booking, catalog, create } from '../test/fixtures.js';
import { as, knownPatients, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';
import { PrismaClient } from './generated/prisma/client.js';

const WAY = 20;
const BOOKING_ROUNDS = 30;
const OFFER_ROUNDS = 10;
const MOVE_ROUNDS = 10;

type Response = Awaited<ReturnType<SchedulingUnderTest['app']['inject']>>;

/** Every response of a round is 200 or a 409 problem document; a 5xx fails the round with its body. */
function expectNoServerError(responses: Response[], round: number) {
  for (const response of responses) {
    expect(response.statusCode, `round ${round}: ${response.statusCode} ${response.body}`).toBeLessThan(500);
    if (response.statusCode !== 200) {
      expect(response.statusCode, `round ${round}: ${response.body}`).toBe(409);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
  }
}

// Concurrency is proven on real Postgres only: the embedded database is one session and would serialize everything.
describe('scheduling service: every request that loses a race answers 409, round after round', () => {
  let service: SchedulingUnderTest;
  let sql: pg.Client;

  beforeAll(async () => {
    // A connection per request, so all of them really are in flight together.
    service = await startScheduling('contention', await kafkaBrokers(), { poolMax: WAY + 4 });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const count = async (query: string, values: unknown[]) => (await sql.query(query, values)).rows[0].n as number;

  it(`books one slot once in each of ${BOOKING_ROUNDS} rounds of ${WAY} simultaneous bookings by appointment and by availability`, async () => {
    const org = organization();
    const headers = await as(org.staff);
    const records = await catalog(service.app, await as(org.admin));
    const patients = await knownPatients(service, org.id, WAY);
    for (let round = 0; round < BOOKING_ROUNDS; round += 1) {
      const date = new Date(Date.UTC(2099, 0, 1, 14) + round * 86_400_000);
      const slot = await create(service.app, headers, '/api/availabilities', {
        provider: records.provider,
        facility: records.facility,
        appointmentType: records.type,
        date: date.toISOString(),
      });
      // A third each: a direct booking overlapping the slot (each at its own minute, so the exclusion constraint decides), and both availability routes.
      const responses = await Promise.all(
        patients.map((patient, i) => {
          if (i % 3 === 0) {
            const at = new Date(date.getTime() + (i % 15) * 60_000).toISOString();
            return service.app.inject({ method: 'POST', url: '/api/appointments', headers, payload: booking(records, at, { patient }) });
          }
          const url = i % 3 === 1 ? `/api/availabilities/${slot._id}/book` : `/api/availabilities/book/${slot._id}`;
          return service.app.inject({ method: i % 3 === 1 ? 'PUT' : 'POST', url, headers, payload: { patient } });
        }),
      );
      expectNoServerError(responses, round);
      expect(
        responses.filter((response) => response.statusCode === 200),
        `round ${round}`,
      ).toHaveLength(1);
      const window = [date.toISOString(), new Date(date.getTime() + 60 * 60_000).toISOString()];
      expect(
        await count('SELECT count(*)::int AS n FROM appointment WHERE provider = $1 AND date >= $2 AND date < $3', [
          records.provider,
          ...window,
        ]),
      ).toBe(1);
    }
  });

  it(`lets one acceptance of an offer win in each of ${OFFER_ROUNDS} rounds of 10 simultaneous acceptances and a booking of its slot`, async () => {
    const org = organization();
    const headers = await as(org.staff);
    const records = await catalog(service.app, await as(org.admin));
    for (let round = 0; round < OFFER_ROUNDS; round += 1) {
      const waiting = await knownPatients(service, org.id, 5);
      const entries: Array<{ _id: string }> = [];
      for (const patient of waiting) entries.push(await create(service.app, headers, '/api/waitlists', { patient }));
      const date = new Date(Date.UTC(2099, 5, 1, 9) + round * 86_400_000).toISOString();
      const offer = await create(service.app, headers, '/api/offers', {
        provider: records.provider,
        facility: records.facility,
        appointmentType: records.type,
        date,
        protocol: 'parallel',
        waitlists: entries.map((entry) => entry._id),
      });
      const [direct, ...acceptances] = await Promise.all([
        service.app.inject({
          method: 'POST',
          url: '/api/appointments',
          headers,
          payload: booking(records, date, { patient: (await knownPatients(service, org.id, 1))[0] }),
        }),
        ...Array.from({ length: 10 }, (_, i) =>
          service.app.inject({ method: 'GET', url: `/api/waitlists/confirmOffer/${entries[i % 5]!._id}`, headers }),
        ),
      ]);
      expectNoServerError([direct!, ...acceptances], round);
      // The slot went to the direct booking or to one waiting patient (whose entry may answer 200 more than once), never both.
      const accepted = new Set(
        acceptances.filter((response) => response.statusCode === 200).map((response) => response.json()._id as string),
      );
      expect(accepted.size + (direct!.statusCode === 200 ? 1 : 0), `round ${round}`).toBe(1);
      expect(await count('SELECT count(*)::int AS n FROM appointment WHERE provider = $1 AND date = $2', [records.provider, date])).toBe(1);
      const status = (await service.app.inject({ url: `/api/offers/${offer._id}`, headers })).json().status;
      expect(status).toBe(accepted.size === 1 ? 'patient-found' : 'cancelled');
    }
  });

  it(`keeps a provider's waitlist a permutation in each of ${MOVE_ROUNDS} rounds of simultaneous moves and an offer of its entries`, async () => {
    const org = organization();
    const headers = await as(org.staff);
    const records = await catalog(service.app, await as(org.admin));
    for (let round = 0; round < MOVE_ROUNDS; round += 1) {
      // Fresh entries each round: the last round's offer holds its entries.
      const ids: string[] = [];
      for (const patient of await knownPatients(service, org.id, 8))
        ids.push((await create(service.app, headers, '/api/waitlists', { patient, provider: records.provider }))._id);
      const date = new Date(Date.UTC(2099, 8, 1, 9) + round * 86_400_000).toISOString();
      // An offer updates the entries it reaches in rank order while every move locks them all in id order.
      const [offer, ...moves] = await Promise.all([
        service.app.inject({
          method: 'POST',
          url: '/api/offers',
          headers,
          payload: {
            provider: records.provider,
            facility: records.facility,
            appointmentType: records.type,
            date,
            protocol: 'parallel',
            waitlists: [...ids].reverse(),
          },
        }),
        ...Array.from({ length: 8 }, (_, i) =>
          service.app.inject({
            method: 'POST',
            url: `/api/waitlists/move/update-position/${records.provider}/${ids[i]}/${ids[(i * 3 + round) % 8]}`,
            headers,
          }),
        ),
      ]);
      expectNoServerError([offer!, ...moves], round);
      const positions = (await sql.query('SELECT position FROM waitlist WHERE provider = $1 AND NOT deleted', [records.provider])).rows.map(
        (row) => row.position as number,
      );
      expect(new Set(positions).size, `round ${round}: positions ${positions.join(',')}`).toBe(positions.length);
      expect(offer!.statusCode, `round ${round}: ${offer!.body}`).toBe(200);
    }
  });

  describe('a transaction Postgres aborts for a deadlock', () => {
    let database: Database;
    let prisma: PrismaClient;
    beforeAll(async () => {
      database = await openDatabase({ kind: 'postgres', url: service.databaseUrl, poolMax: 4 });
      prisma = new PrismaClient({ adapter: database.adapter, transactionOptions: { maxWait: 2_000, timeout: 10_000 } });
    });
    afterAll(async () => {
      await prisma?.$disconnect();
      await database?.close();
    });

    /** Two transactions taking two locks in opposite order, each waiting for the other's first lock: a deadlock Postgres breaks by aborting one. */
    async function deadlock(client: PrismaClient) {
      const runs = { first: 0, second: 0 };
      let arrived = 0;
      let release!: () => void;
      const bothHoldOne = new Promise<void>((resolve) => (release = resolve));
      const lockBoth = (name: 'first' | 'second', one: number, other: number) =>
        client.$transaction(async (tx) => {
          runs[name] += 1;
          await tx.$executeRawUnsafe('SELECT pg_advisory_xact_lock($1)', one);
          arrived += 1;
          if (arrived === 2) release();
          await bothHoldOne;
          await tx.$executeRawUnsafe('SELECT pg_advisory_xact_lock($1)', other);
          return name;
        });
      const outcomes = await Promise.allSettled([lockBoth('first', 7001, 7002), lockBoth('second', 7002, 7001)]);
      return { runs, outcomes };
    }

    it('fails one of them without the retry, as a deadlock (the failure the retry exists for)', async () => {
      const { outcomes } = await deadlock(prisma);
      const failed = outcomes.filter((outcome) => outcome.status === 'rejected');
      expect(failed).toHaveLength(1);
      expect(sqlState((failed[0] as PromiseRejectedResult).reason)).toBe('40P01');
    });

    it('runs the aborted one again, so both commit', async () => {
      const { runs, outcomes } = await deadlock(retryingTransactions(prisma));
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled']);
      expect(runs.first + runs.second).toBe(3);
    });

    it('answers 409 when the retries run out, keeping the SQLSTATE readable', async () => {
      const { outcomes } = await deadlock(retryingTransactions(prisma, { attempts: 1 }));
      const failed = outcomes
        .filter((outcome) => outcome.status === 'rejected')
        .map((outcome) => (outcome as PromiseRejectedResult).reason);
      expect(failed).toHaveLength(1);
      expect(failed[0]).toBeInstanceOf(DatabaseContentionError);
      expect(failed[0]).toMatchObject({ statusCode: 409, problemType: 'conflict' });
      expect(sqlState(failed[0])).toBe('40P01');
    });

    it('answers 503 with Retry-After when a transaction cannot start in time', async () => {
      const single = await openDatabase({ kind: 'postgres', url: service.databaseUrl, poolMax: 1 });
      const busy = retryingTransactions(
        new PrismaClient({ adapter: single.adapter, transactionOptions: { maxWait: 200, timeout: 5_000 } }),
      );
      try {
        let finish!: () => void;
        const holding = busy.$transaction(() => new Promise<void>((resolve) => (finish = resolve)));
        const starved = await busy.$transaction(async () => 'ran').catch((error: unknown) => error);
        finish();
        await holding;
        expect(starved).toBeInstanceOf(DatabaseContentionError);
        expect(starved).toMatchObject({ statusCode: 503, problemType: 'database-busy', code: 'P2028', headers: { 'retry-after': '1' } });
      } finally {
        await busy.$disconnect();
        await single.close();
      }
    });
  });
});
