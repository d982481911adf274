import { InvalidAmountError, MAX_AMOUNT_MINOR, formatMinor, parseAmount } from './money.js';

describe(parseAmount.name, () => {
  it.each([
    [2000, 200000n],
    ['2000', 200000n],
    ['12.50', 1250n],
    ['12.5', 1250n],
    [4000.01, 400001n],
    [0.01, 1n],
    ['0.01', 1n],
    ['007', 700n],
    [1_000_000_000_000, MAX_AMOUNT_MINOR],
  ])('reads %p as %p minor units', (input, minor) => {
    expect(parseAmount(input)).toBe(minor);
  });

  it.each([
    [0, 'greater than 0'],
    ['0.00', 'greater than 0'],
    [-5, 'greater than 0'],
    ['-5', 'greater than 0'],
    [0.001, 'at most 2 decimal places'],
    ['1.234', 'at most 2 decimal places'],
    [1e21, 'plain decimal digits'],
    ['1e3', 'plain decimal digits'],
    [' 12', 'plain decimal digits'],
    ['1,000', 'plain decimal digits'],
    ['+5', 'plain decimal digits'],
    ['12.', 'plain decimal digits'],
    ['.5', 'plain decimal digits'],
    ['', 'plain decimal digits'],
    [1_000_000_000_000.01, 'at most 1000000000000'],
    [null, 'a number or a decimal string'],
    [true, 'a number or a decimal string'],
    [{}, 'a number or a decimal string'],
    [Number.NaN, 'finite'],
  ])('refuses %p (%s)', (input, reason) => {
    expect(() => parseAmount(input)).toThrow(InvalidAmountError);
    expect(() => parseAmount(input)).toThrow(reason);
  });
});

describe(formatMinor.name, () => {
  it.each([
    [200000n, '2000'],
    [1250n, '12.5'],
    [1205n, '12.05'],
    [1n, '0.01'],
    [0n, '0'],
    [MAX_AMOUNT_MINOR * 1000n + 99n, '1000000000000000.99'],
  ])('renders %p as %p', (minor, text) => {
    expect(formatMinor(minor)).toBe(text);
  });
});
