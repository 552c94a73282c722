/** Whether a string of digits passes the Luhn check every payment card number passes. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let index = 0; index < digits.length; index++) {
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

// 13 to 19 digits, optionally grouped by single spaces or dashes as people type them; not part of a longer number.
const CANDIDATE = /(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])/g;

/** Whether a value (a string, or a number someone sent as one) contains something shaped like a card number. */
export function containsCardNumber(value: unknown): boolean {
  const text = typeof value === 'number' && Number.isInteger(value) ? String(value) : typeof value === 'string' ? value : null;
  if (text === null) return false;
  for (const match of text.matchAll(CANDIDATE)) {
    const digits = match[0].replace(/[ -]/g, '');
    if (digits.length >= 13 && digits.length <= 19 && luhnValid(digits)) return true;
  }
  return false;
}

/**
 * The dotted paths (`body.address.line1`) of every field of a request body that carries a card number. Billing takes
 * Stripe payment method ids only: card numbers must never reach it, its logs or its database.
 */
export function cardNumberFields(body: unknown, path = 'body', depth = 0): string[] {
  if (depth > 32) return [];
  if (Array.isArray(body)) return body.flatMap((item, index) => cardNumberFields(item, `${path}.${index}`, depth + 1));
  if (body !== null && typeof body === 'object') {
    return Object.entries(body as Record<string, unknown>).flatMap(([key, value]) => [
      // A card number sent as a key is still a card number.
      ...(containsCardNumber(key) ? [`${path}.${key.replace(/\d/g, '#')}`] : []),
      ...cardNumberFields(value, `${path}.${containsCardNumber(key) ? key.replace(/\d/g, '#') : key}`, depth + 1),
    ]);
  }
  return containsCardNumber(body) ? [path] : [];
}
