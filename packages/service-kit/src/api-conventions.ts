import { z } from 'zod';
import { HttpProblem, type InvalidField } from './problem.js';

// The v1 API's conventions, shared by every service: `page`/`limit` lists answered as
// `{ response, page, limit, total }`, records exposing `_id`, soft deletion as `deleted: 0|1`.

/**
 * `page`/`limit` of list routes: page from 1, limit up to 100. Unlike bodies, queries tolerate
 * parameters they do not know: v1 clients send some (`scope=patient`) that change nothing here.
 */
export const listQuery = z.object({
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  limit: z.coerce.number().int().min(1).max(100).default(25),
});
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

/** The rows of one page: Prisma's `skip` and `take` for `page` and `limit`. */
export function pageWindow(query: ListQuery): { skip: number; take: number } {
  return { skip: (query.page - 1) * query.limit, take: query.limit };
}

/** The records of one page of a list already in memory. */
export function onPage<T>(all: T[], query: ListQuery): T[] {
  const { skip, take } = pageWindow(query);
  return all.slice(skip, skip + take);
}

/** A v1 list answer: one page of records, the page asked for, and how many there are in all. */
export function pageOf<T>(response: T[], query: ListQuery, total: number): Page<T> {
  return { response, page: query.page, limit: query.limit, total };
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

/** An instant with its offset. */
export const instant = z.iso.datetime({ offset: true }).describe('An instant with its offset, e.g. 2026-03-02T15:30:00Z.');

/** One bound of a date filter. */
export interface DateBound {
  op: 'gt' | 'gte' | 'lt' | 'lte';
  at: Date;
}

const OPERATORS: ReadonlyArray<[string, DateBound['op']]> = [
  ['>=', 'gte'],
  ['<=', 'lte'],
  ['>', 'gt'],
  ['<', 'lt'],
];

/**
 * The product's date filter: `date` repeated, each value an instant behind a comparison, e.g.
 * `?date=>2026-01-01T00:00:00Z&date=<2026-02-01T00:00:00Z`.
 */
export const dateFilter = z
  .union([z.string(), z.array(z.string()).max(4)])
  .transform((value, context) => {
    const bounds: DateBound[] = [];
    for (const raw of Array.isArray(value) ? value : [value]) {
      const operator = OPERATORS.find(([prefix]) => raw.startsWith(prefix));
      // A `+` of an unencoded offset arrives as a space.
      const iso = operator ? raw.slice(operator[0].length).trim().replace(/ /g, '+') : '';
      if (!operator || !instant.safeParse(iso).success) {
        context.addIssue({ code: 'custom', message: 'each date needs >, >=, < or <= before an instant, e.g. >2026-01-01T00:00:00Z' });
        return z.NEVER;
      }
      bounds.push({ op: operator[1], at: new Date(iso) });
    }
    return bounds;
  })
  .describe('Repeat with a comparison before each instant, e.g. date=>=2026-01-01T00:00:00Z&date=<2026-02-01T00:00:00Z (>, >=, <, <=).');

/** A date filter's bounds as a Prisma `where` fragment on one column; empty when there is no filter. */
export function dateBoundsWhere<C extends string>(column: C, bounds: DateBound[] | undefined): { AND?: Array<Record<C, Partial<Record<DateBound['op'], Date>>>> } {
  return bounds ? { AND: bounds.map((bound) => ({ [column]: { [bound.op]: bound.at } }) as Record<C, Partial<Record<DateBound['op'], Date>>>) } : {};
}
