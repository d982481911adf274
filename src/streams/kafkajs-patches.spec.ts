import { createRequire } from 'node:module';
import { recordEncoder } from './kafkajs-patches.js';

// kafkajs's own modules, loaded as they are (CommonJS), to compare bytes with.
const load = createRequire(`${process.cwd()}/package.json`);
const Encoder = load('kafkajs/src/protocol/encoder.js');
const original = load('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const Long = load('kafkajs/src/utils/long.js');

describe(recordEncoder.name, () => {
  const patched = recordEncoder(Encoder);

  it.each([
    ['a key and a value', { key: Buffer.from('wallet-1'), value: Buffer.from([1, 2, 3]) }],
    ['no value (a tombstone)', { key: Buffer.from('k'), value: null }],
    ['string key and value', { key: 'clé', value: 'välue' }],
    ['headers', { key: 'k', value: Buffer.alloc(300, 7), headers: { applied: 'deposit=12345', 'dlq.error': 'x'.repeat(200) } }],
    ['repeated headers', { key: 'k', value: 'v', headers: { a: ['1', '2'], b: Buffer.from('3') } }],
    ['offsets and times', { key: 'k', value: 'v', offsetDelta: 99_999, timestampDelta: Long.fromNumber(1_796_000_000_123) }],
  ])('writes the bytes kafkajs writes: %s', (_case, record) => {
    expect(patched(record as never).buffer).toEqual(original(record).buffer);
  });
});
