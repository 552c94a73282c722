import { z } from 'zod';

export {
  clearableText,
  deletedFlag,
  idParams,
  invalidFields,
  listOf,
  listQuery,
  nonEmpty,
  optionalText,
  recordFields,
  recordView,
  searchQuery,
  text,
  type ListQuery,
  type Page,
  type RecordRow,
  type SearchQuery,
} from '@pep/service-kit';

/** Whether an IANA time zone name is known to the runtime. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The runtime's canonical spelling of a time zone name (`america/new_york` → `America/New_York`). */
export function canonicalTimeZone(name: string): string {
  return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
}

/** An IANA time zone, stored as the runtime spells it. */
export const timeZone = z
  .string()
  .trim()
  .max(64)
  .refine(isTimeZone, 'an IANA time zone, e.g. America/New_York')
  .transform(canonicalTimeZone)
  .describe('IANA time zone, e.g. America/New_York.');

export { sqlState } from '@pep/db';
