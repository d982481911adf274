import { type DescField, type DescMessage, type MessageShape, ScalarType, create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as fc from 'fast-check';
import { BalanceStateSchema, DepositRecordSchema } from '../gen/depositaja/v1/balance_pb.js';
import { DepositSchema } from '../gen/depositaja/v1/deposit_pb.js';
import { FlagEventSchema, FlagValueSchema } from '../gen/depositaja/v1/flag_pb.js';
import { StoreBatchSchema } from '../gen/depositaja/v1/store_batch_pb.js';
import { WindowEntrySchema, WindowStateSchema } from '../gen/depositaja/v1/threshold_pb.js';
import { type Codec, protobufCodec } from '../streams/index.js';
import { topics } from './topic-map.js';

/**
 * The streams core compiles a codec per schema (src/streams/codec.ts) and promises protobuf-es's
 * bytes and messages: checked here for the codec of every topic of the service, and for the
 * core's own `StoreBatch`, on random values and on damaged bytes.
 */
const CODECS = [
  [topics.deposit.name, DepositSchema, topics.deposit.codec],
  [topics.flagWallet.name, FlagEventSchema, topics.flagWallet.codec],
  [topics.balanceTable.name, BalanceStateSchema, topics.balanceTable.codec],
  [topics.balanceDeposits.name, DepositRecordSchema, topics.balanceDeposits.codec],
  [topics.balanceKeys.name, DepositRecordSchema, topics.balanceKeys.codec],
  [topics.thresholdTable.name, WindowStateSchema, topics.thresholdTable.codec],
  [topics.thresholdKeys.name, WindowEntrySchema, topics.thresholdKeys.codec],
  [topics.flaggerTable.name, FlagValueSchema, topics.flaggerTable.codec],
  ['a StoreBatch', StoreBatchSchema, protobufCodec(StoreBatchSchema)],
] as Array<[string, DescMessage, Codec<MessageShape<DescMessage>>]>;

/** Random values for a field: edge values and text that is not ASCII included. */
function fieldValue(field: DescField): fc.Arbitrary<unknown> | undefined {
  if (field.fieldKind === 'list' && field.listKind === 'message') return fc.array(message(field.message), { maxLength: 4 });
  if (field.fieldKind === 'enum') return fc.integer({ min: -3, max: 5 });
  if (field.fieldKind !== 'scalar') return undefined;
  switch (field.scalar) {
    case ScalarType.STRING:
      return fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ minLength: 120, maxLength: 300 }));
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 200 });
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.INT64:
      return fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.bigInt({ min: -1000n, max: 2n ** 53n + 1000n }), fc.constantFrom(0n, -1n, 2n ** 63n - 1n, -(2n ** 63n)));
    default:
      return undefined;
  }
}

