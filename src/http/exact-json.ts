import { MONEY_JSON_MARK } from '../money/money.js';

/** A marked amount as JSON.stringify writes it (the marker's control character escaped), quotes included. */
const MARKED = new RegExp(`"${JSON.stringify(MONEY_JSON_MARK).slice(1, -1).replace(/\\/g, '\\\\')}(-?\\d+(?:\\.\\d+)?)"`, 'g');
const MARKED_START = JSON.stringify(MONEY_JSON_MARK).slice(0, -1);

/**
 * JSON.stringify for response bodies, except that a {@link Money} becomes an exact JSON number
 * literal (written from its minor units) and a bigint a decimal string.
 */
export function toExactJson(payload: unknown): string {
  let text: string;
  try {
    // No replacer: V8 writes the whole value natively, Money through its toJSON.
    text = JSON.stringify(payload);
  } catch (error) {
    // A bigint somewhere (the monitor's figures): written as a decimal string.
    if (!(error instanceof TypeError)) throw error;
    text = JSON.stringify(payload, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  }
  return text.includes(MARKED_START) ? text.replace(MARKED, '$1') : text;
}
