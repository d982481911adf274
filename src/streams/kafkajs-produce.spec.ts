import { createRequire } from 'node:module';
import { afterEach, beforeEach, jest } from '@jest/globals';
import { crc32c } from '@node-rs/crc32';
import { type ProduceArgs, produceRequest, recordEncoder, requestFraming } from './kafkajs-produce.js';

// kafkajs's own modules, loaded as they are (CommonJS), to compare bytes with.
const load = createRequire(`${process.cwd()}/package.json`);
const Encoder = load('kafkajs/src/protocol/encoder.js');
const original = load('kafkajs/src/protocol/requests/produce/v3/request.js');
const originalRecord = load('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const originalFraming = load('kafkajs/src/protocol/request.js');
const Long = load('kafkajs/src/utils/long.js');
const { Types: Compression } = load('kafkajs/src/protocol/message/compression/index.js');

const bytesOf = async (request: { encode(): Promise<{ buffer: Buffer }> }) => (await request.encode()).buffer;

describe(produceRequest.name, () => {
  // With the CRC the service installs (kafkajs-patches.ts): the bytes must be kafkajs's, CRC included.
  const patched = produceRequest(original, Encoder, crc32c);
  const many = Array.from({ length: 300 }, (_, index) => ({ key: `wallet-${index}`, value: Buffer.alloc(index % 7 === 0 ? 200 : 20, index) }));
  const transaction = {
    acks: -1,
    timeout: 30_000,
    transactionalId: 'balance-3',
    producerId: Long.fromNumber(4_000_000_123),
    producerEpoch: 7,
    topicData: [
      {
        topic: 'balance-table',
        partitions: [
          { partition: 3, firstSequence: 41, messages: [{ key: 'w1', value: Buffer.from([1, 2]), headers: { applied: Buffer.from('deposit=41') } }, { key: 'w2', value: null }] },
          { partition: 5, firstSequence: 0, messages: many },
        ],
      },
      {
        topic: 'balance-deposits-table',
        partitions: [{ partition: 3, firstSequence: 9, messages: [{ key: 'id', value: Buffer.alloc(70_000, 3), headers: { 'store-batch': 'published', many: ['1', Buffer.from('2')] } }] }],
      },
    ],
  };

  beforeEach(() => {
    jest.spyOn(Date, 'now').mockReturnValue(1_796_000_000_123);
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it.each([
    ['a transaction over two topics and three partitions, with headers, tombstones and long values', transaction],
    ['an idempotent producer outside transactions', { acks: -1, timeout: 1000, producerId: 12, producerEpoch: 0, topicData: [{ topic: 'deposit', partitions: [{ partition: 0, firstSequence: 5, messages: [{ key: 'clé', value: 'välue' }] }] }] }],
    ['no producer at all', { acks: 1, timeout: 1000, topicData: [{ topic: 't', partitions: [{ partition: 1, messages: [{ key: null, value: Buffer.from('x'), headers: {} }] }] }] }],
    ['a partition without messages', { acks: -1, timeout: 1000, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [] }] }] }],
    ['messages with times of their own (kafkajs encodes them)', { acks: -1, timeout: 1000, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v', timestamp: '1796000000000' }] }] }] }],
    ['compressed records (kafkajs encodes them)', { ...transaction, compression: Compression.GZIP, topicData: [transaction.topicData[1]] }],
  ])('writes the bytes kafkajs writes: %s', async (_case, args) => {
    expect(await bytesOf(patched(args as ProduceArgs))).toEqual(await bytesOf(original(args)));
  });

  it('frames a request as kafkajs does', async () => {
    const framed = requestFraming(Encoder);
    for (const clientId of ['depositaja', null]) {
      const request = { correlationId: 77, clientId, request: patched(transaction as ProduceArgs) };
      expect((await framed(request as never)).buffer).toEqual((await originalFraming(request)).buffer);
    }
  });
});

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
    expect(patched(record as never).buffer).toEqual(originalRecord(record).buffer);
  });
});
