import { type DynamicModule, type INestApplicationContext, Module, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { BatchProcessor, type InputRecord, type RecordHandler, type StateSource, mergeByStore } from '../batch.js';
import type { AppliedOffsets, StoredValue } from '../state-store.js';
import type { GroupDefinition } from '../group.js';
import { StreamsRuntime } from '../streams-runtime.js';
import { forEachStoreEntry } from '../store-batch.js';
import type { StreamTopic, TableTopic } from '../topics.js';
import { StreamsServer, startStreams } from '../transport.js';

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

export interface StreamsTesterOptions {
  /** Further modules the module under test needs (its configuration, say). */
  imports?: Array<Type | DynamicModule>;
  /** Whether messages the group emits to its own inputs are fed back to it (default true). */
  loopback?: boolean;
}

/**
 * Runs a processor group's handlers without Kafka (Goka's `tester`, Kafka Streams'
 * TopologyTestDriver): feed records, then read the table, the stores and what was emitted.
 *
 * The handlers are bound as in production: the module is compiled by Nest's testing module, and
 * `startStreams` hands each `@GroupHandler` method to the real transport, which refuses handlers
 * and groups that do not match and calls the methods on the instances Nest created.
 * Records go through the same batch processing as in production, with replays skipped by
 * applied offsets and poison records dead-lettered; only Kafka and LevelDB are replaced by
 * maps. A handler's transient error is thrown back to the test.
 *
 *   const sut = await StreamsTester.forModule(balanceGroup, BalanceModule);
 *   await sut.feed(topics.deposit, 'w1', deposit);
 *   expect(sut.value('w1')?.balanceMinor).toBe(2000n);
 *   await sut.close();
 */
export class StreamsTester<V> {
  private readonly processor: BatchProcessor;
  private readonly table = new Map<string, StoredValue>();
  /** Store values as the group keeps them (what handlers read back). */
  private readonly stores = new Map<string, Map<string, Uint8Array>>();
  /** Store values as a view of the store's changelog sees them: kept and published. */
  private readonly storeChangelogs = new Map<string, Map<string, Uint8Array>>();
  private readonly outputs = new Map<string, Array<{ key: string; value: Uint8Array }>>();
  private readonly dead: DeadLettered[] = [];
  private readonly offsets = new Map<string, number>();
  private readonly history: InputRecord[] = [];

  private constructor(
    private readonly group: GroupDefinition,
    handlers: ReadonlyMap<string, RecordHandler>,
    private readonly loopback: boolean,
    private readonly app: INestApplicationContext,
  ) {
    this.processor = new BatchProcessor(group, handlers);
  }

  /**
   * A tester for `group`, declared by `module` (with `StreamsModule.forGroup`) together with the
   * processor whose handlers it runs. Rejects as the application's start would: a handler whose
   * group is not declared or whose topic is not an input of its group, an input without a
   * handler.
   */
  static async forModule<V = unknown>(group: GroupDefinition, module: Type | DynamicModule, options: StreamsTesterOptions = {}): Promise<StreamsTester<V>> {
    const runtime = new TesterRuntime();
    const testing = await Test.createTestingModule({
      imports: [
        { module: StreamsTesterModule, global: true, providers: [{ provide: StreamsRuntime, useValue: runtime }, StreamsServer], exports: [StreamsRuntime] },
        module,
        ...(options.imports ?? []),
      ],
    }).compile();
    try {
      await testing.init();
      await startStreams(testing);
      if (!runtime.declaredGroups().has(group.name)) throw new Error(`the module does not declare group ${group.name} (StreamsModule.forGroup)`);
    } catch (error) {
      await testing.close();
      throw error;
    }
    return new StreamsTester<V>(group, runtime.started.get(group.name)!, options.loopback ?? true, testing);
  }

  /** An instance from the module under test (the processor, to change how it behaves). */
  get<T>(type: Type<T>): T {
    return this.app.get(type, { strict: false });
  }

  /** Shuts the module down (its lifecycle hooks run). */
  async close(): Promise<void> {
    await this.app.close();
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
      key,
      value: value === null ? null : Buffer.from(value),
      timestamp,
    };
  }

  private async process(records: InputRecord[]): Promise<void> {
    this.history.push(...records);
    const source: StateSource = {
      loadTable: async (keys) => new Map(keys.filter((key) => this.table.has(key)).map((key) => [key, this.table.get(key)!])),
      getStore: (store, key) => this.stores.get(store)?.get(key),
    };
    const result = await this.processor.process(records, source, async (error) => {
      throw error;
    });
    for (const [key, stored] of result.table) this.table.set(key, stored);
    mergeByStore(this.stores, result.stores);
    mergeByStore(this.storeChangelogs, result.stores);
    mergeByStore(this.storeChangelogs, result.published);
    // Write-once tables' entries, read back from their StoreBatches as a view reads them.
    result.storeBatches.forEach((batches, storeName) => {
      const changelog = this.storeChangelogs.get(storeName) ?? new Map<string, Uint8Array>();
      this.storeChangelogs.set(storeName, changelog);
      for (const batch of batches) forEachStoreEntry(batch, ({ key, value }) => (value === undefined ? changelog.delete(key) : changelog.set(key, value)));
    });
    for (const { record, error } of result.deadLetters) {
      this.dead.push({ topic: record.topic, offset: record.offset, key: record.key, error });
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

  /** The value under `key` in one of the group's further stores, as a view of it sees it (published values included). */
  storeValue<T>(store: TableTopic<T>, key: string): T | undefined {
    const bytes = this.storeChangelogs.get(store.name)?.get(key);
    return bytes === undefined ? undefined : store.codec.decode(bytes);
  }

  /** Keys of a further store as a view of it sees them (published included), sorted. */
  storeKeys(store: TableTopic<unknown>): string[] {
    return [...(this.storeChangelogs.get(store.name)?.keys() ?? [])].sort();
  }

  /** Keys of a further store that the group keeps (what its handlers can read back), sorted. */
  keptStoreKeys(store: TableTopic<unknown>): string[] {
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

/**
 * The runtime the transport talks to in a tester: it keeps the groups the modules declare, as
 * the real one does, and takes the handlers the transport starts the groups with.
 */
class TesterRuntime implements Pick<StreamsRuntime, 'registerGroup' | 'registerTopics' | 'view' | 'declaredGroups' | 'startGroups' | 'stopGroups'> {
  private readonly groups = new Map<string, GroupDefinition>();
  started: ReadonlyMap<string, ReadonlyMap<string, RecordHandler>> = new Map();

  registerGroup(definition: GroupDefinition): void {
    this.groups.set(definition.name, definition);
  }

  registerTopics(): void {}

  view(): never {
    throw new Error('StreamsTester runs processor groups; views need Kafka');
  }

  declaredGroups(): ReadonlyMap<string, GroupDefinition> {
    return this.groups;
  }

  async startGroups(handlers: ReadonlyMap<string, ReadonlyMap<string, RecordHandler>>): Promise<void> {
    this.started = handlers;
  }

  async stopGroups(): Promise<void> {}
}

@Module({})
class StreamsTesterModule {}
