/**
 * Two fixes to kafkajs 2.2.4, its last release, found by profiling the processors (B2):
 *
 * - its producer groups a send's messages by partition by copying the partition's array for
 *   every message (`[...current, message]`): O(n²) in the messages of a partition, 9 % of the
 *   CPU on batches of thousands;
 * - it encodes each record, and each header, into a fresh zero-filled 512-byte buffer before
 *   copying it into the batch: most of the garbage the processors make.
 *
 * The replacements write the same bytes (see kafkajs-patches.spec.ts). They are installed in
 * the module cache before kafkajs loads those files, so this module is imported before kafkajs.
 */
import Module from 'node:module';

type Partitioner = (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;

function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }: {
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

interface KafkaEncoder {
  readonly buffer: Buffer;
  writeVarInt(value: number): KafkaEncoder;
  writeInt8(value: number): KafkaEncoder;
  writeVarLong(value: unknown): KafkaEncoder;
  writeVarIntBytes(value: unknown): KafkaEncoder;
  writeVarIntString(value: string): KafkaEncoder;
}
interface KafkaEncoderClass {
  new (initialSize?: number): KafkaEncoder;
  sizeOfVarInt(value: number): number;
  sizeOfVarLong(value: unknown): number;
  sizeOfVarIntBytes(value: unknown): number;
}

/** kafkajs's record v0 encoder, writing into one buffer of the record's size. */
export function recordEncoder(Encoder: KafkaEncoderClass) {
  return ({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }: {
    offsetDelta?: number;
    timestampDelta?: number;
    key: unknown;
    value: unknown;
    headers?: Record<string, unknown>;
  }) => {
    const headerList: Array<{ key: string; value: unknown }> = [];
    for (const name of Object.keys(headers)) {
      const given = headers[name];
      if (Array.isArray(given)) for (const one of given) headerList.push({ key: name, value: one });
      else headerList.push({ key: name, value: given });
    }
    let headersSize = Encoder.sizeOfVarInt(headerList.length);
    for (const header of headerList) {
      const keySize = Buffer.byteLength(header.key);
      headersSize += Encoder.sizeOfVarInt(keySize) + keySize + Encoder.sizeOfVarIntBytes(header.value);
    }
    const sizeOfBody =
      1 + Encoder.sizeOfVarLong(timestampDelta) + Encoder.sizeOfVarInt(offsetDelta) + Encoder.sizeOfVarIntBytes(key) + Encoder.sizeOfVarIntBytes(value) + headersSize;
    const encoder = new Encoder(Encoder.sizeOfVarInt(sizeOfBody) + sizeOfBody)
      .writeVarInt(sizeOfBody)
      .writeInt8(0)
      .writeVarLong(timestampDelta)
      .writeVarInt(offsetDelta)
      .writeVarIntBytes(key)
      .writeVarIntBytes(value)
      .writeVarInt(headerList.length);
    for (const header of headerList) encoder.writeVarIntString(header.key).writeVarIntBytes(header.value);
    return encoder;
  };
}

/** The kafkajs release whose internals the replacements below stand in for. */
export const PATCHED_VERSION = '2.2.4';

function install(path: string, exports: unknown): void {
  if (require.cache[path]) return;
  const patched = new Module(path);
  patched.filename = path;
  patched.loaded = true;
  patched.exports = exports;
  require.cache[path] = patched;
}

// Only where modules are CommonJS (the built service); elsewhere (jest's ESM mode) kafkajs
// stays as it is, which changes its speed, not its results.
if (typeof require === 'function' && typeof module === 'object') {
  // The replacements stand in for two internal files of one release: refuse any other, loudly.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's package.json, CommonJS only
  const { version } = require('kafkajs/package.json') as { version: string };
  if (version !== PATCHED_VERSION) {
    throw new Error(`kafkajs ${version} is installed; src/streams/kafkajs-patches.ts replaces internals of kafkajs ${PATCHED_VERSION} exactly: check them against ${version} first`);
  }
  install(require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js'), groupMessagesPerPartition);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs's internal encoder, CommonJS only
  const encoder = require('kafkajs/src/protocol/encoder.js') as KafkaEncoderClass;
  install(require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js'), recordEncoder(encoder));
}
