import { describe, expect, it } from 'vitest';
import { stateOf } from './status.routes.js';

describe('a service’s state from its readiness answer', () => {
  it('is ok only when ready with every check passing and every group joined', () => {
    expect(stateOf(200, { status: 'ok', checks: { database: 'ok', broker: 'ok' }, consumers: { 'a.b': 'joined' } })).toEqual({
      status: 'ok',
    });
    expect(
      stateOf(200, { status: 'degraded', checks: { database: 'ok', broker: 'ok' }, consumers: { 'a.b': 'joined', 'a.c': 'joining' } }),
    ).toEqual({ status: 'degraded', reason: 'not joined: a.c' });
    expect(stateOf(200, { status: 'degraded', checks: { database: 'ok', broker: 'failing' } })).toEqual({
      status: 'degraded',
      reason: 'broker failing',
    });
  });

  it('is unavailable when not ready, saying which required check fails or that it is shutting down', () => {
    expect(stateOf(503, { status: 'unavailable', checks: { database: 'failing', broker: 'ok' } })).toEqual({
      status: 'unavailable',
      reason: 'database failing',
    });
    expect(stateOf(503, { status: 'shutting-down', checks: { database: 'ok' } })).toEqual({
      status: 'unavailable',
      reason: 'shutting down',
    });
    expect(stateOf(502, {})).toEqual({ status: 'unavailable', reason: 'readiness answered 502' });
  });
});
