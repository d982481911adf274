/**
 * kafkajs's produce side, as the patches install it (kafkajs-patches.ts): a send's messages
 * grouped by partition without copying, each record encoded into one buffer of its size, and the
 * produce request written in one pass into one buffer. kafkajs encodes each record into a buffer of its own, from a copy of the message
 * object, then copies the records into the batch, the batch into the partition's entry, that into
 * the topic's and the request's, each through an encoder that starts at 512 bytes and doubles:
 * every byte of a transaction's records was zero-filled and copied about seven times, and each
 * record left three objects for the collector. The bytes written are kafkajs's own
 * (kafkajs-produce.spec.ts compares them).
 */

/** A zigzag-encoded safe integer, as a number (kafkajs goes through 64-bit objects). */
export const zigzag = (value: number) => (value >= 0 ? value * 2 : -value * 2 - 1);

function sizeOfUnsignedVarInt(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    bytes++;
  }
  return bytes;
}

function writeUnsignedVarInt(buffer: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    buffer[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buffer[at++] = value;
  return at;
}

/** A varint-length-prefixed field as kafkajs writes it: null as length -1, text as UTF-8. */
export type Bytes = Buffer | string | null | undefined;
const asBytes = (value: unknown): Bytes => (value == null || Buffer.isBuffer(value) ? (value as Buffer | null | undefined) : String(value));
const byteLengthOf = (value: Bytes) => (value == null ? -1 : typeof value === 'string' ? Buffer.byteLength(value) : value.length);

function sizeOfBytes(value: Bytes): number {
  const length = byteLengthOf(value);
  return sizeOfUnsignedVarInt(zigzag(length)) + Math.max(length, 0);
}

function writeBytes(buffer: Buffer, at: number, value: Bytes): number {
  const length = byteLengthOf(value);
  at = writeUnsignedVarInt(buffer, at, zigzag(length));
  if (value == null) return at;
  return typeof value === 'string' ? at + buffer.write(value, at, 'utf8') : at + value.copy(buffer, at);
}

/** What kafkajs's encoders are to the code around them: a buffer and how much of it is written. */
export interface KafkaEncoder {
  buf: Buffer;
  offset: number;
  readonly buffer: Buffer;
  writeInt16(value: number): KafkaEncoder;
  writeInt32(value: number): KafkaEncoder;
  writeInt64(value: unknown): KafkaEncoder;
  writeString(value: string | null): KafkaEncoder;
}
export type KafkaEncoderClass = new (initialSize?: number) => KafkaEncoder;

/** An encoder over `bytes`, written to their end: what kafkajs expects an encode to return. */
function encoderOver(Encoder: KafkaEncoderClass, bytes: Buffer): KafkaEncoder {
  const encoder = new Encoder(0);
  encoder.buf = bytes;
  encoder.offset = bytes.length;
  return encoder;
}

interface ProduceMessage {
  key?: unknown;
  value?: unknown;
  headers?: Record<string, unknown>;
  timestamp?: unknown;
}
interface ProducePartition {
  partition: number;
  firstSequence?: number;
  messages: ProduceMessage[];
}
export interface ProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: Array<{ topic: string; partitions: ProducePartition[] }>;
}
interface KafkaRequest {
  apiKey: number;
  apiVersion: number;
  encode(): Promise<KafkaEncoder>;
}

const NO_COMPRESSION = 0;
const MAGIC_BYTE = 2;
/** The attribute bit of a record batch written inside a transaction. */
export const TRANSACTIONAL = 0x10;
/** A record batch before its records: first offset, length, leader epoch, magic, CRC, then the body's fixed fields and the record count. */
const BATCH_OVERHEAD = 8 + 4 + 4 + 1 + 4 + (2 + 4 + 8 + 8 + 8 + 2 + 4) + 4;

/**
 * A record's headers as kafkajs writes them (a repeated one once per value), as name, value,
 * name, value… in one array that every call reuses: encoding is synchronous, and this runs
 * twice per record, so no array and no closure per call. (A closure made per call is optimized
 * by V8 anew after every full collection, which drops optimized code no live function holds.)
 */
function headerPairs(headers: Record<string, unknown> | undefined): Bytes[] {
  pairs.length = 0;
  if (!headers) return pairs;
  for (const name of Object.keys(headers)) {
    const given = headers[name];
    if (Array.isArray(given)) for (const one of given) pairs.push(name, asBytes(one));
    else pairs.push(name, asBytes(given));
  }
  return pairs;
}
const pairs: Bytes[] = [];

