import { createRequire } from 'node:module';
import { batchInNumbers, fetchedKeyText, fetchedOffset, fetchedTimestamp, recordDecoder, recordEncoder } from './kafkajs-records.js';

// kafkajs's own modules, loaded as they are (CommonJS), to compare with.
const load = createRequire(`${process.cwd()}/package.json`);
const Encoder = load('kafkajs/src/protocol/encoder.js');
const original = load('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const Long = load('kafkajs/src/utils/long.js');
const Decoder = load('kafkajs/src/protocol/decoder.js');
const originalDecoder = load('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');
const Batch = load('kafkajs/src/consumer/batch.js');
const filterAbortedMessages = load('kafkajs/src/consumer/filterAbortedMessages.js');

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

  const cases: Array<[string, object, object]> = [
    ['a key and a value', { key: Buffer.from('wallet-1'), value: Buffer.from([1, 2, 3]), offsetDelta: 7, timestampDelta: 12 }, batch],
    ['a key that is not ASCII', { key: 'clé-ä', value: 'v' }, batch],
    ['no key, no value', { key: null, value: null }, batch],
    ['an empty key, a value longer than a byte of length', { key: '', value: Buffer.alloc(300, 9) }, batch],
    ['headers, one repeated, one empty', { key: 'k', value: 'v', headers: { applied: 'deposit=12345', a: ['1', '2', '3'], b: '' } }, batch],
    ['a negative time delta', { key: 'k', value: 'v', timestampDelta: -5 }, batch],
    ['a time delta past 49 bits', { key: 'k', value: 'v', timestampDelta: Long.fromNumber(2 ** 52) }, batch],
    ['offsets past 2^53', { key: 'k', value: 'v', offsetDelta: 3 }, { ...batch, firstOffset: '9007199254740990' }],
    ['log append time', { key: 'k', value: 'v', timestampDelta: 40 }, { ...batch, timestampType: 1 }],
    ['a control batch', { key: 'k', value: 'v' }, { ...batch, isControlBatch: true }],
  ];

  it.each(cases)('reads what kafkajs reads: %s', (_case, record, context) => {
    expect(decodeWith(patched as never, record, context)).toEqual(decodeWith(originalDecoder, record, context));
  });

  it.each(cases)('gives the offset and time as numbers, those of kafkajs\'s text, and the key as text: %s', (_case, record, context) => {
    const decode = (decoder: (decoder: unknown, context: unknown) => unknown) =>
      decoder(new Decoder(new Decoder(original(record).buffer).readVarIntBytes()), context) as { offset: string; timestamp: string; key: Buffer | null };
    const theirs = decode(originalDecoder);
    const ours = decode(patched as never);
    const expected = [Number(theirs.offset), Number(theirs.timestamp), theirs.key?.toString() ?? null];
    expect([fetchedOffset(ours), fetchedTimestamp(ours), fetchedKeyText(ours)]).toEqual(expected);
    // kafkajs's own records have none of ours: read from what they give.
    expect([fetchedOffset(theirs), fetchedTimestamp(theirs), fetchedKeyText(theirs)]).toEqual(expected);
  });
});

describe(batchInNumbers.name, () => {
  const Patched = batchInNumbers(Batch, Long, filterAbortedMessages);
  const ABORT_MARKER = Buffer.from([0, 0, 0, 0]);
  const record = (offset: string, options: { producerId?: string; inTransaction?: boolean; control?: boolean; key?: Buffer } = {}) => ({
    offset,
    key: options.key ?? Buffer.from('k'),
    isControlRecord: options.control ?? false,
    batchContext: { producerId: options.producerId ?? '1', inTransaction: options.inTransaction ?? false },
  });
  const offsets = (...numbers: number[]) => numbers.map((number) => record(String(number)));
  // What a consumer of kafkajs's batch reads of it.
  const seen = (batch: Record<string, unknown> & Record<string, () => unknown>) => ({
    messages: batch.messages,
    messagesWithinOffset: batch.messagesWithinOffset,
    rawMessages: batch.rawMessages,
    fields: [batch.topic, batch.partition, batch.highWatermark, batch.fetchedOffset],
    answers: [batch.isEmpty(), batch.isEmptyIncludingFiltered(), batch.isEmptyDueToFiltering(), batch.isEmptyControlRecord(), batch.firstOffset(), batch.lastOffset(), batch.offsetLag(), batch.offsetLagLow()],
  });

  it.each([
    ['every record at or past the offset asked for', '100', offsets(100, 101, 102)],
    ['records before the offset asked for (a compressed batch read whole)', '102', offsets(100, 101, 102, 103)],
    ['only records before it', '105', offsets(100, 101)],
    ['no records', '100', []],
    ['a control record (a commit marker)', '100', [record('100'), record('101', { control: true }), record('102')]],
    ['offsets past 2^53', '9007199254740993', offsets(100).map(() => record('9007199254740992')).concat(record('9007199254740994'))],
    [
      'an aborted transaction',
      '100',
      [record('100'), record('101', { producerId: '7', inTransaction: true }), record('102', { producerId: '7', inTransaction: true }), record('103', { producerId: '7', control: true, key: ABORT_MARKER }), record('104')],
      [{ producerId: '7', firstOffset: '101' }],
    ],
  ])('keeps what kafkajs keeps: %s', (_case, fromOffset, messages, abortedTransactions = []) => {
    const partitionData = { partition: 3, highWatermark: '110', messages, abortedTransactions };

    expect(seen(new Patched('t', fromOffset as string, partitionData) as never)).toEqual(seen(new Batch('t', fromOffset, partitionData)));
  });
});
