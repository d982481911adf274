/**
 * kafkajs's fetched records, as the patches install them (kafkajs-patches.ts): record batches and
 * records read on access, straight from the fetched bytes. They read what kafkajs reads
 * (kafkajs-records.spec.ts); the produce side is kafkajs-produce.ts.
 */
import type { Codec } from './codec.js';
import { TRANSACTIONAL } from './kafkajs-produce.js';

interface KafkaDecoder {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readVarInt(): number;
  readVarLong(): object;
  readVarIntBytes(): Buffer | null;
  readVarIntString(): string | null;
}

/** What kafkajs's record batch decoder hands each record's decoder. */
interface BatchContext {
  firstOffset: string;
  firstTimestamp: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}

const LOG_APPEND_TIME = 1;

/**
 * A zigzag varlong as a number, or undefined past 7 bytes (49 bits), where the caller falls back
 * to kafkajs's 64-bit reader from the same position.
 */
function readSmallVarLong(decoder: KafkaDecoder): number | undefined {
  const { buffer } = decoder;
  let at = decoder.offset;
  let result = 0;
  let factor = 1;
  for (let index = 0; index < 7; index++) {
    const byte = buffer[at++];
    result += (byte & 0x7f) * factor;
    if (byte < 0x80) {
      decoder.offset = at;
      return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
    }
    factor *= 128;
  }
  return undefined;
}

export interface KafkaLong {
  fromValue(value: string): { add(other: unknown): { toString(): string }; gte(other: unknown): boolean };
  fromNumber(value: number): unknown;
}

/** `base` + `delta` as kafkajs writes it (decimal text), in numbers while they are exact. */
function addToText(base: string, delta: number | object, Long: KafkaLong): string {
  if (delta === 0) return base;
  if (typeof delta === 'number') {
    const sum = Number(base) + delta;
    if (Number.isSafeInteger(sum) && Number.isSafeInteger(Number(base))) return String(sum);
  }
  return Long.fromValue(base)
    .add(typeof delta === 'number' ? Long.fromNumber(delta) : delta)
    .toString();
}

type Headers = Record<string, Buffer | null | Array<Buffer | null>>;
export type KafkaDecoderClass = new (buffer: Buffer) => KafkaDecoder;

/**
 * kafkajs's record v0 decoder, reading a record's fields only when they are asked for. kafkajs
 * decodes a whole fetch before the first batch of it runs, and each record lives until its batch
 * is processed and committed: with two Buffers, two decimal strings and a headers object per
 * record, that was most of what the young generation's collections copied and promoted. A
 * fetched record is now one object over the record's bytes; `key`, `value`, `headers`, `offset`
 * and `timestamp` are read from them on each access (the same values kafkajs reads).
 */