/** The size of a record's body (what its length prefix counts), with no time delta. */
function sizeOfRecordBody(message: ProduceMessage, offsetDelta: number): number {
  let size = 1 + 1 + sizeOfUnsignedVarInt(zigzag(offsetDelta)) + sizeOfBytes(asBytes(message.key)) + sizeOfBytes(asBytes(message.value));
  const headers = headerPairs(message.headers);
  for (let i = 0; i < headers.length; i++) size += sizeOfBytes(headers[i]);
  return size + sizeOfUnsignedVarInt(zigzag(headers.length / 2));
}

function writeRecord(out: Buffer, at: number, message: ProduceMessage, offsetDelta: number, bodySize: number): number {
  at = writeUnsignedVarInt(out, at, zigzag(bodySize));
  out[at++] = 0; // attributes
  out[at++] = 0; // time delta: no message has a time of its own
  at = writeUnsignedVarInt(out, at, zigzag(offsetDelta));
  at = writeBytes(out, at, asBytes(message.key));
  at = writeBytes(out, at, asBytes(message.value));
  const headers = headerPairs(message.headers);
  at = writeUnsignedVarInt(out, at, zigzag(headers.length / 2));
  for (let i = 0; i < headers.length; i++) at = writeBytes(out, at, headers[i]);
  return at;
}

/**
 * kafkajs's produce request v3 (which v4 to v7 reuse), encoding uncompressed records without
 * times of their own (what the core sends) in one pass; any other request goes to kafkajs's own.
 */
export function produceRequest(
  original: (args: ProduceArgs) => KafkaRequest,
  Encoder: KafkaEncoderClass,
  crc32C: (bytes: Buffer) => number,
): (args: ProduceArgs) => KafkaRequest {
  return (args) => {
    const request = original(args);
    const plain = (args.compression ?? NO_COMPRESSION) === NO_COMPRESSION && withoutTimes(args.topicData);
    return plain ? { ...request, encode: async () => encodeProduce(args, Encoder, crc32C) } : request;
  };
}

/** Whether no message has a time of its own. Loops, not closures made per request (`headerPairs`). */
function withoutTimes(topicData: ProduceArgs['topicData']): boolean {
  for (const { partitions } of topicData) {
    for (const { messages } of partitions) {
      for (const message of messages) if (message.timestamp != null) return false;
    }
  }
  return true;
}

function encodeProduce(args: ProduceArgs, Encoder: KafkaEncoderClass, crc32C: (bytes: Buffer) => number): KafkaEncoder {
  const { acks, timeout, transactionalId = null, producerId = -1, producerEpoch = 0, topicData } = args;
  const head = new Encoder(64).writeString(transactionalId).writeInt16(acks).writeInt32(timeout).writeInt32(topicData.length).buffer;
  // First pass: every size, so that the request is one buffer written once.
  const bodySizes: number[][] = [];
  let total = head.length;
  for (const { topic, partitions } of topicData) {
    total += 2 + Buffer.byteLength(topic) + 4;
    for (const { messages } of partitions) {
      const sizes = messages.map((message, index) => sizeOfRecordBody(message, index));
      bodySizes.push(sizes);
      total += 4 + 4 + BATCH_OVERHEAD;
      for (const size of sizes) total += sizeOfUnsignedVarInt(zigzag(size)) + size;
    }
  }

  const out = Buffer.allocUnsafe(total);
  let at = head.copy(out, 0);
  let partitionIndex = 0;
  for (const { topic, partitions } of topicData) {
    at = out.writeInt16BE(Buffer.byteLength(topic), at);
    at += out.write(topic, at, 'utf8');
    at = out.writeInt32BE(partitions.length, at);
    for (const { partition, firstSequence = 0, messages } of partitions) {
      const sizes = bodySizes[partitionIndex++];
      const now = Date.now();
      const fixed = new Encoder(64)
        .writeInt16(transactionalId ? TRANSACTIONAL : 0)
        .writeInt32(messages.length - 1)
        .writeInt64(now)
        .writeInt64(now)
        .writeInt64(producerId)
        .writeInt16(producerEpoch)
        .writeInt32(firstSequence)
        .writeInt32(messages.length).buffer;
      at = out.writeInt32BE(partition, at);
      const sizeAt = at;
      const batchAt = at + 4;
      at = batchAt;
      at = out.writeInt32BE(0, at); // first offset, high bits
      at = out.writeInt32BE(0, at); // and low
      const lengthAt = at;
      at += 4;
      at = out.writeInt32BE(0, at); // partition leader epoch
      at = out.writeInt8(MAGIC_BYTE, at);
      const crcAt = at;
      at += 4;
      const bodyAt = at;
      at += fixed.copy(out, at);
      for (let index = 0; index < messages.length; index++) at = writeRecord(out, at, messages[index], index, sizes[index]);
      out.writeUInt32BE(crc32C(out.subarray(bodyAt, at)), crcAt);
      out.writeInt32BE(at - lengthAt - 4, lengthAt);
      out.writeInt32BE(at - batchAt, sizeAt);
    }
  }
  if (at !== total) throw new Error(`produce request: wrote ${at} of ${total} bytes`);
  return encoderOver(Encoder, out);
}

