// @ts-check
// Plays a patient's SMS reply to the embedded platform (npm start), whose texts go to the development sink instead
// of Twilio: posts Twilio's incoming-message webhook, signed the way Twilio signs it, with the token the platform
// keeps in its data folder. Usage: npm run reply -- <from phone> <text>, e.g. npm run reply -- 415-555-2671 C
// It finds the platform (any port) from the data folder's platform.json, or from PLATFORM_URL and PUBLIC_URL.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { pathToFileURL, URLSearchParams } from 'node:url';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import twilio from 'twilio';
import { platformUrls, readPlatformFile } from './local-platform.mjs';

/**
 * Twilio's webhook for patients' replies. Replies to reminders and to offers are read alike, against the latest
 * automated text sent to the number, so one path serves both.
 */
export const REPLY_PATH = '/api/callback/sms/reminders';

/** The clinic number replies are addressed to; the sink sends from no real number (555-01xx is fictional). */
export const SINK_NUMBER = '+15550100000';

/** The development sink's webhook token, in the embedded platform's data folder. */
export const TOKEN_FILE = 'sms-webhook-token';

/**
 * A patient's number as Twilio reports it (E.164); national numbers are read as the patients service reads them (US).
 * @param {string} phone
 * @returns {string}
 */
export function e164(phone) {
  const parsed = parsePhoneNumberFromString(phone, 'US');
  if (!parsed?.isValid()) throw new Error(`not a phone number: ${phone}`);
  return parsed.number;
}

/**
 * Twilio's incoming-message webhook for `text` sent from `from`, signed with `token` over `publicUrl` + REPLY_PATH,
 * as Twilio signs it: ready to POST to the platform at REPLY_PATH.
 * @param {{ token: string, publicUrl: string, from: string, text: string, messageSid?: string }} reply
 * @returns {{ path: string, headers: Record<string, string>, body: string }}
 */
export function signedReply({ token, publicUrl, from, text, messageSid = `SM${randomBytes(16).toString('hex')}` }) {
  /** @type {Record<string, string>} */
  const params = {
    MessageSid: messageSid,
    SmsSid: messageSid,
    From: e164(from),
    To: SINK_NUMBER,
    Body: text,
    NumMedia: '0',
    NumSegments: '1',
  };
  const signature = twilio.getExpectedTwilioSignature(token, `${publicUrl.replace(/\/+$/, '')}${REPLY_PATH}`, params);
  return {
    path: REPLY_PATH,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
    body: new URLSearchParams(params).toString(),
  };
}

/** The text of the platform's TwiML answer (STOP, START and HELP are answered in it), or null when it answers nothing. */
function answerOf(/** @type {string} */ twiml) {
  const match = /<Message>([\s\S]*?)<\/Message>/.exec(twiml);
  return (
    match?.[1]
      ?.replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&') ?? null
  );
}

async function main() {
  const [from, ...words] = process.argv.slice(2);
  if (!from || words.length === 0) {
    process.stderr.write('usage: npm run reply -- <from phone> <text>   (e.g. npm run reply -- 415-555-2671 C)\n');
    process.exit(2);
  }
  const { dataDir, written } = await readPlatformFile(process.env);
  const { url: platformUrl, publicUrl } = platformUrls(process.env, written);
  const tokenFile = join(dataDir, TOKEN_FILE);
  let token;
  try {
    token = (await readFile(tokenFile, 'utf8')).trim();
  } catch {
    process.stderr.write(`no ${tokenFile}: start the platform first (npm start), from this folder or with the same DATA_DIR\n`);
    process.exit(1);
  }
  const reply = signedReply({ token, publicUrl, from, text: words.join(' ') });
  const target = `${platformUrl.replace(/\/+$/, '')}${reply.path}`;
  let response;
  try {
    response = await globalThis.fetch(target, { method: 'POST', headers: reply.headers, body: reply.body });
  } catch {
    process.stderr.write(`the platform does not answer at ${target}: is npm start running (or PLATFORM_URL set)?\n`);
    process.exit(1);
  }
  const answer = await response.text();
  if (response.status === 403) {
    // The platform checks the signature over its own PUBLIC_URL; a mismatch is the usual cause, so name what was signed.
    process.stderr.write(
      `403: the platform at ${platformUrl} refused the signature, made over ${publicUrl}${reply.path} with the token in ${tokenFile}.\n` +
        'It checks signatures over its PUBLIC_URL (http://localhost:<PORT> unless set) with the token of its own data folder: ' +
        'run this with the DATA_DIR the platform was started with (its platform.json names both URLs), or set PUBLIC_URL to the platform’s.\n',
    );
    process.exit(1);
  }
  if (!response.ok) {
    process.stderr.write(`${response.status} ${answer}\n`);
    process.exit(1);
  }
  const said = answerOf(answer);
  process.stdout.write(
    `${response.status}: reply from ${e164(from)} received${said ? `; answered "${said}"` : ''}. Its effects show in GET /api/messages and the appointment.\n`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
