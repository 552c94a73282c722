import { describe, expect, it } from 'vitest';
import { controllableClock, registerClockRoutes } from './clock.js';
import { createLogger } from './logger.js';
import { createServiceApp } from './service-app.js';

describe('controllable clock', () => {
  it('reads real time until moved, then keeps ticking from where it was put', () => {
    let real = Date.parse('2030-01-01T00:00:00Z');
    const clock = controllableClock(() => new Date(real));
    expect(clock().toISOString()).toBe('2030-01-01T00:00:00.000Z');
    clock.set(new Date('2030-01-08T13:00:00Z'));
    expect(clock.offsetMs()).toBe(7 * 86_400_000 + 13 * 3_600_000);
    real += 90_000;
    expect(clock().toISOString()).toBe('2030-01-08T13:01:30.000Z');
  });

  it('is read and moved at /internal/clock; a body that is not an instant moves nothing', async () => {
    const app = await createServiceApp({ name: 'clock-test', logger: createLogger({ service: 'clock-test', level: 'silent' }) });
    const clock = controllableClock();
    registerClockRoutes(app, clock);
    const moved = await app.inject({ method: 'PUT', url: '/internal/clock', payload: { now: '2031-05-06T07:08:09-04:00' } });
    expect(moved.statusCode).toBe(200);
    expect(Date.parse(moved.json<{ now: string }>().now)).toBeGreaterThanOrEqual(Date.parse('2031-05-06T11:08:09Z'));
    const refused = await app.inject({ method: 'PUT', url: '/internal/clock', payload: { now: 'next tuesday' } });
    expect(refused.statusCode).toBe(400);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    const read = await app.inject({ method: 'GET', url: '/internal/clock' });
    expect(Date.parse(read.json<{ now: string }>().now) - Date.parse('2031-05-06T11:08:09Z')).toBeLessThan(60_000);
    expect(Date.parse(read.json<{ now: string }>().now) - Date.parse('2031-05-06T11:08:09Z')).toBeGreaterThanOrEqual(0);
    expect(JSON.stringify((await app.inject({ method: 'GET', url: '/openapi.json' })).json())).not.toContain('/internal/clock');
    await app.close();
  });
});