/**
 * kafkajs's request framing (size, API key and version, correlation id, client id, then the
 * request's own bytes), in one buffer of the right size instead of two doubling encoders.
 */
export function requestFraming(Encoder: KafkaEncoderClass) {
  return async ({ correlationId, clientId, request: { apiKey, apiVersion, encode } }: { correlationId: number; clientId: string | null; request: KafkaRequest }): Promise<KafkaEncoder> => {
    const payload = (await encode()).buffer;
    const head = new Encoder(64).writeInt32(0).writeInt16(apiKey).writeInt16(apiVersion).writeInt32(correlationId).writeString(clientId).buffer;
    const out = Buffer.allocUnsafe(head.length + payload.length);
    head.copy(out, 0);
    payload.copy(out, head.length);
    out.writeInt32BE(out.length - 4, 0);
    return encoderOver(Encoder, out);
  };
}

type Partitioner = (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;

/** kafkajs's grouping of a send's messages by partition, without a copy of each message. */
export function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }: {
  topic: string;
  partitionMetadata: unknown[];
  messages: unknown[];
  partitioner: Partitioner;
}): Record<number, unknown[]> {
  if (partitionMetadata.length === 0) return {};
  const result: Record<number, unknown[]> = {};
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (result[partition] ??= []).push(message);
  }
  return result;
}

interface VarLongEncoder {
  readonly buffer: Buffer;
  writeVarLong(value: unknown): VarLongEncoder;
}
export type VarLongEncoderClass = new (initialSize?: number) => VarLongEncoder;

/** What kafkajs's record batch encoder takes of a record's encoder: its bytes. */
interface EncodedRecord {
  readonly buf: Buffer;
  readonly buffer: Buffer;
}

/** kafkajs's record v0 encoder, writing straight into one buffer of the record's size. */
export function recordEncoder(Encoder: VarLongEncoderClass) {
  return ({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }: {
    offsetDelta?: number;
    timestampDelta?: number | object;
    key: unknown;
    value: unknown;
    headers?: Record<string, unknown>;
  }): EncodedRecord => {
    const headerList: Array<{ key: string; value: Bytes }> = [];
    for (const name of Object.keys(headers)) {
      const given = headers[name];
      if (Array.isArray(given)) for (const one of given) headerList.push({ key: name, value: asBytes(one) });
      else headerList.push({ key: name, value: asBytes(given) });
    }
    const keyBytes = asBytes(key);
    const valueBytes = asBytes(value);
    // The producer's time delta is a number; kafkajs also takes one of its 64-bit objects.
    const timeDelta = typeof timestampDelta === 'number' && Number.isSafeInteger(timestampDelta) ? zigzag(timestampDelta) : new Encoder(10).writeVarLong(timestampDelta).buffer;
    const timeDeltaSize = typeof timeDelta === 'number' ? sizeOfUnsignedVarInt(timeDelta) : timeDelta.length;
    let sizeOfBody = 1 + timeDeltaSize + sizeOfUnsignedVarInt(zigzag(offsetDelta)) + sizeOfBytes(keyBytes) + sizeOfBytes(valueBytes);
    sizeOfBody += sizeOfUnsignedVarInt(zigzag(headerList.length));
    for (const header of headerList) sizeOfBody += sizeOfBytes(header.key) + sizeOfBytes(header.value);

    const buffer = Buffer.allocUnsafe(sizeOfUnsignedVarInt(zigzag(sizeOfBody)) + sizeOfBody);
    let at = writeUnsignedVarInt(buffer, 0, zigzag(sizeOfBody));
    buffer[at++] = 0; // attributes
    at = typeof timeDelta === 'number' ? writeUnsignedVarInt(buffer, at, timeDelta) : at + timeDelta.copy(buffer, at);
    at = writeUnsignedVarInt(buffer, at, zigzag(offsetDelta));
    at = writeBytes(buffer, at, keyBytes);
    at = writeBytes(buffer, at, valueBytes);
    at = writeUnsignedVarInt(buffer, at, zigzag(headerList.length));
    for (const header of headerList) {
      at = writeBytes(buffer, at, header.key);
      at = writeBytes(buffer, at, header.value);
    }
    return { buf: buffer, buffer };
  };
}
