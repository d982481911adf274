import { Int64ValueSchema } from '@bufbuild/protobuf/wkt';
import type { Codec } from '../../src/streams/codec.js';
import { defineGroup } from '../../src/streams/group.js';
import { streamTopic, type TableTopic } from '../../src/streams/topics.js';

/**
 * A domain-free processor group for the core's own tests: sums int64 numbers per key. Its
 * handler, SumProcessor, is in sum-processor.ts: the bench loads this file through tsx, which
 * applies tsconfig.json's experimentalDecorators to src/ only.
 */
export interface Sum {
  sum: string;
  count: number;
}

export const jsonCodec = <T>(): Codec<T> => ({
  encode: (value) => new TextEncoder().encode(JSON.stringify(value)),
  decode: (bytes, start = 0, end = bytes.length) => JSON.parse(new TextDecoder().decode(bytes.subarray(start, end))) as T,
});

const table = <T>(name: string, options: { writeOnce?: boolean } = {}): TableTopic<T> => ({ kind: 'table', name, codec: jsonCodec<T>(), ...options });

export const sumTopics = {
  numbers: streamTopic('numbers', Int64ValueSchema),
  big: streamTopic('big', Int64ValueSchema),
  sums: table<Sum>('sums'),
  entries: table<{ value: string }>('sum-entries', { writeOnce: true }),
};

export const sumGroup = defineGroup({
  name: 'sum',
  inputs: [sumTopics.numbers],
  table: sumTopics.sums,
  stores: [sumTopics.entries],
  outputs: [sumTopics.big],
});
