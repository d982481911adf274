import { randomBytes } from 'node:crypto';

/**
 * Money is an integer number of minor units (cents) in a `bigint`, from the HTTP edge to the
 * protobuf int64 on Kafka and back. One parser turns what a client sent into minor units
 * exactly (never through binary floating point); one formatter renders minor units as a
 * decimal. No arithmetic on `number` amounts anywhere.
 */

/** Minor units per major unit: amounts carry at most two decimal places. */
const MINOR_PER_MAJOR = 100n;

/** The largest accepted amount: 1,000,000,000,000 major units. */
export const MAX_AMOUNT_MINOR = 1_000_000_000_000n * MINOR_PER_MAJOR;

const DECIMAL = /^(\d+)(?:\.(\d{1,2}))?$/;

export class InvalidAmountError extends Error {}

/**
 * Parses an amount as a client sends it: a JSON number (read by its shortest decimal form,
 * `String(n)`, so `4000.01` is 4000.01 exactly) or a decimal string of plain digits with an
 * optional point and one or two fraction digits. Returns minor units; throws
 * {@link InvalidAmountError} with a message fit for the client otherwise.
 */
export function parseAmount(input: unknown, field = 'amount'): bigint {
  let text: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw new InvalidAmountError(`${field} must be a finite number`);
    text = String(input);
  } else if (typeof input === 'string') {
    text = input;
  } else {
    throw new InvalidAmountError(`${field} must be a number or a decimal string such as "12.50"`);
  }
  const match = DECIMAL.exec(text);
  if (!match) {
    if (/^-/.test(text)) throw new InvalidAmountError(`${field} must be greater than 0`);
    if (/^\d+\.\d{3,}$/.test(text)) throw new InvalidAmountError(`${field} must have at most 2 decimal places`);
    throw new InvalidAmountError(
      `${field} must be plain decimal digits with an optional point and 1-2 fraction digits, such as "12.50"`,
    );
  }
  const minor = BigInt(match[1]) * MINOR_PER_MAJOR + BigInt((match[2] ?? '').padEnd(2, '0'));
  if (minor <= 0n) throw new InvalidAmountError(`${field} must be greater than 0`);
  if (minor > MAX_AMOUNT_MINOR) throw new InvalidAmountError(`${field} must be at most 1000000000000`);
  return minor;
}

/** Renders minor units as a plain decimal: 200000n → "2000", 1250n → "12.5", 1205n → "12.05". */
export function formatMinor(minor: bigint): string {
  const sign = minor < 0n ? '-' : '';
  const abs = minor < 0n ? -minor : minor;
  const whole = abs / MINOR_PER_MAJOR;
  const cents = abs % MINOR_PER_MAJOR;
  if (cents === 0n) return `${sign}${whole}`;
  return `${sign}${whole}.${cents.toString().padStart(2, '0').replace(/0$/, '')}`;
}

/**
 * What a {@link Money} writes into JSON.stringify's output: its decimal in a string behind this
 * marker, which the service's JSON serializer turns into a bare number literal. The random part
 * keeps any string a client sent from passing for one.
 */
export const MONEY_JSON_MARK = `\u0001money-${randomBytes(6).toString('hex')}:`;

/**
 * An amount in an HTTP response: rendered as an exact JSON number (200000n → 2000, 1250n →
 * 12.5) by the service's JSON serializer, never through a binary float.
 */
export class Money {
  constructor(readonly minor: bigint) {}

  toJSON(): string {
    return `${MONEY_JSON_MARK}${formatMinor(this.minor)}`;
  }
}
