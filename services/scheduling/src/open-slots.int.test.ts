import { randomUUID } from 'node:crypto';
import { kafkaBrokers } from '@pep/testing';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hoursNearTransition, ZONES } from '../test/dst.js';
import { create } from '../test/fixtures.js';
import { as, knownPatient, organization, startScheduling, type SchedulingUnderTest } from '../test/harness.js';
import { minutesOfClock } from './open-slots.js';

type Slot = { _id: string; date: string; endDate: string };

// The scheduler's open slots, checked as properties against the real service and database: working hours posted
// around DST transitions of many zones, appointments booked (some cancelled) over them, then the slots asked for.
describe('scheduling service: open slots across time zones and DST transitions (property)', () => {
  let service: SchedulingUnderTest;
  const org = organization();
  let headers: Record<string, string>;
  const facilities = new Map<string, string>();
  let type: string;
  let patient: string;

  beforeAll(async () => {
    // Before every 2027 transition, so each generated slot is in the future.
    service = await startScheduling('open-slots', await kafkaBrokers(), { now: () => new Date('2026-12-01T00:00:00Z') });
    headers = await as(org.admin);
    for (const zone of ZONES)
      facilities.set(zone, (await create(service.app, headers, '/api/facilities', { name: zone, timeZone: zone }))._id);
    type = (await create(service.app, headers, '/api/appointmentTypes', { name: 'Visit', duration: 30 }))._id;
    patient = await knownPatient(service, org.id);
  });
  afterAll(async () => {
    await service?.close();
  });

  const fraction = fc.double({ min: 0, max: 1, noNaN: true });
  const appointment = fc.record({ at: fraction, minutes: fc.integer({ min: 5, max: 120 }), cancel: fc.boolean() });

  it('answers slots at the intended local wall times, within the range, free of live appointments, and every such slot', async () => {
    await fc.assert(
      fc.asyncProperty(
        hoursNearTransition({ year: 2027, maxDays: 3, maxQuarters: 24, slotMinutes: [30, 45, 60] }),
        fc.array(appointment, { maxLength: 5 }),
        fc.tuple(fraction, fraction),
        async ({ zone, hours }, appointments, cut) => {
          // Signed afresh each run: the identity lapses, and a run on a busy machine outlasts it.
          headers = await as(org.admin);
          const provider = (await create(service.app, headers, '/api/providers', { firstname: 'Prop', lastname: randomUUID() }))._id;
          const facility = facilities.get(zone)!;
          const posted = await service.app.inject({
            method: 'POST',
            url: '/api/availabilities',
            headers,
            payload: { provider, facility, appointmentType: type, workingHours: hours },
          });
          if (posted.statusCode === 400) {
            // Only hours with no slot at all are refused (say a Sunday-only week that has no Sunday in it).
            expect(posted.json().errors).toEqual([{ field: 'body.workingHours', message: 'no future slot fits these hours' }]);
            return;
          }
          expect(posted.statusCode, posted.body).toBe(200);
          const created = posted.json() as Slot[];
          const first = Date.parse(created[0]!.date) - 3_600_000;
          const span = Date.parse(created[created.length - 1]!.endDate) + 3_600_000 - first;

          // Appointments anywhere around the slots; a booking the provider is already busy for is refused and left out.
          const live: Array<{ start: number; end: number }> = [];
          for (const { at, minutes, cancel } of appointments) {
            const start = first + Math.round((at * span) / 300_000) * 300_000;
            const booked = await service.app.inject({
              method: 'POST',
              url: '/api/appointments',
              headers,
              payload: { patient, provider, facility, type, date: new Date(start).toISOString(), duration: minutes },
            });
            if (booked.statusCode !== 200) continue;
            if (cancel)
              expect(
                (await service.app.inject({ method: 'PUT', url: `/api/appointments/${booked.json()._id}/cancel`, headers })).statusCode,
              ).toBe(200);
            else live.push({ start, end: start + minutes * 60_000 });
          }

          const query = (from: string, to: string) =>
            `provider=${provider}&facility=${facility}&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
          const get = async (url: string) => {
            const answer = await service.app.inject({ url, headers });
            expect(answer.statusCode, answer.body).toBe(200);
            return {
              body: answer.json() as { response: Slot[]; total: number },
              next: /<([^>]+)>; rel="next"/.exec(String(answer.headers['link'] ?? ''))?.[1],
            };
          };
          // One page of 100, then the same range in small pages both ways a client pages (Link cursors, page numbers):
          // every way answers the same slots in the same order, and the total and the count agree with them.
          const ask = async (from: string, to: string) => {
            const whole = await get(`/api/scheduler/availabilities?${query(from, to)}&limit=100`);
            expect(whole.body.total).toBe(whole.body.response.length);
            expect(whole.next).toBeUndefined();
            const linked: Slot[] = [];
            for (let url: string | undefined = `/api/scheduler/availabilities?${query(from, to)}&limit=3`; url;) {
              const page = await get(url);
              expect(page.body.total).toBe(whole.body.total);
              linked.push(...page.body.response);
              url = page.next;
            }
            const numbered: Slot[] = [];
            for (let page = 1; page === 1 || numbered.length < whole.body.total; page++) {
              const answer = await get(`/api/scheduler/availabilities?${query(from, to)}&limit=7&page=${page}`);
              if (answer.body.response.length === 0) break;
              numbered.push(...answer.body.response);
            }
            const counted = await service.app.inject({ url: `/api/scheduler/availabilities/count?${query(from, to)}`, headers });
            expect(counted.json()).toEqual({ count: whole.body.total });
            expect(linked.map((slot) => slot._id)).toEqual(whole.body.response.map((slot) => slot._id));
            expect(numbered.map((slot) => slot._id)).toEqual(whole.body.response.map((slot) => slot._id));
            return whole.body.response;
          };
          const startMinute = minutesOfClock(hours.start);
          const check = (slots: Slot[], range: { start: number; end: number }) => {
            for (const slot of slots) {
              const start = Date.parse(slot.date);
              const end = Date.parse(slot.endDate);
              const local = DateTime.fromMillis(start, { zone });
              expect((((local.hour * 60 + local.minute - startMinute) % hours.slotMinutes) + hours.slotMinutes) % hours.slotMinutes).toBe(
                0,
              );
              expect(hours.weekdays).toContain(local.weekday);
              expect(start >= range.start && end <= range.end).toBe(true);
              expect(live.some((busy) => busy.start < end && busy.end > start)).toBe(false);
            }
            const expected = created
              .filter((slot) => Date.parse(slot.date) >= range.start && Date.parse(slot.endDate) <= range.end)
              .filter((slot) => !live.some((busy) => busy.start < Date.parse(slot.endDate) && busy.end > Date.parse(slot.date)))
              .map((slot) => slot._id);
            expect(slots.map((slot) => slot._id)).toEqual(expected);
          };

          // The local days of the hours, as the facility's clock has them.
          const days = {
            start: DateTime.fromISO(hours.from, { zone }).startOf('day').toMillis(),
            end: DateTime.fromISO(hours.until, { zone }).plus({ days: 1 }).startOf('day').toMillis(),
          };
          check(await ask(hours.from, hours.until), days);
          // And an arbitrary range of instants across them.
          const [a, b] = [first + cut[0] * span, first + cut[1] * span].sort((x, y) => x - y) as [number, number];
          const range = { start: Math.floor(a / 60_000) * 60_000, end: Math.floor(b / 60_000) * 60_000 + 60_000 };
          check(await ask(new Date(range.start).toISOString(), new Date(range.end).toISOString()), range);
        },
      ),
      { numRuns: 25 },
    );
  });
});
