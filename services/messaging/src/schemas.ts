import { z } from 'zod';

export {
  clearableText,
  deletedFlag,
  idParams,
  invalidFields,
  listOf,
  listQuery,
  optionalText,
  recordFields,
  recordView,
  text,
  type ListQuery,
  type Page,
  type RecordRow,
} from '@pep/service-kit';

/** The Postgres SQLSTATE behind a failed query, however the driver adapter wrapped it. */
export function sqlState(error: unknown): string | undefined {
  const candidate = error as { code?: unknown; meta?: { driverAdapterError?: { cause?: { originalCode?: unknown; code?: unknown } } } };
  const cause = candidate.meta?.driverAdapterError?.cause;
  const code = cause?.originalCode ?? cause?.code ?? candidate.code;
  return typeof code === 'string' ? code : undefined;
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
  .describe('Repeat with a comparison before each instant, e.g. >=2026-01-01T00:00:00Z and <2026-02-01T00:00:00Z (>, >=, <, <=).');