function message(desc: DescMessage): fc.Arbitrary<MessageShape<DescMessage>> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of desc.fields) {
    const value = fieldValue(field);
    if (!value) throw new Error(`the test has no values for ${desc.typeName}.${field.name}`);
    fields[field.localName] = field.presence === 1 ? fc.option(value, { nil: undefined }) : value;
  }
  return fc.record(fields).map((init) => create(desc, Object.fromEntries(Object.entries(init).filter(([, value]) => value !== undefined))));
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('the codec of every topic', () => {
  it('is checked for every topic of the service', () => {
    expect(CODECS.map(([name]) => name)).toEqual(expect.arrayContaining(Object.values(topics).map((topic) => topic.name)));
  });

  it.each(CODECS)('%s: encodes and decodes exactly as protobuf-es does', (_, schema, sut) => {
    fc.assert(
      fc.property(message(schema), (value) => {
        const expected = toBinary(schema, value);
        const encoded = sut.encode(value);
        expect(same(encoded, expected)).toBe(true);
        const decoded = sut.decode(expected);
        expect(equals(schema, decoded, fromBinary(schema, expected))).toBe(true);
        expect(decoded).toEqual(fromBinary(schema, expected));
      }),
      { numRuns: 400 },
    );
  });

  it.each(CODECS)('%s: decodes damaged bytes as protobuf-es does, or fails as it does', (_, schema, sut) => {
    const damaged = fc.oneof(
      // Cut short, or with bytes changed.
      fc.tuple(message(schema), fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 })).map(([value, cut, changes]) => {
        const bytes = toBinary(schema, value);
        for (const [at, byte] of changes) if (bytes.length > 0) bytes[at % bytes.length] = byte;
        return cut % 3 === 0 ? bytes.subarray(0, cut % (bytes.length + 1)) : bytes;
      }),
      fc.uint8Array({ maxLength: 64 }),
    );
    fc.assert(
      fc.property(damaged, (bytes) => {
        const theirs = attempt(() => fromBinary(schema, bytes));
        const ours = attempt(() => sut.decode(bytes));
        expect(ours.error).toEqual(theirs.error);
        if (theirs.value) expect(ours.value).toEqual(theirs.value);
      }),
      { numRuns: 1000 },
    );
  });

  it.each(CODECS)('%s: decodes a value where it lies within larger bytes (a fetched record), as protobuf-es decodes the value alone', (_, schema, sut) => {
    const value = fc.oneof(
      message(schema).map((shape) => toBinary(schema, shape)),
      // Damaged: cut short, or with a byte changed.
      fc.tuple(message(schema), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([shape, cut, at, byte]) => {
        const bytes = toBinary(schema, shape);
        if (bytes.length > 0) bytes[at % bytes.length] = byte;
        return bytes.subarray(0, cut % (bytes.length + 1));
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 16 }), value, fc.uint8Array({ minLength: 1, maxLength: 16 }), (before, bytes, after) => {
        const around = Buffer.concat([before, bytes, after]);
        const theirs = attempt(() => fromBinary(schema, bytes));
        const ours = attempt(() => sut.decode(around, before.length, before.length + bytes.length));
        expect(ours.error).toEqual(theirs.error);
        if (theirs.value) expect(ours.value).toEqual(theirs.value);
      }),
      { numRuns: 400 },
    );
  });

  it('is protobuf-es itself where JavaScript may not be generated (node --disallow-code-generation-from-strings)', () => {
    const generator = globalThis.Function;
    globalThis.Function = function disallowed() {
      throw new EvalError('Code generation from strings disallowed for this context');
    } as unknown as FunctionConstructor;
    const schema: DescMessage = WindowStateSchema;
    let sut: Codec<MessageShape<DescMessage>>;
    try {
      sut = protobufCodec(schema);
    } finally {
      globalThis.Function = generator;
    }
    fc.assert(
      fc.property(message(schema), (value) => {
        const expected = toBinary(schema, value);
        expect(same(sut.encode(value), expected)).toBe(true);
        expect(sut.decode(expected)).toEqual(fromBinary(schema, expected));
        expect(sut.decode(Buffer.concat([Buffer.from([1, 2]), expected, Buffer.from([3])]), 2, 2 + expected.length)).toEqual(fromBinary(schema, expected));
      }),
      { numRuns: 50 },
    );
  });

  it('keeps fields it does not know, as protobuf-es does', () => {
    const sut = topics.balanceTable.codec;
    const known = toBinary(BalanceStateSchema, create(BalanceStateSchema, { balanceMinor: 250n }));
    const withUnknown = new Uint8Array([...known, (99 << 3) | 0, 7]);

    const decoded = sut.decode(withUnknown);

    expect(decoded.balanceMinor).toBe(250n);
    expect(same(sut.encode(decoded), withUnknown)).toBe(true);
  });

  it('refuses what protobuf-es refuses (a 64-bit value out of range), and writes what it coerces (a number for a string) as it does', () => {
    const sut = topics.deposit.codec;
    const coerced = { ...create(DepositSchema), walletId: 5 as unknown as string };

    expect(() => sut.encode(create(DepositSchema, { amountMinor: 2n ** 63n }))).toThrow(/int64/);
    expect(same(sut.encode(coerced), toBinary(DepositSchema, coerced))).toBe(true);
  });
});

function attempt<T>(run: () => T): { value?: T; error?: string } {
  try {
    return { value: run() };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}
