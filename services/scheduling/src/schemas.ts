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

/** The Postgres SQLSTATE behind a failed query, however the driver adapter wrapped it. */
export function sqlState(error: unknown): string | undefined {
  const candidate = error as { code?: unknown; meta?: { driverAdapterError?: { cause?: { originalCode?: unknown; code?: unknown } } } };
  const cause = candidate.meta?.driverAdapterError?.cause;
  const code = cause?.originalCode ?? cause?.code ?? candidate.code;
  return typeof code === 'string' ? code : undefined;
}
