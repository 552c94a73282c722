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
