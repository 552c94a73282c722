import { HttpProblem, type InvalidField } from '@pep/service-kit';
import { z } from 'zod';

/** `page`/`limit` of list routes: page from 1, limit up to 100. */
export const listQuery = z
  .object({
    page: z.coerce.number().int().min(1).max(100_000).default(1),
    limit: z.coerce.number().int().min(1).max(100).default(25),
  })
  .strict();
export type ListQuery = z.infer<typeof listQuery>;

/** Query of the `search` routes: `value` matches names, every word somewhere, case-insensitively. */
export const searchQuery = listQuery.extend({ value: z.string().trim().min(1).max(100) });
export type SearchQuery = z.infer<typeof searchQuery>;

/** The v1 list envelope. */
export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({ response: z.array(item), page: z.number().int(), limit: z.number().int(), total: z.number().int() });

/** A v1 list answer. */
export interface Page<T> {
  response: T[];
  page: number;
  limit: number;
  total: number;
}

/** Path of the routes that take a record id. */
export const idParams = z.object({ id: z.uuid() }).strict();

/** A short piece of text: trimmed, not empty. */
export const text = (max = 200) => z.string().trim().min(1).max(max);

/** An optional text field of a create body. */
export const optionalText = (max = 200) => text(max).optional();

/** A text field of an update body: a value sets it, null clears it. */
export const clearableText = (max = 200) => text(max).nullable().optional();

/** The product's `deleted` flag: 1 once soft-deleted. */
export const deletedFlag = z.union([z.literal(0), z.literal(1)]);

/** Fields every record answers with besides its own. */
export const recordFields = {
  _id: z.uuid(),
  organization: z.uuid(),
  deleted: deletedFlag,
  createdBy: z.string(),
  updatedBy: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
};

/** The fields every stored record has. */
export interface RecordRow {
  id: string;
  organization: string;
  deleted: boolean;
  createdBy: string;
  updatedBy: string;
  createdAt: Date;
  updatedAt: Date;
}

/** The common part of a record's answer. */
export function recordView(row: RecordRow) {
  return {
    _id: row.id,
    organization: row.organization,
    deleted: row.deleted ? (1 as const) : (0 as const),
    createdBy: row.createdBy,
    updatedBy: row.updatedBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** An update body must change something. */
export const nonEmpty = (body: object) => Object.keys(body).length > 0;

/** A 400 naming the fields at fault, for checks zod cannot make (references to other records). */
export function invalidFields(errors: InvalidField[]): HttpProblem {
  return new HttpProblem(400, 'validation', 'The request is invalid.', { errors });
}

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
