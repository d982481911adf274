import { PATTERN_EXTRAS_METADATA, PATTERN_METADATA } from '@nestjs/microservices/constants.js';
import { type AppliedOffsets, BatchProcessor, type InputRecord, type RecordHandler, type StateSource, type StoredValue } from '../batch.js';
import type { GroupDefinition } from '../group.js';
import type { StreamTopic, TableTopic } from '../topics.js';

/** A message a handler emitted, decoded. */
export interface Emitted<T> {
  key: string;
  value: T;
}

/** A record the group sent to a dead-letter topic. */
export interface DeadLettered {
  topic: string;
  offset: number;
  key: string | null;
  error: string;
}

/**
 * Runs a processor group's handlers without Kafka (Goka's `tester`, Kafka Streams'
 * TopologyTestDriver): feed records, then read the table, the stores and what was emitted.
 * Records go through the same batch processing as in production, with replays skipped by
 * applied offsets and poison records dead-lettered; only Kafka and LevelDB are replaced by
 * maps. A handler's transient error is thrown back to the test.
 *
 *   const sut = StreamsTester.forProcessor(balanceGroup, new BalanceProcessor());
 *   await sut.feed(topics.deposit, 'w1', deposit);
 *   expect(sut.value('w1')?.balanceMinor).toBe(2000n);
 */
export class StreamsTester<V> {
  private readonly processor: BatchProcessor;
  private readonly table = new Map<string, StoredValue>();
  private readonly stores = new Map<string, Map<string, Uint8Array>>();
  private readonly outputs = new Map<string, Array<{ key: string; value: Uint8Array }>>();
  private readonly dead: DeadLettered[] = [];
  private readonly offsets = new Map<string, number>();
  private readonly history: InputRecord[] = [];

  private constructor(
    private readonly group: GroupDefinition,
    handlers: Map<string, RecordHandler>,
    /** Whether messages the group emits to its own inputs are fed back to it. */
    private readonly loopback: boolean,
  ) {
    this.processor = new BatchProcessor(group, handlers);
  }

  /**
   * A tester for the `@EventPattern(topic, { group })` methods of `processor` (an instance
   * of the module's processor class) that belong to `group`.
   */
  static forProcessor<V = unknown>(group: GroupDefinition, processor: object, options: { loopback?: boolean } = {}): StreamsTester<V> {
    const handlers = new Map<string, RecordHandler>();
    let prototype = Object.getPrototypeOf(processor) as object | null;
    while (prototype && prototype !== Object.prototype) {
      for (const name of Object.getOwnPropertyNames(prototype)) {
        const method = (prototype as Record<string, unknown>)[name];
        if (typeof method !== 'function') continue;
        const patterns = Reflect.getMetadata(PATTERN_METADATA, method) as unknown[] | undefined;
        const extras = Reflect.getMetadata(PATTERN_EXTRAS_METADATA, method) as { group?: string } | undefined;
        if (!patterns || extras?.group !== group.name) continue;
        for (const topic of patterns) handlers.set(String(topic), (payload, context) => method.call(processor, payload, context));
      }
      prototype = Object.getPrototypeOf(prototype) as object | null;
    }
    return new StreamsTester<V>(group, handlers, options.loopback ?? true);
  }

  /** Feeds one record (its own batch) and processes it. */
  async feed<T>(topic: StreamTopic<T>, key: string, value: T, options: { timestamp?: number } = {}): Promise<void> {
    await this.feedRaw(topic.name, key, topic.codec.encode(value), options);
  }

  /** Feeds records as one batch: they share one load of state and one commit. */
  async feedBatch<T>(topic: StreamTopic<T>, messages: Array<{ key: string; value: T }>): Promise<void> {
    await this.process(messages.map(({ key, value }) => this.record(topic.name, key, topic.codec.encode(value), Date.now())));
  }

  /** Feeds raw bytes (or none, or no key): how a poison record reaches a group. */
  async feedRaw(topic: string, key: string | null, value: Uint8Array | null, options: { timestamp?: number } = {}): Promise<void> {
    await this.process([this.record(topic, key, value, options.timestamp ?? Date.now())]);
  }

  /** Feeds the last `count` records again, with their offsets: what a crash before the commit causes. */
  async replay(count = 1): Promise<void> {
    await this.process(this.history.slice(-count));
  }

  private record(topic: string, key: string | null, value: Uint8Array | null, timestamp: number): InputRecord {
    const offset = this.offsets.get(topic) ?? 0;
    this.offsets.set(topic, offset + 1);
    return {
      topic,
      partition: 0,
      offset,
      key: key === null ? null : Buffer.from(key),
      value: value === null ? null : Buffer.from(value),
      timestamp,
    };
  }

  private async process(records: InputRecord[]): Promise<void> {
    this.history.push(...records);
    const source: StateSource = {
      loadTable: async (keys) => new Map(keys.filter((key) => this.table.has(key)).map((key) => [key, this.table.get(key)!])),
      getStore: async (store, key) => this.stores.get(store)?.get(key),
    };
    const result = await this.processor.process(records, source, async (error) => {
      throw error;
    });
    for (const [key, stored] of result.table) this.table.set(key, stored);
    for (const [store, values] of result.stores) {
      const target = this.stores.get(store) ?? new Map<string, Uint8Array>();
      for (const [key, value] of values) target.set(key, value);
      this.stores.set(store, target);
    }
    for (const { record, error } of result.deadLetters) {
      this.dead.push({ topic: record.topic, offset: record.offset, key: record.key?.toString() ?? null, error });
    }
    for (const output of result.outputs) {
      const list = this.outputs.get(output.topic) ?? [];
      list.push({ key: output.key, value: output.value });
      this.outputs.set(output.topic, list);
    }
    if (this.loopback) {
      const inputs = new Set(this.group.inputs.map((input) => input.name));
      const back = result.outputs.filter((output) => inputs.has(output.topic));
      for (const output of back) await this.feedRaw(output.topic, output.key, output.value);
    }
  }

  /** The table value of `key`. */
  value(key: string): V | undefined {
    const stored = this.table.get(key);
    return stored ? (this.group.table.codec.decode(stored.bytes) as V) : undefined;
  }

  /** The input offsets the table value of `key` reflects. */
  applied(key: string): AppliedOffsets | undefined {
    return this.table.get(key)?.applied;
  }

  /** The value under `key` in one of the group's further stores. */
  storeValue<T>(store: TableTopic<T>, key: string): T | undefined {
    const bytes = this.stores.get(store.name)?.get(key);
    return bytes === undefined ? undefined : store.codec.decode(bytes);
  }

  /** Keys of a further store, sorted. */
  storeKeys(store: TableTopic<unknown>): string[] {
    return [...(this.stores.get(store.name)?.keys() ?? [])].sort();
  }

  /** Everything emitted to `topic`, in order. */
  emitted<T>(topic: StreamTopic<T>): Array<Emitted<T>> {
    return (this.outputs.get(topic.name) ?? []).map(({ key, value }) => ({ key, value: topic.codec.decode(value) }));
  }

  /** Records sent to dead-letter topics, in order. */
  deadLetters(): DeadLettered[] {
    return [...this.dead];
  }
}
