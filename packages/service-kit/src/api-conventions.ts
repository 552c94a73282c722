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

const searchWords = z.string().trim().min(1).max(100);

/**
 * Query of the `search` routes: `name` (the v1 client's parameter) or its alias `value` matches names, every word
 * somewhere, case-insensitively; handlers read it as `value`.
 */
export const searchQuery = listQuery
  .extend({
    name: searchWords.optional().describe('Words to find in the names, every one somewhere, case-insensitively.'),
    value: searchWords.optional().describe('Alias of name; name wins when both are given.'),
  })
  .transform(({ name, value, ...rest }, context) => {
    const words = name ?? value;
    if (words === undefined) {
      context.addIssue({ code: 'custom', path: ['name'], message: 'required: the words to find in the names (name=...)' });
      return z.NEVER;
    }
    return { ...rest, value: words };
  });
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

/** What {@link pageInHeaders} needs of the request and reply: Fastify's satisfy it. */
export interface HeaderPaging {
  request: { url: string };
  reply: { header(name: string, value: string): unknown };
}

/**
 * The v1 lists answered as a bare array (patient search, a patient's messages): the records of the page as the body,
 * the total in `X-Total-Count` and the neighbouring pages in an RFC 8288 `Link` header (`rel="next"`, `rel="prev"`)
 * whose targets are the request's own path and query with only `page` and `limit` changed.
 */
export function pageInHeaders<T>({ request, reply }: HeaderPaging, page: Page<T>): T[] {
  reply.header('x-total-count', String(page.total));
  const links: string[] = [];
  if (page.page * page.limit < page.total) links.push(`<${pageUrl(request.url, page.page + 1, page.limit)}>; rel="next"`);
  if (page.page > 1)
    links.push(
      `<${pageUrl(request.url, Math.min(page.page - 1, Math.max(1, Math.ceil(page.total / page.limit))), page.limit)}>; rel="prev"`,
    );
  if (links.length > 0) reply.header('link', links.join(', '));
  return page.response;
}

// A path-absolute reference: RFC 8288 resolves it against the request's URL, so it stays right behind the gateway.
function pageUrl(requestUrl: string, page: number, limit: number): string {
  const [path, query = ''] = requestUrl.split('?', 2) as [string, string?];
  const params = new URLSearchParams(query);
  params.set('page', String(page));
  params.set('limit', String(limit));
  return `${path}?${params.toString()}`;
}

/** The response headers of {@link pageInHeaders}, for a route's OpenAPI response (`z.array(item).meta(pagingHeaders)`). */
export const pagingHeaders = {
  headers: {
    'X-Total-Count': { type: 'integer', description: 'How many records match in all, on every page.' },
    Link: {
      type: 'string',
      description:
        'RFC 8288 links to the neighbouring pages, e.g. `</api/patients/search?type=name&value=ann&page=2&limit=25>; rel="next"`; no rel="next" on the last page.',
    },
  },
};

/** A bare-array list answer with its paging in headers (see {@link pageInHeaders}), as the OpenAPI document shows it. */
export const arrayPageOf = <T extends z.ZodType>(item: T) =>
  z.array(item).meta({ description: 'The records of the page, as a bare array; paging in X-Total-Count and Link.', ...pagingHeaders });

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

/**
 * The v1 `user` of every record: the tenant's root account. The organization is that root, so it is the organization's
 * id (ADR 0022); bodies may name it, or the caller's own user id, where v1 clients send `user`.
 */
export const rootAccount = z.uuid().describe("The tenant's root account (v1 `user`): the organization's id.");

/** The v1 `user` of a record of `organization` (see {@link rootAccount}). */
export const rootAccountOf = (organization: string): string => organization;

/** An instant an answer carries (ISO 8601, UTC): documented as a date-time; the value is the service's own, not re-checked. */
export const timestamp = z.string().meta({ format: 'date-time', examples: ['2027-03-02T15:30:00.000Z'] });

/** An e-mail address an answer carries: documented as an email; the value is the service's own, not re-checked. */
export const emailAddress = z.string().meta({ format: 'email', examples: ['front.desk@harbor-clinic.example'] });

/** A phone number an answer carries, in E.164. */
export const e164Phone = z.string().meta({ description: 'E.164.', examples: ['+12125550101'] });

/** A length of time in minutes, as appointments, slots and offers answer it. */
export const minutes = z
  .number()
  .int()
  .meta({ description: 'Minutes.', examples: [30] });

/** Fields every record answers with besides its own. */
export const recordFields = {
  _id: z.uuid(),
  organization: z.uuid(),
  user: rootAccount,
  deleted: deletedFlag,
  createdBy: z.string(),
  updatedBy: z.string(),
  createdAt: timestamp,
  updatedAt: timestamp,
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
    user: rootAccountOf(row.organization),
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
export const instant = z.iso
  .datetime({ offset: true })
  .meta({ description: 'An instant with its offset, e.g. 2027-03-02T15:30:00Z.', examples: ['2027-03-02T15:30:00Z'] });

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
export function dateBoundsWhere<C extends string>(
  column: C,
  bounds: DateBound[] | undefined,
): { AND?: Array<Record<C, Partial<Record<DateBound['op'], Date>>>> } {
  return bounds
    ? { AND: bounds.map((bound) => ({ [column]: { [bound.op]: bound.at } }) as Record<C, Partial<Record<DateBound['op'], Date>>>) }
    : {};
}
