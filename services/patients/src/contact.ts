import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';

/** Country assumed for phone numbers written without a country code. */
export const DEFAULT_COUNTRY: CountryCode = 'US';

/** Kinds of contact detail the product keeps. */
export const CONTACT_TYPES = ['mobile', 'home', 'work', 'email'] as const;
export type ContactType = (typeof CONTACT_TYPES)[number];
const PHONE_TYPES: readonly ContactType[] = ['mobile', 'home', 'work'];

/** One stored contact detail; phones in E.164, e-mails in lower case. */
export interface ContactEntry {
  type: ContactType;
  value: string;
  verifiedAt: string | null;
  verifiedBy: string | null;
}

/** Whether a contact type is a phone number. */
export const isPhoneType = (type: ContactType): boolean => PHONE_TYPES.includes(type);

/** The number in E.164, or null when it is not a valid phone number. */
export function toE164(raw: string): string | null {
  const parsed = parsePhoneNumberFromString(raw, DEFAULT_COUNTRY);
  return parsed?.isValid() ? parsed.number : null;
}

/** How staff read a stored number: national format at home, international otherwise. */
export function displayPhone(e164: string | null): string | null {
  if (!e164) return null;
  const parsed = parsePhoneNumberFromString(e164);
  if (!parsed) return e164;
  return parsed.country === DEFAULT_COUNTRY ? parsed.formatNational() : parsed.formatInternational();
}

/**
 * A name folded for comparison: accents and case dropped, punctuation and runs of spaces turned into one
 * space, so "Zoë  O'Brien" and "zoe o brien" compare equal.
 */
export function foldName(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[øæœßđłþı]/gu, (letter) => UNDECOMPOSED[letter] ?? letter)
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

// Letters Unicode does not decompose into a base letter and an accent, spelled as people type them without one.
const UNDECOMPOSED: Record<string, string> = { ø: 'o', æ: 'ae', œ: 'oe', ß: 'ss', đ: 'd', ł: 'l', þ: 'th', ı: 'i' };

/** A contact detail in its stored form (the caller validated it). */
export function normalizeValue(type: ContactType, value: string): string {
  return isPhoneType(type) ? (toE164(value) ?? value) : value.trim().toLowerCase();
}

/** What a create, update or merge asks of the contact list; `undefined` leaves that part alone. */
export interface ContactChange {
  contact?: Array<{ type: ContactType; value: string }>;
  phone?: string | null;
  email?: string | null;
}

/**
 * The contact list after a change, with `phone` and `email` as the first phone and first e-mail of the list.
 * A new `contact` replaces the list (verification of details kept is carried over); a new `phone` or `email`
 * becomes the first of its kind, added when absent; `null` removes the current one.
 */
export function applyContactChange(
  current: ContactEntry[],
  change: ContactChange,
): { contact: ContactEntry[]; phone: string | null; email: string | null } {
  const known = new Map(current.map((entry) => [keyOf(entry), entry]));
  let list: ContactEntry[] =
    change.contact === undefined
      ? current
      : change.contact.map((entry) => {
          const value = normalizeValue(entry.type, entry.value);
          return known.get(keyOf({ type: entry.type, value })) ?? { type: entry.type, value, verifiedAt: null, verifiedBy: null };
        });
  const before = primaries(current);
  if (change.phone !== undefined)
    list = promote(list, change.phone === null ? null : normalizeValue('mobile', change.phone), before.phone, 'mobile');
  if (change.email !== undefined)
    list = promote(list, change.email === null ? null : normalizeValue('email', change.email), before.email, 'email');
  const contact = unique(list);
  return { contact, ...primaries(contact) };
}

/** Entries of `extra` not already in `base`, appended: the survivor's details stay first. */
export function unionContacts(base: ContactEntry[], extra: ContactEntry[]): ContactEntry[] {
  return unique([...base, ...extra]);
}

/** The primary phone (first phone of any kind, mobiles first) and e-mail of a list. */
export function primaries(list: ContactEntry[]): { phone: string | null; email: string | null } {
  const phones = list.filter((entry) => isPhoneType(entry.type));
  return {
    phone: (phones.find((entry) => entry.type === 'mobile') ?? phones[0])?.value ?? null,
    email: list.find((entry) => entry.type === 'email')?.value ?? null,
  };
}

/** Channels messages can use for this list, before consent is considered. */
export function reachableChannels(list: ContactEntry[]): Array<'sms' | 'voice' | 'email'> {
  return [
    ...(list.some((entry) => entry.type === 'mobile') ? (['sms'] as const) : []),
    ...(list.some((entry) => isPhoneType(entry.type)) ? (['voice'] as const) : []),
    ...(list.some((entry) => entry.type === 'email') ? (['email'] as const) : []),
  ];
}

/** Reads the stored JSON column. */
export function parseContacts(json: unknown): ContactEntry[] {
  if (!Array.isArray(json)) return [];
  // Rows backfilled by migration carry only type and value.
  return (json as Array<Partial<ContactEntry> & Pick<ContactEntry, 'type' | 'value'>>).map((entry) => ({
    type: entry.type,
    value: entry.value,
    verifiedAt: entry.verifiedAt ?? null,
    verifiedBy: entry.verifiedBy ?? null,
  }));
}

function promote(list: ContactEntry[], value: string | null, previous: string | null, type: ContactType): ContactEntry[] {
  const phone = isPhoneType(type);
  const sameKind = (entry: ContactEntry) => (phone ? isPhoneType(entry.type) : entry.type === 'email');
  if (value === null) return list.filter((entry) => !(sameKind(entry) && entry.value === previous));
  const existing = list.find((entry) => sameKind(entry) && entry.value === value);
  // The primary mobile is replaced rather than joined: changing `phone` means the old number is no longer the patient's.
  const rest = list.filter((entry) => entry !== existing && !(sameKind(entry) && entry.value === previous && previous !== value));
  const promoted = existing
    ? { ...existing, type: phone ? ('mobile' as const) : existing.type }
    : { type, value, verifiedAt: null, verifiedBy: null };
  return [promoted, ...rest];
}

function unique(list: ContactEntry[]): ContactEntry[] {
  const seen = new Set<string>();
  return list.filter((entry) => {
    const key = keyOf(entry);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function keyOf(entry: { type: ContactType; value: string }): string {
  return `${isPhoneType(entry.type) ? 'phone' : 'email'}:${entry.value}`;
}
