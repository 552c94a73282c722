import { describe, expect, it } from 'vitest';
import { dateBoundsWhere, dateFilter, onPage, pageOf, pageWindow } from './api-conventions.js';

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
