import { Money, formatMinor } from '../money/money.js';

const MARK = '\u0001money:';
const MARKED = /"\\u0001money:(-?\d+(?:\.\d+)?)"/g;

/**
 * JSON.stringify for response bodies, except that a {@link Money} becomes an exact JSON number
 * literal (written from its minor units) and a bigint a decimal string.
 */
export function toExactJson(payload: unknown): string {
  const text = JSON.stringify(payload, (_key, value: unknown) => {
    if (value instanceof Money) return `${MARK}${formatMinor(value.minor)}`;
    if (typeof value === 'bigint') return value.toString();
    return value;
  });
  return text.includes('\\u0001money:') ? text.replace(MARKED, '$1') : text;
}
