import { createRequire } from 'node:module';
import { recordDecoder, recordEncoder } from './kafkajs-records.js';

// kafkajs's own modules, loaded as they are (CommonJS), to compare with.
const load = createRequire(`${process.cwd()}/package.json`);
const Encoder = load('kafkajs/src/protocol/encoder.js');
const original = load('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const Long = load('kafkajs/src/utils/long.js');
const Decoder = load('kafkajs/src/protocol/decoder.js');
const originalDecoder = load('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');

describe(recordEncoder.name, () => {
  const patched = recordEncoder(Encoder);

  it.each([
    ['a key and a value', { key: Buffer.from('wallet-1'), value: Buffer.from([1, 2, 3]) }],
    ['no value (a tombstone)', { key: Buffer.from('k'), value: null }],
    ['string key and value', { key: 'clé', value: 'välue' }],
    ['headers', { key: 'k', value: Buffer.alloc(300, 7), headers: { applied: 'deposit=12345', 'dlq.error': 'x'.repeat(200) } }],
    ['repeated headers', { key: 'k', value: 'v', headers: { a: ['1', '2'], b: Buffer.from('3') } }],
    ['offsets and times', { key: 'k', value: 'v', offsetDelta: 99_999, timestampDelta: Long.fromNumber(1_796_000_000_123) }],
    ['times as numbers', { key: 'k', value: 'v', offsetDelta: 64, timestampDelta: 1_796_000_000_123 }],
    ['a negative time', { key: 'k', value: 'v', offsetDelta: 1, timestampDelta: -1 }],
    ['a time that is not a whole number', { key: 'k', value: 'v', timestampDelta: Number.NaN }],
    ['a long value and a long key', { key: 'k'.repeat(200), value: Buffer.alloc(70_000, 1) }],
    ['empty key and value', { key: '', value: Buffer.alloc(0) }],
  ])('writes the bytes kafkajs writes: %s', (_case, record) => {
    expect(patched(record as never).buffer).toEqual(original(record).buffer);
  });
});

describe(recordDecoder.name, () => {
  const patched = recordDecoder(Long, Decoder);
  // Every field a consumer of kafkajs reads, read twice: the patched record reads its bytes on access.
  const decodeWith = (decode: (decoder: unknown, context: unknown) => unknown, record: object, context: object) => {
    const bytes = new Decoder(original(record).buffer).readVarIntBytes();
    const message = decode(new Decoder(bytes), context) as Record<string, unknown>;
    const read = () => Object.fromEntries(['magicByte', 'attributes', 'timestamp', 'offset', 'key', 'value', 'headers', 'isControlRecord', 'batchContext'].map((name) => [name, message[name]]));
    const first = read();
    expect(read()).toEqual(first);
    return first;
  };
  const batch = { firstOffset: '1234567', firstTimestamp: '1796000000000', magicByte: 2, timestampType: 0, maxTimestamp: '1796000000999' };

  it.each([
    ['a key and a value', { key: Buffer.from('wallet-1'), value: Buffer.from([1, 2, 3]), offsetDelta: 7, timestampDelta: 12 }, batch],
    ['no key, no value', { key: null, value: null }, batch],
    ['an empty key, a value longer than a byte of length', { key: '', value: Buffer.alloc(300, 9) }, batch],
    ['headers, one repeated, one empty', { key: 'k', value: 'v', headers: { applied: 'deposit=12345', a: ['1', '2', '3'], b: '' } }, batch],
    ['a negative time delta', { key: 'k', value: 'v', timestampDelta: -5 }, batch],
    ['a time delta past 49 bits', { key: 'k', value: 'v', timestampDelta: Long.fromNumber(2 ** 52) }, batch],
    ['offsets past 2^53', { key: 'k', value: 'v', offsetDelta: 3 }, { ...batch, firstOffset: '9007199254740990' }],
    ['log append time', { key: 'k', value: 'v', timestampDelta: 40 }, { ...batch, timestampType: 1 }],
    ['a control batch', { key: 'k', value: 'v' }, { ...batch, isControlBatch: true }],
  ])('reads what kafkajs reads: %s', (_case, record, context) => {
    expect(decodeWith(patched as never, record, context)).toEqual(decodeWith(originalDecoder, record, context));
  });
});