export function recordDecoder(Long: KafkaLong, Decoder: KafkaDecoderClass) {
  class FetchedRecord {
    constructor(
      private readonly bytes: Buffer,
      readonly attributes: number,
      private readonly timestampDelta: number | object,
      private readonly offsetDelta: number,
      /** Where the key's length starts; the value's and the headers' follow it. */
      private readonly keyAt: number,
      readonly batchContext: BatchContext,
    ) {}

    get magicByte(): number | undefined {
      return this.batchContext.magicByte;
    }

    get isControlRecord(): boolean {
      return this.batchContext.isControlBatch ?? false;
    }

    get timestamp(): string {
      const { firstTimestamp, timestampType, maxTimestamp } = this.batchContext;
      return timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : addToText(firstTimestamp, this.timestampDelta, Long);
    }

    get offset(): string {
      return addToText(this.batchContext.firstOffset, this.offsetDelta, Long);
    }

    /** {@link offset} as a number, without the text (see {@link fetchedOffset}). */
    get offsetNumber(): number {
      const sum = Number(this.batchContext.firstOffset) + this.offsetDelta;
      return Number.isSafeInteger(sum) ? sum : Number(this.offset);
    }

    /** {@link timestamp} as a number, without the text (see {@link fetchedTimestamp}). */
    get timestampNumber(): number {
      const { firstTimestamp, timestampType, maxTimestamp } = this.batchContext;
      if (timestampType === LOG_APPEND_TIME && maxTimestamp) return Number(maxTimestamp);
      const sum = typeof this.timestampDelta === 'number' ? Number(firstTimestamp) + this.timestampDelta : Number.NaN;
      return Number.isSafeInteger(sum) ? sum : Number(this.timestamp);
    }

    get key(): Buffer | null {
      return bytesAt(this.bytes, this.keyAt);
    }

    get value(): Buffer | null {
      return bytesAt(this.bytes, endOfBytes(this.bytes, this.keyAt));
    }

    /** {@link value} decoded where it lies, without a Buffer of it (see {@link decodeFetchedValue}). */
    decodeValue<T>(decoder: ValueDecoder<T>): T {
      const length = varIntAt(this.bytes, endOfBytes(this.bytes, this.keyAt));
      const start = afterVarInt;
      return decoder.decode(this.bytes, start, length === -1 ? start : start + length);
    }

    /** {@link key} as UTF-8 text, without a Buffer of it (see {@link fetchedKeyText}). */
    get keyText(): string | null {
      const length = varIntAt(this.bytes, this.keyAt);
      return length === -1 ? null : this.bytes.toString('utf8', afterVarInt, afterVarInt + length);
    }

    /** See {@link locateFetched}. */
    locate(into: LocatedParts, header: Buffer, mark: Buffer): boolean {
      const bytes = this.bytes;
      into.bytes = bytes;
      const keyLength = varIntAt(bytes, this.keyAt);
      into.keyStart = afterVarInt;
      into.keyEnd = keyLength === -1 ? -1 : afterVarInt + keyLength;
      const valueLength = varIntAt(bytes, keyLength === -1 ? afterVarInt : afterVarInt + keyLength);
      into.valueStart = afterVarInt;
      into.valueEnd = valueLength === -1 ? -1 : afterVarInt + valueLength;
      const count = varIntAt(bytes, valueLength === -1 ? afterVarInt : afterVarInt + valueLength);
      let at = afterVarInt;
      into.appliedStart = 0;
      into.appliedEnd = 0;
      let found = false;
      let marked = false;
      for (let index = 0; index < count; index++) {
        const nameLength = varIntAt(bytes, at);
        const nameAt = afterVarInt;
        const length = varIntAt(bytes, nameLength > 0 ? nameAt + nameLength : nameAt);
        const start = afterVarInt;
        at = length === -1 ? start : start + length;
        if (!marked && isNamed(bytes, nameAt, nameLength, mark)) marked = true;
        else if (!found && isNamed(bytes, nameAt, nameLength, header)) {
          found = true;
          into.appliedStart = start;
          into.appliedEnd = length === -1 ? start : start + length;
        }
      }
      return marked;
    }

    get headers(): Headers {
      const decoder = new Decoder(this.bytes);
      decoder.offset = endOfBytes(this.bytes, endOfBytes(this.bytes, this.keyAt));
      const headers: Headers = {};
      const headerCount = decoder.readVarInt();
      for (let index = 0; index < headerCount; index++) {
        const name = decoder.readVarIntString() as string;
        const headerValue = decoder.readVarIntBytes();
        const before = headers[name];
        if (before === undefined) headers[name] = headerValue;
        else headers[name] = Array.isArray(before) ? [...before, headerValue] : [before, headerValue];
      }
      return headers;
    }
  }

  return (decoder: KafkaDecoder, batchContext: BatchContext) => {
    const attributes = decoder.readInt8();
    const timestampDelta = readSmallVarLong(decoder) ?? decoder.readVarLong();
    const offsetDelta = decoder.readVarInt();
    return new FetchedRecord(decoder.buffer, attributes, timestampDelta, offsetDelta, decoder.offset, batchContext);
  };
}

