import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { controllableClock, type ControllableClock } from '@pep/service-kit';

/** Where the sandbox clock's offset from real time is kept, so a restart does not move the platform back in time. */
export const CLOCK_FILE = 'clock.json';

/** The token `npm run sandbox` sends to move the clock (in the data folder, like the SMS webhook token). */
export const SANDBOX_TOKEN_FILE = 'sandbox-token';

/** The platform's addresses, written on start for the developer's scripts (`npm run reply`, `npm run sandbox`). */
export const PLATFORM_FILE = 'platform.json';

/**
 * Scheduling's and messaging's clock in the embedded runtime: real time plus an offset that only moves forward and is
 * kept in the data folder. Going back would unsend nothing and make sent reminders and lapsed offers look early.
 */
export async function persistentClock(dataDir: string): Promise<ControllableClock> {
  const clock = controllableClock();
  try {
    const { offsetMs } = JSON.parse(await readFile(join(dataDir, CLOCK_FILE), 'utf8')) as { offsetMs?: unknown };
    if (typeof offsetMs === 'number' && Number.isFinite(offsetMs) && offsetMs > 0) clock.set(new Date(Date.now() + offsetMs));
  } catch {
    // No file yet (a fresh data folder) or an unreadable one: real time.
  }
  return clock;
}

/** Moves `clock` forward by `byMs` and records its new offset in the data folder. */
export async function advanceClock(dataDir: string, clock: ControllableClock, byMs: number): Promise<void> {
  clock.set(new Date(clock().getTime() + byMs));
  await writeFile(join(dataDir, CLOCK_FILE), `${JSON.stringify({ offsetMs: clock.offsetMs() })}\n`);
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as `90m`, `14h` or `2d` in milliseconds, or null when it is not one. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)([mhd])$/.exec(text.trim());
  return match ? Number(match[1]) * UNIT_MS[match[2]!]! : null;
}
