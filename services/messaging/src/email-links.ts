import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { secretsOf } from '@pep/service-kit';
import type { Db } from './events.js';
import { contextFor, render, variablesOf, wordingFor } from './templates.js';

/** What a link in a reminder e-mail (confirm, cancel) or an offer e-mail (accept, decline) answers. */
export type LinkAction = 'confirm' | 'cancel' | 'accept' | 'decline';

/** The answer callbacks, by what the e-mail was about, with the actions their links may carry. */
export const LINK_PATHS = {
  reminders: { path: '/api/callback/email/reminders', actions: ['confirm', 'cancel'] },
  offers: { path: '/api/callback/email/offers', actions: ['accept', 'decline'] },
} as const satisfies Record<string, { path: string; actions: readonly LinkAction[] }>;

/** Which answer callback a link goes to. */
export type LinkKind = keyof typeof LINK_PATHS;

/** What a link's token says: the e-mail (message id) it came in, the one action it performs, until when. */
export interface LinkClaim {
  message: string;
  action: LinkAction;
  expiresAt: Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The keys links are signed and checked with: the first signs, every one verifies (a rotation's older secrets). */
export type LinkKeys = readonly [Buffer, ...Buffer[]];

/**
 * The keys links are signed with, derived from the service's internal secret (always configured, unlike a vendor
 * token, and unchanged when the vendor account rotates its token), one per secret of a rotation's comma list, so a
 * link mailed before the rotation still answers. Derived with their own label, so a link's signature reveals nothing
 * about that secret and serves nothing else.
 */
export function linkKeys(secret: string): LinkKeys {
  const [first, ...rest] = secretsOf(secret).map((part) =>
    Buffer.from(hkdfSync('sha256', part, 'pep-messaging', 'e-mail answer links v1', 32)),
  );
  return [first!, ...rest];
}

const signatureOf = (key: Buffer, kind: LinkKind, message: string, action: LinkAction, expires: number) =>
  createHmac('sha256', key).update(`${kind}\n${message}\n${action}\n${expires}`).digest('base64url');

/**
 * A token for one action on one e-mail: `<message id>.<action>.<expiry, unix seconds>.<HMAC>`. Ids only, never
 * anything about the patient; the signature covers the callback it goes to, so a reminder's token does not work at
 * the offers callback.
 */
export function signLink(keys: LinkKeys, kind: LinkKind, claim: LinkClaim): string {
  const expires = Math.floor(claim.expiresAt.getTime() / 1000);
  return `${claim.message}.${claim.action}.${expires}.${signatureOf(keys[0], kind, claim.message, claim.action, expires)}`;
}

/** The claim of a token signed with the key for this callback; null when it is not one (tampered, foreign, garbled). */
export function verifyLink(keys: LinkKeys, kind: LinkKind, token: string): LinkClaim | null {
  const parts = token.split('.');
  if (parts.length !== 4) return null;
  const [message, action, expiresText, signature] = parts as [string, string, string, string];
  if (!UUID.test(message) || !/^\d{1,12}$/.test(expiresText) || !(LINK_PATHS[kind].actions as readonly string[]).includes(action))
    return null;
  const expires = Number(expiresText);
  const given = Buffer.from(signature);
  const signedByOne = keys.some((key) => {
    const expected = Buffer.from(signatureOf(key, kind, message, action as LinkAction, expires));
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!signedByOne) return null;
  return { message, action: action as LinkAction, expiresAt: new Date(expires * 1000) };
}

/** An e-mail as outbound sends it, by what it is about. */
export interface LinkedEmail {
  id: string;
  organization: string;
  patient: string;
  key?: string | null | undefined;
  language: string;
  appointment?: string | null | undefined;
  offer?: string | null | undefined;
}

/**
 * The answer links appended to a reminder or offer e-mail, in the organization's wording (`email-reminder-links`,
 * `email-offer-links`); null for other e-mails or when what it is about is unknown. Links last until
 * the appointment begins, or the offer ends: an answer after that could change nothing.
 */
export async function answerLinks(db: Db, keys: LinkKeys, publicUrl: string, email: LinkedEmail): Promise<string | null> {
  const kind: LinkKind | null =
    email.key === 'reminder' && email.appointment ? 'reminders' : email.key === 'offer' && email.offer ? 'offers' : null;
  if (!kind) return null;
  const { organization } = email;
  const about =
    kind === 'reminders'
      ? await db.appointment.findFirst({ where: { id: email.appointment!, organization }, select: { date: true } })
      : await db.offer.findFirst({ where: { id: email.offer!, organization }, select: { expireAt: true } });
  if (!about) return null;
  const expiresAt = 'date' in about ? about.date : about.expireAt;
  const wording = await wordingFor(db, organization, kind === 'reminders' ? 'email-reminder-links' : 'email-offer-links', email.language);
  if (!wording) return null;
  const ids = { patient: email.patient, appointment: email.appointment ?? null, offer: email.offer ?? null };
  const variables = variablesOf(await contextFor(db, organization, ids, [wording.text]), email.language);
  const base = `${publicUrl.replace(/\/+$/, '')}${LINK_PATHS[kind].path}?token=`;
  for (const action of LINK_PATHS[kind].actions)
    variables[`link.${action}`] = base + signLink(keys, kind, { message: email.id, action, expiresAt });
  return render(wording.text, variables);
}
