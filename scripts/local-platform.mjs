// @ts-check
// Where the developer's scripts (npm run reply, npm run sandbox) find the embedded platform: the addresses it writes to
// its data folder on start, unless the environment names them.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The file the embedded platform writes its addresses to on start (services/embedded/src/sandbox.ts PLATFORM_FILE). */
export const PLATFORM_FILE = 'platform.json';

const DEFAULT_URL = 'http://localhost:3000';
const trimmed = (/** @type {string} */ url) => url.replace(/\/+$/, '');

/**
 * The platform's data folder, where it started, and what it wrote there.
 * @param {NodeJS.ProcessEnv} env
 * @returns {Promise<{ dataDir: string, written: { url?: string, publicUrl?: string } | null }>}
 */
export async function readPlatformFile(env) {
  const dataDir = env['DATA_DIR'] ?? '.data';
  try {
    return { dataDir, written: JSON.parse(await readFile(join(dataDir, PLATFORM_FILE), 'utf8')) };
  } catch {
    return { dataDir, written: null };
  }
}

/**
 * Where to send requests (`url`) and which URL Twilio's signature is made over (`publicUrl`, what the platform checks
 * signatures against). The environment wins (PLATFORM_URL, PUBLIC_URL); then what the running platform wrote; then one
 * stands in for the other, so a platform started on another port is reached and signed for by PLATFORM_URL alone.
 * @param {NodeJS.ProcessEnv} env
 * @param {{ url?: string, publicUrl?: string } | null} written
 * @returns {{ url: string, publicUrl: string }}
 */
export function platformUrls(env, written) {
  const url = env['PLATFORM_URL'] ?? written?.url ?? env['PUBLIC_URL'] ?? DEFAULT_URL;
  const publicUrl = env['PUBLIC_URL'] ?? written?.publicUrl ?? env['PLATFORM_URL'] ?? DEFAULT_URL;
  return { url: trimmed(url), publicUrl: trimmed(publicUrl) };
}