type RecordDecoder = (decoder: KafkaDecoder, batchContext: BatchContext) => unknown;

interface KafkaBatchDecoder extends KafkaDecoder {
  readInt16(): number;
  readInt32(): number;
  readInt64(): { toString(): string };
  readAll(): Buffer;
  slice(size: number): KafkaBatchDecoder;
  forward(size: number): void;
}

/** What kafkajs's record batch decoder uses of kafkajs, given by kafkajs-patches.ts. */
export interface RecordBatchDecoderDeps {
  Decoder: new (buffer: Buffer) => KafkaBatchDecoder;
  /** The record decoder ({@link recordDecoder}), handed a decoder at the record's first field. */
  decodeRecord: RecordDecoder;
  lookupCodecByAttributes(attributes: number): { decompress(buffer: Buffer): Promise<Buffer> } | undefined;
  PartialMessageError: new (message: string) => Error;
}

const TIMESTAMP_TYPE_FLAG_MASK = 0x8;
const CONTROL_FLAG_MASK = 0x20;
const CREATE_TIME = 0;

/**
 * kafkajs's record batch v0 decoder, handing each record's decoder the batch's own decoder at
 * the record, not a decoder over a Buffer of the record's own: kafkajs sliced every record out of
 * its batch, and that Buffer (~100 bytes) lived as long as the record. Mid-B2 those were a
 * quarter of a processor thread's live heap (258,623 Buffers, 25.7 MB, for 222,724 fetched
 * records), and one allocation per record fetched. A batch's fields are read as kafkajs reads
 * them, and its records are the same (kafkajs-records.spec.ts).
 */
export function recordBatchDecoder({ Decoder, decodeRecord, lookupCodecByAttributes, PartialMessageError }: RecordBatchDecoderDeps) {
  const readRecords = (decoder: KafkaDecoder, count: number, context: BatchContext): unknown[] => {
    const records = new Array<unknown>(count);
    for (let index = 0; index < count; index++) {
      const length = decoder.readVarInt();
      const end = decoder.offset + length;
      records[index] = decodeRecord(decoder, context);
      decoder.offset = end;
    }
    return records;
  };

  return async (fetchDecoder: KafkaBatchDecoder) => {
    const firstOffset = fetchDecoder.readInt64().toString();
    const length = fetchDecoder.readInt32();
    const decoder = fetchDecoder.slice(length);
    fetchDecoder.forward(length);
    const remainingBytes = Buffer.byteLength(decoder.buffer);
    if (remainingBytes < length) {
      throw new PartialMessageError(`Tried to decode a partial record batch: remainingBytes(${remainingBytes}) < recordBatchLength(${length})`);
    }
    const partitionLeaderEpoch = decoder.readInt32();
    // The magic byte (read before by the fetch, to tell batches from older message sets) and the
    // CRC (which kafkajs does not check) are read past.
    const magicByte = decoder.readInt8();
    decoder.readInt32();
    const attributes = decoder.readInt16();
    const lastOffsetDelta = decoder.readInt32();
    const firstTimestamp = decoder.readInt64().toString();
    const maxTimestamp = decoder.readInt64().toString();
    const producerId = decoder.readInt64().toString();
    const producerEpoch = decoder.readInt16();
    const firstSequence = decoder.readInt32();
    const recordContext = {
      firstOffset,
      firstTimestamp,
      partitionLeaderEpoch,
      inTransaction: (attributes & TRANSACTIONAL) > 0,
      isControlBatch: (attributes & CONTROL_FLAG_MASK) > 0,
      lastOffsetDelta,
      producerId,
      producerEpoch,
      firstSequence,
      maxTimestamp,
      timestampType: (attributes & TIMESTAMP_TYPE_FLAG_MASK) > 0 ? LOG_APPEND_TIME : CREATE_TIME,
    };
    const context = { ...recordContext, magicByte };
    const codec = lookupCodecByAttributes(attributes);
    const count = decoder.readInt32();
    let records: unknown[] = [];
    if (count > 0) records = readRecords(codec ? new Decoder(await codec.decompress(decoder.readAll())) : decoder, count, context);
    return { ...recordContext, records };
  };
}

