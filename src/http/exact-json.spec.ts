import { MONEY_JSON_MARK, Money } from '../money/money.js';
import { toExactJson } from './exact-json.js';

describe(toExactJson.name, () => {
  it('writes amounts as exact number literals, wherever they are', () => {
    const sut = toExactJson({ balance: new Money(200000n), deposits: [{ amount: new Money(1250n) }, { amount: new Money(5n) }], big: new Money(100000000000000n) });

    expect(sut).toBe('{"balance":2000,"deposits":[{"amount":12.5},{"amount":0.05}],"big":1000000000000}');
  });

  it('writes bigints as decimal strings', () => {
    expect(toExactJson({ offset: 9007199254740993n, amount: new Money(1n), nested: [1n] })).toBe('{"offset":"9007199254740993","amount":0.01,"nested":["1"]}');
  });

  it('leaves strings that look like a marked amount as strings', () => {
    const lookalike = `${MONEY_JSON_MARK.slice(0, -3)}xyz:5`;

    expect(toExactJson({ reason: '\u0001money:5', other: lookalike })).toBe(JSON.stringify({ reason: '\u0001money:5', other: lookalike }));
  });

  it('still refuses what JSON cannot write', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;

    expect(() => toExactJson(cyclic)).toThrow(TypeError);
  });
});
