import { describe, expect, it } from 'vitest';
import { dateBoundsWhere, dateFilter, onPage, pageInHeaders, pageOf, pageWindow, recordView, searchQuery } from './api-conventions.js';

describe('date filter', () => {
  it('reads repeated comparisons into bounds, mending a + offset that arrived as a space', () => {
    expect(dateFilter.parse(['>=2026-01-01T00:00:00Z', '<2026-02-01T00:00:00 05:00'])).toEqual([
      { op: 'gte', at: new Date('2026-01-01T00:00:00Z') },
      { op: 'lt', at: new Date('2026-01-31T19:00:00Z') },
    ]);
    expect(dateFilter.parse('>2026-03-08T07:00:00Z')).toEqual([{ op: 'gt', at: new Date('2026-03-08T07:00:00Z') }]);
  });

  it('refuses a value without a comparison or without an instant', () => {
    for (const bad of ['2026-01-01T00:00:00Z', '>yesterday', '=>2026-01-01T00:00:00Z', ['>2026-01-01T00:00:00Z', '<2026-01-01']]) {
      const result = dateFilter.safeParse(bad);
      expect(result.success, JSON.stringify(bad)).toBe(false);
      expect(result.error?.issues[0]?.message).toMatch(/>, >=, < or <=/);
    }
  });

  it('becomes a Prisma where fragment on the given column, or nothing', () => {
    const bounds = dateFilter.parse(['>=2026-01-01T00:00:00Z', '<2026-02-01T00:00:00Z']);
    expect(dateBoundsWhere('sendAt', bounds)).toEqual({
      AND: [{ sendAt: { gte: new Date('2026-01-01T00:00:00Z') } }, { sendAt: { lt: new Date('2026-02-01T00:00:00Z') } }],
    });
    expect(dateBoundsWhere('sendAt', undefined)).toEqual({});
  });
});

describe('pages', () => {
  it('turns page and limit into rows to skip and take, and answers the v1 list envelope', () => {
    expect(pageWindow({ page: 1, limit: 25 })).toEqual({ skip: 0, take: 25 });
    expect(pageWindow({ page: 3, limit: 10 })).toEqual({ skip: 20, take: 10 });
    expect(pageOf(['a'], { page: 2, limit: 1 }, 7)).toEqual({ response: ['a'], page: 2, limit: 1, total: 7 });
  });

  it('cuts one page out of a list in memory, empty past its end', () => {
    const all = [1, 2, 3, 4, 5];
    expect(onPage(all, { page: 2, limit: 2 })).toEqual([3, 4]);
    expect(onPage(all, { page: 3, limit: 2 })).toEqual([5]);
    expect(onPage(all, { page: 4, limit: 2 })).toEqual([]);
  });
});

describe('pages in headers', () => {
  /** What pageInHeaders sets on a reply, for a request to `url`. */
  const answer = (url: string, page: number, limit: number, total: number, records: string[]) => {
    const headers: Record<string, string> = {};
    const body = pageInHeaders(
      { request: { url }, reply: { header: (name, value) => (headers[name] = value) } },
      pageOf(records, { page, limit }, total),
    );
    return { body, headers };
  };

  it('answers the bare records, the total in X-Total-Count, and RFC 8288 links that change only page and limit', () => {
    const first = answer('/api/messages?patient=p1&type=inbound&limit=2', 1, 2, 5, ['a', 'b']);
    expect(first.body).toEqual(['a', 'b']);
    expect(first.headers).toEqual({ 'x-total-count': '5', link: '</api/messages?patient=p1&type=inbound&limit=2&page=2>; rel="next"' });

    const middle = answer('/api/messages?page=2&limit=2&patient=p1', 2, 2, 5, ['c', 'd']);
    expect(middle.headers['link']).toBe(
      '</api/messages?page=3&limit=2&patient=p1>; rel="next", </api/messages?page=1&limit=2&patient=p1>; rel="prev"',
    );

    const last = answer('/api/messages?page=3&limit=2', 3, 2, 5, ['e']);
    expect(last.headers['link']).toBe('</api/messages?page=2&limit=2>; rel="prev"');
  });

  it('sets no Link when everything fits one page, and points prev at the last page from past the end', () => {
    expect(answer('/api/patients/search?type=name&value=ann', 1, 25, 3, ['a', 'b', 'c']).headers).toEqual({ 'x-total-count': '3' });
    expect(answer('/api/patients/search?type=name&value=ann&page=9', 9, 25, 30, []).headers['link']).toBe(
      '</api/patients/search?type=name&value=ann&page=2&limit=25>; rel="prev"',
    );
  });
});

describe('search query', () => {
  it("reads the v1 client's name, keeps value as an alias, and names name when neither is given", () => {
    expect(searchQuery.parse({ name: ' curie ' })).toEqual({ page: 1, limit: 25, value: 'curie' });
    expect(searchQuery.parse({ value: 'curie', page: '2' })).toEqual({ page: 2, limit: 25, value: 'curie' });
    expect(searchQuery.parse({ name: 'marie', value: 'pierre' })).toMatchObject({ value: 'marie' });
    const missing = searchQuery.safeParse({});
    expect(missing.error?.issues).toEqual([expect.objectContaining({ path: ['name'] })]);
  });
});

describe('record view', () => {
  it("carries the v1 `user`, the tenant's root account: the organization's id", () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const view = recordView({
      id: 'r1',
      organization: 'o1',
      deleted: false,
      createdBy: 'u1',
      updatedBy: 'u1',
      createdAt: at,
      updatedAt: at,
    });
    expect(view).toMatchObject({ _id: 'r1', organization: 'o1', user: 'o1', deleted: 0 });
  });
});
