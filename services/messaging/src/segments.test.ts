import { describe, expect, it } from 'vitest';
import { messageUsage, smsSegments } from './segments.js';

describe('SMS segments', () => {
  it('fits 160 GSM-7 characters in one segment and splits longer texts into parts of 153', () => {
    expect(smsSegments('')).toBe(1);
    expect(smsSegments('a'.repeat(160))).toBe(1);
    expect(smsSegments('a'.repeat(161))).toBe(2);
    expect(smsSegments('a'.repeat(306))).toBe(2);
    expect(smsSegments('a'.repeat(307))).toBe(3);
  });

  it('counts an extension character (€, braces, brackets) as two septets and never splits it across parts', () => {
    expect(smsSegments('€'.repeat(80))).toBe(1);
    expect(smsSegments('€'.repeat(81))).toBe(2);
    // 152 septets, then an escaped character that would straddle the first part's end: it moves to the second.
    expect(smsSegments('a'.repeat(152) + '€' + 'a'.repeat(10))).toBe(2);
    expect(smsSegments('a'.repeat(152) + '€' + 'a'.repeat(152))).toBe(3);
  });

  it('falls back to UCS-2 for anything outside the GSM alphabet: 70 units in one, 67 per part', () => {
    expect(smsSegments('ą'.repeat(70))).toBe(1);
    expect(smsSegments('ą'.repeat(71))).toBe(2);
    expect(smsSegments('ą'.repeat(134))).toBe(2);
    expect(smsSegments('ą'.repeat(135))).toBe(3);
    // One emoji makes the whole text UCS-2 and takes two units, kept together.
    expect(smsSegments('a'.repeat(69) + '😀')).toBe(2);
    expect(smsSegments('a'.repeat(66) + '😀' + 'a'.repeat(10))).toBe(2);
    expect(smsSegments('a'.repeat(65) + '😀' + 'a'.repeat(69))).toBe(3);
  });

  it('reads a typical reminder as one GSM-7 segment', () => {
    expect(smsSegments('Reminder: your appointment at Lakeside Clinic is on Tue 12/08 at 9:30 AM. Reply C to confirm, X to cancel.')).toBe(
      1,
    );
  });

  it('counts an SMS by its segments, a call as one minute and an e-mail as nothing', () => {
    expect(messageUsage('sms', 'a'.repeat(200))).toEqual({ segments: 2 });
    expect(messageUsage('voice', 'a'.repeat(2_000))).toEqual({ voiceMinutes: 1 });
    expect(messageUsage('email', 'a'.repeat(2_000))).toEqual({});
  });
});
