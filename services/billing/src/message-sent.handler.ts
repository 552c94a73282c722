import { messageSentV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { on, type Tx } from './events.js';
import type { UsageService } from './usage.service.js';

/**
 * Messaging sent a text or placed a call: count its segments or minutes. One record per message, so a redelivered
 * event counts once.
 */
export function messageSentBindings(usage: UsageService): EventBinding<Tx>[] {
  return [on(messageSentV1, async (event) => usage.record(event, event.correlationid))];
}
