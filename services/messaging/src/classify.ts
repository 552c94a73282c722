/** How a reply was read (the product's classifications). */
export type Classification = 'positive' | 'negative' | 'irregular' | 'recognized-keywords' | 'unclassified';

/** What a reply asks for. */
export type Intent = 'confirm' | 'cancel' | 'accept-offer' | 'decline-offer' | 'opt-out' | 'opt-in' | 'help' | 'waitlist' | 'other';

/** A reply, read. `keyword` is the normalized word that decided it (STOP, C…), when one did. */
export interface Reading {
  intent: Intent;
  classification: Classification;
  keyword: string | null;
}

// The carriers' and Twilio's opt-out words (Twilio blocks the number on them whatever the platform does, so CANCEL
// is an opt-out here too, not an appointment cancellation; patients cancel with X), plus the FCC's 2025 additions.
const OPT_OUT = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'OPT-OUT', 'REVOKE']);
const OPT_IN = new Set(['START', 'UNSTOP', 'SUBSCRIBE']);
const HELP = new Set(['HELP', 'INFO']);
// SI/SÍ: the Spanish reminder and offer texts ask for SÍ.
const CONFIRM = new Set(['C', 'CONFIRM', 'CONFIRMED', 'Y', 'YES', 'OK', '1', 'SI', 'SÍ']);
const DECLINE = new Set(['X', 'N', 'NO', '2']);
const WAITLIST = new Set(['WAITLIST', 'ESPERA', 'LISTADEESPERA']);

/**
 * Reads an SMS reply. Only a reply that is one keyword counts (a sentence that happens to contain "stop" does not);
 * YES from a patient who opted out means opt in again, as Twilio reads it.
 */
export function classifyReply(text: string, optedOut: boolean): Reading {
  const word = text
    .trim()
    .toUpperCase()
    .replace(/[.!?,;:'"]+$/g, '')
    .replace(/^['"]+/, '');
  if (OPT_OUT.has(word)) return { intent: 'opt-out', classification: 'recognized-keywords', keyword: word };
  if (OPT_IN.has(word) || (optedOut && word === 'YES')) return { intent: 'opt-in', classification: 'recognized-keywords', keyword: word };
  if (HELP.has(word)) return { intent: 'help', classification: 'recognized-keywords', keyword: word };
  // Patients write it as they please (Waitlist!, wait list, wait-list): only its letters count. The Spanish texts ask
  // for ESPERA; LISTA DE ESPERA, the whole phrase, means the same.
  if (WAITLIST.has(word.replace(/[^A-Z]/g, ''))) return { intent: 'waitlist', classification: 'recognized-keywords', keyword: 'WAITLIST' };
  if (CONFIRM.has(word)) return { intent: 'confirm', classification: 'positive', keyword: word };
  if (DECLINE.has(word)) return { intent: 'cancel', classification: 'negative', keyword: word };
  if (word === '') return { intent: 'other', classification: 'irregular', keyword: null };
  return { intent: 'other', classification: 'unclassified', keyword: null };
}