/** Where the last {@link varIntAt} ended. */
let afterVarInt = 0;

/** The zigzag varint at `at`, read as kafkajs's `readVarInt` reads it, without a decoder object. */
function varIntAt(bytes: Buffer, at: number): number {
  let byte: number;
  let result = 0;
  let shift = 0;
  do {
    byte = bytes[at++];
    result += (byte & 0x7f) << shift;
    shift += 7;
  } while (byte >= 0x80);
  afterVarInt = at;
  return (result >>> 1) ^ -(result & 1);
}

/** The varint-length-prefixed bytes at `at`, as kafkajs's `readVarIntBytes` reads them. */
function bytesAt(bytes: Buffer, at: number): Buffer | null {
  const length = varIntAt(bytes, at);
  return length === -1 ? null : bytes.subarray(afterVarInt, afterVarInt + length);
}

/** Where the varint-length-prefixed bytes at `at` end. */
function endOfBytes(bytes: Buffer, at: number): number {
  const length = varIntAt(bytes, at);
  return length === -1 ? afterVarInt : afterVarInt + length;
}

/** Read by the streams core from the records the patched decoder makes (kafkajs's own have none of them). */
interface FetchedNumbers {
  readonly offsetNumber?: number;
  readonly timestampNumber?: number;
  readonly keyText?: string | null;
  readonly locate?: (into: LocatedParts, header: Buffer, mark: Buffer) => boolean;
  readonly decodeValue?: <T>(decoder: ValueDecoder<T>) => T;
}

type ValueDecoder<T> = Pick<Codec<T>, 'decode'>;

const NO_BYTES = new Uint8Array();

/**
 * A fetched message's value decoded by `decoder` (no value decodes as no bytes). The patched
 * decoder's records hand `decoder` the fetched bytes and where the value lies in them: a Buffer
 * per value cost ~0.2 µs to make (Node's Buffer views are a subclass of Uint8Array, which V8
 * constructs slowly) and a young-generation object per record and group.
 */
export function decodeFetchedValue<T>(message: { value: Buffer | null }, decoder: ValueDecoder<T>): T {
  const decodeValue = (message as FetchedNumbers).decodeValue;
  return decodeValue !== undefined ? decodeValue.call(message, decoder) as T : decoder.decode(message.value ?? NO_BYTES);
}

/** Where a fetched record's key, value and one header's value lie: see `ChangelogEntry`. */
export interface LocatedParts {
  bytes: Buffer;
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  valueEnd: number;
  appliedStart: number;
  appliedEnd: number;
  assign(key: Uint8Array | null, value: Uint8Array | null, applied: Uint8Array | null): unknown;
}

/**
 * Sets `into` to where a fetched message's key, value and first header named `header` lie in the
 * fetched bytes (a key or value of -1 at its end: null; no such header: an empty range), in one
 * pass and without a Buffer of any of them; true when it has a header named `mark`. A message of
 * kafkajs's own decoder has its parts copied (`assign`).
 */
export function locateFetched(message: KafkaMessageLike, into: LocatedParts, header: Buffer, mark: Buffer): boolean {
  const locate = (message as FetchedNumbers).locate;
  if (locate !== undefined) return locate.call(message, into, header, mark);
  const headers = message.headers ?? {};
  const first = (name: string): Buffer | string | null | undefined => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const applied = first(header.toString());
  into.assign(message.key, message.value, applied == null ? null : Buffer.from(applied));
  return first(mark.toString()) !== undefined;
}

