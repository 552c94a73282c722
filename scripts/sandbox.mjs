// @ts-check
// The embedded platform's sandbox clock (npm start only; the distributed gateway has no such route). Scheduling and
// messaging read it, so a reminder planned for tomorrow morning (quiet hours hold texts until 08:00 in the facility's
// time zone) can be sent now; auth keeps real time, so access tokens stay valid. Usage:
//   npm run sandbox -- time [+<duration>]   prints the platform's now (plus a duration), e.g. +72h, for booking
//   npm run sandbox -- next                 moves the clock to the next planned text (a reminder, say) and sends it
//   npm run sandbox -- advance <duration>   moves the clock forward (90m, 14h, 2d) and sends what is then due
//   npm run sandbox -- send-due             sends what is due now without waiting for the dispatcher's next round
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { platformUrls, readPlatformFile } from './local-platform.mjs';

/** The token that moves the clock, in the platform's data folder (services/embedded/src/sandbox.ts SANDBOX_TOKEN_FILE). */
export const SANDBOX_TOKEN_FILE = 'sandbox-token';

const UNIT_MS = /** @type {Record<string, number>} */ ({ m: 60_000, h: 3_600_000, d: 86_400_000 });

/**
 * `+72h`, `90m`, `2d` in milliseconds, or null when it is not a duration.
 * @param {string} text
 */
export function durationMs(text) {
  const match = /^\+?(\d+(?:\.\d+)?)([mhd])$/.exec(text.trim());
  return match ? Number(match[1]) * /** @type {number} */ (UNIT_MS[/** @type {string} */ (match[2])]) : null;
}

const USAGE = 'usage: npm run sandbox -- time [+72h] | next | advance <90m|14h|2d> | send-due\n';

/** @param {string} message @returns {never} */
function fail(message) {
  process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
  process.exit(1);
}

async function main() {
  const [command, argument] = process.argv.slice(2);
  const { dataDir, written } = await readPlatformFile(process.env);
  const { url } = platformUrls(process.env, written);
  /** @param {string} path @param {RequestInit} [init] */
  const call = async (path, init) => {
    let response;
    try {
      response = await globalThis.fetch(`${url}${path}`, init);
    } catch {
      return fail(`the platform does not answer at ${url}: is npm start running (with DATA_DIR=${dataDir}, or PLATFORM_URL set)?`);
    }
    const body = await response.json().catch(() => ({}));
    if (response.status === 404)
      fail(`${url} has no sandbox: it is only in the embedded platform (npm start), not in the distributed gateway.`);
    if (!response.ok) fail(`${response.status}: ${body.detail ?? JSON.stringify(body)}`);
    return body;
  };
  const token = async () => {
    const file = join(dataDir, SANDBOX_TOKEN_FILE);
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch {
      return fail(`no ${file}: start the platform first (npm start), from this folder or with the same DATA_DIR`);
    }
  };
  const post = async (/** @type {string} */ path, /** @type {unknown} */ body) =>
    call(path, {
      method: 'POST',
      headers: { 'x-sandbox-token': await token(), ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  const ahead = (/** @type {number} */ offsetMs) => `${Math.round(offsetMs / 60_000 / 6) / 10} h ahead of real time`;

  if (command === 'time') {
    const by = argument === undefined ? 0 : durationMs(argument);
    if (by === null) fail(USAGE);
    const { now } = await call('/sandbox/clock');
    process.stdout.write(`${new Date(Date.parse(now) + by).toISOString()}\n`);
  } else if (command === 'advance') {
    if (!argument || durationMs(argument) === null) fail(USAGE);
    const moved = await post('/sandbox/clock', { advance: argument.replace(/^\+/, '') });
    process.stdout.write(`the platform's clock reads ${moved.now} (${ahead(moved.offsetMs)}); sent ${moved.sent} due message(s)\n`);
  } else if (command === 'next') {
    const moved = await post('/sandbox/next');
    if (moved.nextDue === null) process.stdout.write(`nothing is planned; the platform's clock stays at ${moved.now}\n`);
    else process.stdout.write(`the platform's clock reads ${moved.now} (${ahead(moved.offsetMs)}); sent ${moved.sent} due message(s)\n`);
  } else if (command === 'send-due') {
    const done = await post('/sandbox/send-due');
    process.stdout.write(`sent ${done.sent} due message(s) at ${done.now}\n`);
  } else {
    fail(USAGE);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
