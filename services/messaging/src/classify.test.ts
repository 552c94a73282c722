import { describe, expect, it } from 'vitest';
import { classifyReply } from './classify.js';

describe('reading SMS replies', () => {
  it('reads confirmations, cancellations and the consent keywords, whatever the case and trailing punctuation', () => {
    expect(classifyReply('C', false)).toEqual({ intent: 'confirm', classification: 'positive', keyword: 'C' });
    expect(classifyReply(' yes! ', false)).toMatchObject({ intent: 'confirm', classification: 'positive' });
    expect(classifyReply('x', false)).toMatchObject({ intent: 'cancel', classification: 'negative' });
    expect(classifyReply('No.', false)).toMatchObject({ intent: 'cancel' });
    for (const word of ['STOP', 'stop', 'Unsubscribe', 'CANCEL', 'end', 'QUIT', 'STOPALL', 'revoke']) {
      expect(classifyReply(word, false), word).toMatchObject({ intent: 'opt-out', classification: 'recognized-keywords' });
    }
    expect(classifyReply('START', true)).toMatchObject({ intent: 'opt-in', keyword: 'START' });
    expect(classifyReply('unstop', false)).toMatchObject({ intent: 'opt-in' });
    expect(classifyReply('YES', true)).toMatchObject({ intent: 'opt-in' });
    expect(classifyReply('help', false)).toMatchObject({ intent: 'help', classification: 'recognized-keywords' });
  });

  it('does not read keywords inside sentences', () => {
    expect(classifyReply('please stop by the pharmacy', false)).toEqual({ intent: 'other', classification: 'unclassified', keyword: null });
    expect(classifyReply('Can I come at 3 instead?', false)).toMatchObject({ intent: 'other' });
    expect(classifyReply('   ', false)).toMatchObject({ intent: 'other', classification: 'irregular' });
  });
});