type KafkaMessageLike = { key: Buffer | null; value: Buffer | null; headers?: Record<string, Buffer | string | null | Array<Buffer | string | null> | undefined> };

/** Whether the `length` bytes at `at` are `name`'s. */
function isNamed(bytes: Buffer, at: number, length: number, name: Buffer): boolean {
  if (length !== name.length) return false;
  for (let index = 0; index < length; index++) if (bytes[at + index] !== name[index]) return false;
  return true;
}

/** A fetched message's key as UTF-8 text (as `key.toString()` reads it), null without one. */
export function fetchedKeyText(message: { key: Buffer | null }): string | null {
  const text = (message as FetchedNumbers).keyText;
  return text !== undefined ? text : (message.key?.toString() ?? null);
}

/** A fetched message's offset as a number: kafkajs gives it as decimal text. */
export function fetchedOffset(message: { offset: string }): number {
  return (message as FetchedNumbers).offsetNumber ?? Number(message.offset);
}

/** A fetched message's timestamp (Unix ms) as a number: kafkajs gives it as decimal text. */
export function fetchedTimestamp(message: { timestamp: string }): number {
  return (message as FetchedNumbers).timestampNumber ?? Number(message.timestamp);
}

type FetchedMessage = { offset: string; isControlRecord?: boolean };

/** `list` itself when `keep` holds for every item of it, the items it holds for otherwise. */
const keeping = <T>(list: T[], keep: (item: T) => boolean): T[] => (list.every(keep) ? list : list.filter(keep));

// The tests below are functions made once: a closure made per fetched partition would be
// optimized by V8 anew after every full collection (docs/streams.md).
const isData = (message: FetchedMessage): boolean => !message.isControlRecord;

/** The records at or past offset `first`: the list itself when that is all of them. */
function fromOffset(messages: FetchedMessage[], first: number): FetchedMessage[] {
  for (const message of messages) if (fetchedOffset(message) < first) return messages.filter((kept) => fetchedOffset(kept) >= first);
  return messages;
}

/** A partition of a fetch response, as kafkajs's Batch takes it. */
interface FetchedPartitionData {
  partition: number;
  highWatermark: string;
  messages: FetchedMessage[];
  abortedTransactions?: unknown[];
}
type KafkaBatchClass = new (topic: string, fetchedOffset: string, partitionData: FetchedPartitionData) => object;
type FilterAborted = (args: { messages: unknown[]; abortedTransactions?: unknown[] }) => unknown[];

/**
 * kafkajs's batch of one partition of a fetch, dropping what it drops (records before the offset
 * asked for, aborted and control records) with numbers: kafkajs compared every record's offset
 * with the one asked for through two of its 64-bit objects, made from the offsets' text, and
 * copied the records into two new arrays, though a fetch seldom holds anything to drop. The
 * arrays are kafkajs's own where nothing is dropped; what it keeps and in what order is the same
 * (kafkajs-records.spec.ts).
 */
export function batchInNumbers(Batch: KafkaBatchClass, Long: KafkaLong, filterAbortedMessages: FilterAborted): KafkaBatchClass {
  return class FetchedBatch extends Batch {
    constructor(topic: string, from: string, partitionData: FetchedPartitionData) {
      // kafkajs's constructor sets every field; the records are set again below.
      super(topic, from, { ...partitionData, messages: [] });
      const { messages, abortedTransactions } = partitionData;
      const first = Number(from);
      const within = Number.isSafeInteger(first)
        ? fromOffset(messages, first)
        : keeping(messages, (message) => Long.fromValue(message.offset).gte(Long.fromValue(from))); // past 2^53: as kafkajs does
      const committed = filterAbortedMessages({ messages: within, abortedTransactions }) as FetchedMessage[];
      Object.assign(this, { rawMessages: messages, messagesWithinOffset: within, messages: keeping(committed, isData) });
    }
  };
}
