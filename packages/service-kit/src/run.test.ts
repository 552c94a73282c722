import { describe, expect, it } from 'vitest';
import { isKafkajsNegativeTimeout } from './run.js';

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
