import { createRequire } from 'node:module';
import { ChangelogEntry } from './changelog-reader.js';
import { batchInNumbers, decodeFetchedValue, fetchedKeyText, fetchedOffset, fetchedTimestamp, locateFetched, recordBatchDecoder, recordDecoder } from './kafkajs-records.js';

// kafkajs's own modules, loaded as they are (CommonJS), to compare with.
const load = createRequire(`${process.cwd()}/package.json`);
const original = load('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const Long = load('kafkajs/src/utils/long.js');
const Decoder = load('kafkajs/src/protocol/decoder.js');
const originalDecoder = load('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');
const Batch = load('kafkajs/src/consumer/batch.js');
const { RecordBatch } = load('kafkajs/src/protocol/recordBatch/v0/index.js');
const originalBatchDecoder = load('kafkajs/src/protocol/recordBatch/v0/decoder.js');
const compression = load('kafkajs/src/protocol/message/compression/index.js');
const { KafkaJSPartialMessageError } = load('kafkajs/src/errors.js');
const filterAbortedMessages = load('kafkajs/src/consumer/filterAbortedMessages.js');

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

describe(decodeFetchedValue.name, () => {
  const decodeRecord = recordDecoder(Long, Decoder);
  const read = (decode: (decoder: unknown, context: unknown) => unknown, record: object) =>
    decode(new Decoder(new Decoder(original(record).buffer).readVarIntBytes()), { firstOffset: '0', firstTimestamp: '0' }) as { value: Buffer | null };
  // A decoder that says what it was given: the value's bytes, wherever they lie.
  const asHex = { decode: (bytes: Uint8Array, start = 0, end = bytes.length) => Buffer.from(bytes.subarray(start, end)).toString('hex') };

  it.each([
    ['a value', { key: 'k', value: Buffer.from([1, 2, 3]) }],
    ['a value longer than a byte of length, headers after it', { key: 'clé', value: Buffer.alloc(300, 9), headers: { applied: 'deposit=1' } }],
    ['an empty value', { key: '', value: Buffer.alloc(0) }],
    ['no value (decoded as no bytes)', { key: 'k', value: null }],
  ])("decodes the bytes of the value kafkajs reads, from the patched decoder's records and kafkajs's own: %s", (_case, record) => {
    const theirs = read(originalDecoder, record);
    const expected = (theirs.value ?? Buffer.alloc(0)).toString('hex');
    expect(decodeFetchedValue(read(decodeRecord as never, record), asHex)).toBe(expected);
    expect(decodeFetchedValue(theirs, asHex)).toBe(expected);
  });
});

describe(locateFetched.name, () => {
  const decodeRecord = recordDecoder(Long, Decoder);
  const read = (decode: (decoder: unknown, context: unknown) => unknown, record: object) =>
    decode(new Decoder(new Decoder(original(record).buffer).readVarIntBytes()), { firstOffset: '0', firstTimestamp: '0' }) as { key: Buffer | null; value: Buffer | null; headers: Record<string, unknown> };
  // What an entry's ranges say, as values.
  const located = (message: object, header: string, mark: string) => {
    const entry = new ChangelogEntry();
    const marked = locateFetched(message as never, entry, Buffer.from(header), Buffer.from(mark));
    return { key: entry.keyEnd === -1 ? null : entry.key, value: entry.value ?? null, applied: entry.appliedText.toString(), marked };
  };

  it.each([
    ['a key, a value and the header', { key: 'k', value: 'v', headers: { applied: 'deposit=12345' } }, 'applied', 'store-batch'],
    ['a repeated header, an empty one, names not ASCII, the mark', { key: 'clé', value: Buffer.alloc(300, 1), headers: { a: ['1', '2', '3'], b: '', é: 'x', applied: 'deposit=1', 'store-batch': '1' } }, 'applied', 'store-batch'],
    ['the first of a repeated header, a name that only starts like it', { key: 'k', value: 'v', headers: { appliedx: 'no', applied: ['first', 'second'] } }, 'applied', 'store-batch'],
    ['a header with no value, named as asked for', { key: 'k', value: 'v', headers: { b: '' } }, 'b', 'a'],
    ['no key, no value, no headers', { key: null, value: null }, 'applied', 'store-batch'],
    ['an empty key and value', { key: '', value: Buffer.alloc(0) }, 'applied', 'store-batch'],
  ])("finds the key, the value and the first header kafkajs reads, in the fetched bytes and in kafkajs's own records: %s", (_case, record, header, mark) => {
    const theirs = read(originalDecoder, record);
    const first = (value: unknown) => (Array.isArray(value) ? value[0] : value) as Buffer | null | undefined;
    const expected = { key: theirs.key?.toString() ?? null, value: theirs.value, applied: first(theirs.headers[header])?.toString() ?? '', marked: first(theirs.headers[mark]) !== undefined };
    expect(located(read(decodeRecord as never, record), header, mark)).toEqual(expected);
    expect(located(theirs, header, mark)).toEqual(expected);
  });
});

describe(recordBatchDecoder.name, () => {
  const patched = recordBatchDecoder({ Decoder, decodeRecord: recordDecoder(Long, Decoder) as never, lookupCodecByAttributes: compression.lookupCodecByAttributes, PartialMessageError: KafkaJSPartialMessageError });
  const records = [
    { key: Buffer.from('wallet-1'), value: Buffer.from([1, 2, 3]), offsetDelta: 0, timestampDelta: 0 },
    { key: 'clé-ä', value: 'v', offsetDelta: 1, timestampDelta: 5, headers: { applied: 'deposit=12345', a: ['1', '2'] } },
    { key: null, value: null, offsetDelta: 2, timestampDelta: -3 },
    { key: '', value: Buffer.alloc(300, 9), offsetDelta: 3, timestampDelta: Long.fromNumber(2 ** 52) },
  ];
  const batchOf = (options: object) => RecordBatch({ firstOffset: Long.fromNumber(1234567), firstTimestamp: 1796000000000, maxTimestamp: 1796000000999, lastOffsetDelta: 3, records: records.map((record) => original(record)), ...options });
  // A fetch's bytes hold batches one after another: both read two in a row from one decoder.
  const decodeTwice = async (decode: (decoder: unknown) => Promise<{ records: Array<Record<string, unknown>> }>, bytes: Buffer) => {
    const decoder = new Decoder(Buffer.concat([bytes, bytes]));
    const read = async () => {
      const { records: decoded, ...batch } = await decode(decoder);
      const fields = decoded.map((message) => Object.fromEntries(['magicByte', 'attributes', 'timestamp', 'offset', 'key', 'value', 'headers', 'isControlRecord', 'batchContext'].map((name) => [name, message[name]])));
      return { batch, fields, at: decoder.offset };
    };
    return [await read(), await read()];
  };

  it.each([
    ['uncompressed', {}],
    ['gzip', { compression: compression.Types.GZIP }],
    ['transactional', { transactional: true, producerId: Long.fromNumber(4000), producerEpoch: 3, firstSequence: 17 }],
    ['empty', { records: [], lastOffsetDelta: 0 }],
  ])('reads the batches kafkajs reads, record for record: %s', async (_case, options) => {
    const bytes = (await batchOf(options)).buffer;
    const ours = await decodeTwice(patched as never, bytes);
    expect(ours).toEqual(await decodeTwice(originalBatchDecoder, bytes));
    expect(ours[1].fields).toHaveLength((options as { records?: unknown[] }).records?.length ?? records.length);
  });

  it('refuses a batch cut short, as kafkajs does', async () => {
    const bytes = (await batchOf({})).buffer;
    const cut = bytes.subarray(0, bytes.length - 10);
    await expect(patched(new Decoder(cut) as never)).rejects.toThrow(KafkaJSPartialMessageError);
    await expect(originalBatchDecoder(new Decoder(cut))).rejects.toThrow(KafkaJSPartialMessageError);
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
