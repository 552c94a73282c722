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

  it('reads the one-letter and word answers to a reminder: Y, C, YES confirm; N, X, NO cancel', () => {
    for (const word of ['Y', 'c', 'YES', 'yes.'])
      expect(classifyReply(word, false), word).toMatchObject({ intent: 'confirm', classification: 'positive' });
    for (const word of ['N', 'x', 'NO', 'no!'])
      expect(classifyReply(word, false), word).toMatchObject({ intent: 'cancel', classification: 'negative' });
  });

  it('reads WAITLIST in any case and with any punctuation or spacing', () => {
    for (const word of ['WAITLIST', 'waitlist', 'Waitlist!', ' wait list ', 'Wait-List.', '"waitlist"']) {
      expect(classifyReply(word, false), word).toEqual({ intent: 'waitlist', classification: 'recognized-keywords', keyword: 'WAITLIST' });
    }
    expect(classifyReply('put me on the waitlist please', false)).toMatchObject({ intent: 'other' });
  });

  it('reads the Spanish texts’ ESPERA and the whole phrase LISTA DE ESPERA as WAITLIST', () => {
    for (const word of ['ESPERA', 'espera.', 'Lista de espera', 'lista-de-espera!']) {
      expect(classifyReply(word, false), word).toEqual({ intent: 'waitlist', classification: 'recognized-keywords', keyword: 'WAITLIST' });
    }
    expect(classifyReply('espero que sí', false)).toMatchObject({ intent: 'other' });
  });

  it('does not read keywords inside sentences', () => {
    expect(classifyReply('please stop by the pharmacy', false)).toEqual({ intent: 'other', classification: 'unclassified', keyword: null });
    expect(classifyReply('Can I come at 3 instead?', false)).toMatchObject({ intent: 'other' });
    expect(classifyReply('   ', false)).toMatchObject({ intent: 'other', classification: 'irregular' });
  });
});
