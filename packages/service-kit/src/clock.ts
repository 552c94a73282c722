import { z } from 'zod';
import type { Logger } from './logger.js';
import type { ServiceApp } from './service-app.js';

/** Real time shifted by an offset that can be moved: what end-to-end tests run the platform on (ADR 0009). */
export interface ControllableClock {
  (): Date;
  /** Moves the clock so that it reads `at` now and keeps ticking from there. */
  set(at: Date): void;
  /** How far the clock is ahead of real time (negative when behind), in milliseconds. */
  offsetMs(): number;
}

/** A clock reading real time until moved. */
export function controllableClock(real: () => Date = () => new Date()): ControllableClock {
  let offset = 0;
  const clock = (() => new Date(real().getTime() + offset)) as ControllableClock;
  clock.set = (at) => {
    offset = at.getTime() - real().getTime();
  };
  clock.offsetMs = () => offset;
  return clock;
}

const clockState = z.object({
  now: z.string().describe('What the clock reads.'),
  offsetMs: z.number().int().describe('How far it is from real time.'),
});
const setClockBody = z.object({ now: z.iso.datetime({ offset: true }).describe('The instant the clock is to read now.') }).strict();

/** The config refinement that refuses CLOCK_CONTROL (a service's `envBoolean.default(false)`) in production; spread into `.refine(...)`. */
export const clockControlRefinement: [
  (config: { CLOCK_CONTROL: boolean; NODE_ENV: string }) => boolean,
  { message: string; path: string[] },
] = [
  (config) => !(config.CLOCK_CONTROL && config.NODE_ENV === 'production'),
  { message: 'a movable clock is for tests only: unset CLOCK_CONTROL or run with NODE_ENV other than production', path: ['CLOCK_CONTROL'] },
];

/**
 * `GET /internal/clock` and `PUT /internal/clock {now}`. Outside `/api`, so the gateway never routes them, hidden
 * from the OpenAPI document, and registered only when CLOCK_CONTROL is on, which the config refuses in production.
 */
export function registerClockRoutes(app: ServiceApp, clock: ControllableClock, logger?: Logger): void {
  logger?.warn('CLOCK_CONTROL is on: PUT /internal/clock moves this service’s clock');
  const state = () => ({ now: clock().toISOString(), offsetMs: clock.offsetMs() });
  app.get('/internal/clock', { schema: { hide: true, response: { 200: clockState } } }, async () => state());
  app.put('/internal/clock', { schema: { hide: true, body: setClockBody, response: { 200: clockState } } }, async (request) => {
    clock.set(new Date(request.body.now));
    return state();
  });
}
