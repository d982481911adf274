import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { type Codec, protobufCodec } from './codec.js';

/**
 * A topic of events: what the API emits and processors consume. The value type travels with
 * the topic, so `emit(topic, key, value)` and handlers are type-checked end to end.
 */
export interface StreamTopic<T = unknown> {
  readonly kind: 'stream';
  /** The logical name; the physical one gets the configured prefix. */
  readonly name: string;
  readonly codec: Codec<T>;
}

/**
 * A table: key → latest value, kept by one processor group in local stores and backed by a
 * compacted changelog topic of this name.
 */
export interface TableTopic<T = unknown> {
  readonly kind: 'table';
  readonly name: string;
  readonly codec: Codec<T>;
  /**
   * Its keys are written once and never overwritten (a history, an index of ids). As a group's
   * store, each commit's changes to it go to the changelog as one record (a `StoreBatch`), not
   * one per key: compaction could never reclaim such records, and fewer cost less everywhere.
   */
  readonly writeOnce?: boolean;
}

export type Topic<T = unknown> = StreamTopic<T> | TableTopic<T>;

// A codec both takes and gives its type, so a StreamTopic<Deposit> is no StreamTopic<unknown>:
// lists of topics of mixed types are typed with these.
/* eslint-disable @typescript-eslint/no-explicit-any */
export type AnyStreamTopic = StreamTopic<any>;
export type AnyTableTopic = TableTopic<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */

/** The value type a topic carries. */
export type ValueOf<T> = T extends Topic<infer V> ? V : never;

/** A stream topic whose values are protobuf messages of `schema`. */
export function streamTopic<Desc extends DescMessage>(name: string, schema: Desc): StreamTopic<MessageShape<Desc>> {
  return { kind: 'stream', name, codec: protobufCodec(schema) };
}

/** A table (compacted changelog) whose values are protobuf messages of `schema`. */
export function tableTopic<Desc extends DescMessage>(name: string, schema: Desc, options: { writeOnce?: boolean } = {}): TableTopic<MessageShape<Desc>> {
  return { kind: 'table', name, codec: protobufCodec(schema), ...(options.writeOnce && { writeOnce: true }) };
}

/** The dead-letter topic of a stream: poison records of `topic` land there. */
export const deadLetterTopicName = (topic: string) => `${topic}.dlq`;
