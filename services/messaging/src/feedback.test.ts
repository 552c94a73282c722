import { describe, expect, it } from 'vitest';
import { categoryOf, npsOf, scoreOf } from './feedback.service.js';

describe('feedback scores', () => {
  it('reads a reply of digits 0 to 10 as a score, with spaces, trailing punctuation and an out-of-ten', () => {
    expect(['0', '7', '10', ' 9 ', '10!', '8.', '6?!', '8/10', '9 / 10'].map(scoreOf)).toEqual([0, 7, 10, 9, 10, 8, 6, 8, 9]);
  });

  it('reads no score from words, sentences, numbers out of range or keywords', () => {
    expect(['ten', 'one', '11', '-1', '100', '7.5', 'C', 'YES', 'STOP', '', '9 because', 'about 8', '010/10x'].map(scoreOf)).toEqual(
      Array(13).fill(null),
    );
  });

  it('places 9–10 as promoters, 7–8 as passives and 0–6 as detractors', () => {
    expect([0, 6, 7, 8, 9, 10].map(categoryOf)).toEqual(['detractor', 'detractor', 'passive', 'passive', 'promoter', 'promoter']);
  });

  it('computes NPS as %promoters − %detractors, an integer with halves away from zero, null without answers', () => {
    expect(npsOf({ promoters: 5, detractors: 3, answered: 10 })).toBe(20);
    expect(npsOf({ promoters: 2, detractors: 3, answered: 7 })).toBe(-14);
    expect(npsOf({ promoters: 1, detractors: 0, answered: 8 })).toBe(13);
    expect(npsOf({ promoters: 0, detractors: 1, answered: 8 })).toBe(-13);
    expect(npsOf({ promoters: 4, detractors: 0, answered: 4 })).toBe(100);
    expect(npsOf({ promoters: 0, detractors: 4, answered: 4 })).toBe(-100);
    expect(npsOf({ promoters: 0, detractors: 0, answered: 0 })).toBeNull();
  });
});
