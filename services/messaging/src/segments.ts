import type { Channel } from './outbound.js';

// GSM 03.38: the default alphabet (one septet each) and its extension table (an escape plus one septet: two).
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM7_EXTENSION = new Set('\f^{}\\[~]|€');

/** Septets a text takes in GSM-7, or null when a character needs UCS-2. */
function gsm7Units(text: string): number[] | null {
  const units: number[] = [];
  for (const char of text) {
    if (GSM7_BASIC.has(char)) units.push(1);
    else if (GSM7_EXTENSION.has(char)) units.push(2);
    else return null;
  }
  return units;
}

/**
 * Packs units that must not be split (an escaped GSM-7 character, a UTF-16 surrogate pair) into segments: one when the
 * whole fits `single`, else segments of at most `multi` (the rest of each carries the concatenation header).
 */
function packed(units: number[], single: number, multi: number): number {
  const total = units.reduce((sum, unit) => sum + unit, 0);
  if (total <= single) return 1;
  let segments = 1;
  let used = 0;
  for (const unit of units) {
    if (used + unit > multi) {
      segments += 1;
      used = 0;
    }
    used += unit;
  }
  return segments;
}

/**
 * The SMS segments a text is sent (and billed) as: GSM-7 when every character is in the GSM alphabet (160 septets in
 * one, 153 per part of a longer one, an extension character taking two), otherwise UCS-2 (70 UTF-16 units, 67 per part;
 * a character outside the BMP takes two). An empty text is still one message.
 */
export function smsSegments(text: string): number {
  const gsm = gsm7Units(text);
  if (gsm) return packed(gsm, 160, 153);
  return packed(
    [...text].map((char) => char.length),
    70,
    67,
  );
}

/**
 * What a sent message counts as usage in its `message.sent` event: an SMS its segments, a call one minute (the call's
 * length is not known when it is placed), an e-mail nothing. Computed here because only messaging has the text.
 */
export function messageUsage(channel: Channel, text: string): { segments?: number; voiceMinutes?: number } {
  if (channel === 'sms') return { segments: smsSegments(text) };
  if (channel === 'voice') return { voiceMinutes: 1 };
  return {};
}
