import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { isKafkajsNegativeTimeout, listenService } from './run.js';
import { createServiceApp } from './service-app.js';

function warning(name: string, caller: string): Error {
  const error = new Error('-1796557638338 is a negative number.');
  error.name = name;
  error.stack = `${name}: -1796557638338 is a negative number.\n    at new Timeout (node:internal/timers:233:17)\n    at setTimeout (node:timers:125:19)\n    at ${caller}`;
  return error;
}

describe('process warnings', () => {
  it("drops only kafkajs's negative timer delays", () => {
    expect(
      isKafkajsNegativeTimeout(
        warning(
          'TimeoutNegativeWarning',
          'RequestQueue.scheduleCheckPendingRequests (/app/node_modules/kafkajs/src/network/requestQueue/index.js:317:37)',
        ),
      ),
    ).toBe(true);
    expect(
      isKafkajsNegativeTimeout(warning('TimeoutNegativeWarning', 'Dispatcher.wake (/app/services/messaging/dist/dispatcher.js:10:5)')),
    ).toBe(false);
    expect(isKafkajsNegativeTimeout(warning('DeprecationWarning', 'x (/app/node_modules/kafkajs/src/index.js:1:1)'))).toBe(false);
  });
});

describe('metrics port', () => {
  const silent = createLogger({ service: 'test', level: 'silent' });

  async function get(port: number, path: string): Promise<{ status: number; type: string | null; body: string }> {
    const response = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
  }

  it('serves /metrics on its own port only, and closes both ports at shutdown', async () => {
    const app = await createServiceApp({ name: 'test', logger: silent });
    app.get('/things', async () => ({ ok: true }));
    const listeners = await listenService(app, { host: '127.0.0.1', port: 0, metricsPort: 0 });
    const main = listeners.address.port;
    const metrics = listeners.metricsAddress!.port;
    expect(metrics).not.toBe(main);

    expect((await get(main, '/things')).status).toBe(200);
    const onMain = await get(main, '/metrics');
    expect(onMain.status).toBe(404);
    expect(onMain.type).toContain('application/problem+json');
    const scraped = await get(metrics, '/metrics');
    expect(scraped.status).toBe(200);
    expect(scraped.type).toContain('text/plain');
    expect(scraped.body).toContain('# TYPE http_request_duration_seconds histogram');
    // Nothing else of the app answers on the metrics port.
    expect((await get(metrics, '/things')).status).toBe(404);

    await listeners.close();
    await expect(fetch(`http://127.0.0.1:${main}/things`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${metrics}/metrics`)).rejects.toThrow();
  });

  it('keeps /metrics on the main port without a metrics port', async () => {
    const app = await createServiceApp({ name: 'test', logger: silent });
    const listeners = await listenService(app, { host: '127.0.0.1', port: 0 });
    try {
      expect(listeners.metricsAddress).toBeNull();
      const scraped = await get(listeners.address.port, '/metrics');
      expect(scraped.status).toBe(200);
      expect(scraped.body).toContain('process_cpu_seconds_total');
    } finally {
      await listeners.close();
    }
  });
});
