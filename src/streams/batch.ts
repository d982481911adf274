import type { Codec } from './codec.js';
import { PoisonRecordError, type ProcessorContext, type StoreAccess, errorMessage } from './context.js';
import type { GroupDefinition } from './group.js';
import type { AppliedOffsets, StoredValue } from './state-store.js';
import { StoreBatchWriter } from './store-batch.js';
import type { StreamTopic, TableTopic } from './topics.js';

/**
 * One batch of one partition, processed in memory: records in, table changes, store changes,
 * outputs and dead letters out. Kafka and LevelDB stay outside; the runtime and the in-memory
 * test driver both feed this, so what unit tests see is what production runs.
 */

/** A record from an input topic. `topic` is the logical name. */
export interface InputRecord {
  topic: string;
  partition: number;
  offset: number;
  /** The key as UTF-8 text: a table's keys are text. */
  key: string | null;
  value: Buffer | null;
  timestamp: number;
  /** Decodes the value as `codec.decode(value ?? no bytes)` does; a fetched record does it where the value lies. */
  decodeValue?<T>(codec: Codec<T>): T;
}

/** A batch's records, read by index (an array is one). */
export interface InputRecords {
  readonly length: number;
  /**
   * The record at `index`. A fetched batch may hand out one object, set to each index in turn
   * rather than an object per record: what the batch keeps of a record is copied.
   */
  at(index: number): InputRecord | undefined;
}

/** A dead letter, with a copy of its record (see {@link InputRecords.at}). */
function deadLetter({ topic, partition, offset, key, value, timestamp }: InputRecord, error: string): DeadLetter {
  return { record: { topic, partition, offset, key, value, timestamp }, error };
}

export interface OutputRecord {
  topic: string;
  key: string;
  value: Uint8Array;
}

export interface DeadLetter {
  record: InputRecord;
  error: string;
}

/** A group handler bound to its instance: may return a value or a promise. */
export type RecordHandler = (payload: unknown, context: ProcessorContext<unknown>) => unknown;

/** Where a batch reads state it has not touched yet. */
export interface StateSource {
  loadTable(keys: string[]): Promise<Map<string, StoredValue>>;
  /** A store's value, read synchronously: one key per call, as a handler asks. */
  getStore(store: string, key: string): Uint8Array | undefined;
}

/**
 * Decides what happens after a handler failed with a transient error: resolve to retry the
 * record, reject to abort the batch (nothing of it is kept).
 */
export type RetryPolicy = (error: unknown, record: InputRecord, attempt: number) => Promise<void>;

export interface BatchResult {
  /** Changed table values, encoded, with their applied offsets. */
  table: Map<string, StoredValue>;
  /** Changed store values, by store topic name. */
  stores: Map<string, Map<string, Uint8Array>>;
  /** Values published to the group's published tables (changelog only; see `StoreAccess.publish`), by topic name. */
  published: Map<string, Map<string, Uint8Array>>;
  /** What was published to write-once published tables, as their changelogs' `StoreBatch` values, by topic name. */
  storeBatches: Map<string, Uint8Array[]>;
  outputs: OutputRecord[];
  deadLetters: DeadLetter[];
  /** Records handled; records skipped because their key had applied them already. */
  handled: number;
  skipped: number;
}

interface Entry {
  readonly key: string;
  value: unknown;
  applied: AppliedOffsets;
  changed: boolean;
}

const EMPTY_BYTES = new Uint8Array();

export class BatchProcessor {
  private readonly inputs: Map<string, StreamTopic<unknown>>;
  /** The group's stores and the tables it publishes to, by topic name. */
  private readonly stores: Map<string, StoreDefinition>;
  private readonly outputTopics: ReadonlySet<string>;

  constructor(
    private readonly group: GroupDefinition,
    private readonly handlers: ReadonlyMap<string, RecordHandler>,
  ) {
    this.inputs = new Map(group.inputs.map((topic) => [topic.name, topic]));
    this.stores = new Map([
      ...(group.stores ?? []).map((topic): [string, StoreDefinition] => [topic.name, { topic, published: false }]),
      ...(group.published ?? []).map((topic): [string, StoreDefinition] => [topic.name, { topic, published: true }]),
    ]);
    this.outputTopics = new Set((group.outputs ?? []).map((output) => output.name));
  }

  /**
   * Processes `records` in order. `keepAlive`, when given, is awaited every few hundred
   * records: a long batch must not cost the consumer its group membership.
   */
  async process(records: InputRecords, source: StateSource, retry: RetryPolicy, keepAlive?: () => Promise<void>): Promise<BatchResult> {
    // Indexed loops, and each record's key looked up once: this runs for every record of every
    // group. A key's entry is made on its first record, filled once the batch's keys are loaded.
    const entryOf = new Array<Entry | undefined>(records.length);
    const entries = new Map<string, Entry>();
    for (let index = 0; index < records.length; index++) {
      const key = records.at(index)!.key;
      if (key === null || key.length === 0) continue;
      let entry = entries.get(key);
      if (!entry) entries.set(key, (entry = { key, value: undefined, applied: {}, changed: false }));
      entryOf[index] = entry;
    }
    const loaded = await source.loadTable([...entries.keys()]);
    // Loops here and below, not closures made per batch: V8 optimizes such a closure anew after
    // every full collection, which drops optimized code no live function holds (docs/streams.md).
    for (const [key, stored] of loaded) {
      const entry = entries.get(key)!;
      entry.value = this.group.table.codec.decode(stored.bytes);
      entry.applied = { ...stored.applied };
    }
    const storeChanges: StoreChanges = { kept: new Map(), published: new Map(), writeOnce: new Map() };
    const result: BatchResult = { table: new Map(), stores: new Map(), published: new Map(), storeBatches: new Map(), outputs: [], deadLetters: [], handled: 0, skipped: 0 };
    // One context for the batch, set to each record in turn: records run one at a time.
    const context = new RecordContext(this.group.name, this.stores, storeChanges, source, this.outputTopics);

    for (let index = 0; index < records.length; index++) {
      if (keepAlive && index > 0 && index % 500 === 0) await keepAlive();
      const record = records.at(index)!;
      const input = this.inputs.get(record.topic);
      const handler = this.handlers.get(record.topic);
      if (!input || !handler) {
        result.deadLetters.push(deadLetter(record, `group ${this.group.name} has no handler for topic ${record.topic}`));
        continue;
      }
      const entry = entryOf[index];
      if (entry === undefined) {
        result.deadLetters.push(deadLetter(record, 'record has no key'));
        continue;
      }
      if ((entry.applied[record.topic] ?? -1) >= record.offset) {
        result.skipped++;
        continue;
      }
      let payload: unknown;
      try {
        payload = record.decodeValue ? record.decodeValue(input.codec) : input.codec.decode(record.value ?? EMPTY_BYTES);
      } catch (error) {
        result.deadLetters.push(deadLetter(record, `cannot decode the value: ${errorMessage(error)}`));
        continue;
      }

      for (let attempt = 1; ; attempt++) {
        context.reset(record, entry.key, entry.value);
        try {
          // Most handlers are synchronous: awaiting only a promise spares them a microtask each.
          const returned = handler(payload, context);
          if (isThenable(returned)) await returned;
        } catch (error) {
          if (error instanceof PoisonRecordError) {
            result.deadLetters.push(deadLetter(record, errorMessage(error)));
            break;
          }
          await retry(error, record, attempt);
          continue;
        }
        // The handler returned: its effects count, all at once.
        if (context.newValue !== undefined) entry.value = context.newValue;
        entry.applied[record.topic] = record.offset;
        entry.changed = true;
        context.commitStores();
        if (context.outputs) for (const output of context.outputs) result.outputs.push(output);
        result.handled++;
        break;
      }
    }

    for (const [key, entry] of entries) {
      // A key whose handler ran but which has no value yet has nothing to store.
      if (entry.changed && entry.value !== undefined) {
        result.table.set(key, { bytes: this.group.table.codec.encode(entry.value), applied: entry.applied });
      }
    }
    result.stores = this.encodeStores(storeChanges.kept);
    result.published = storeChanges.published;
    for (const [storeName, writer] of storeChanges.writeOnce) result.storeBatches.set(storeName, writer.finish());
    return result;
  }

  /** Encodes every value in place: the maps are the batch's own, and this is their last use. */
  private encodeStores(byStore: Map<string, Map<string, unknown>>): Map<string, Map<string, Uint8Array>> {
    for (const [storeName, changes] of byStore) {
      const codec = this.stores.get(storeName)!.topic.codec;
      for (const [key, value] of changes) changes.set(key, codec.encode(value));
    }
    return byStore as Map<string, Map<string, Uint8Array>>;
  }
}

class RecordContext implements ProcessorContext<unknown> {
  topic = '';
  partition = 0;
  offset = 0;
  timestamp = 0;
  key = '';
  private current: unknown = undefined;
  newValue: unknown = undefined;
  /** What the handler emitted, when it did. */
  outputs: OutputRecord[] | undefined;
  /** What the handler put or published, in order, when it did: a flat list, since a handler writes a key or two. */
  pendingWrites: PendingWrite[] | undefined;
  /** Each store as handlers see it, made on first use: it holds nothing of one record. */
  private readonly accesses = new Map<string, RecordStore>();

  constructor(
    readonly group: string,
    private readonly stores: Map<string, StoreDefinition>,
    readonly storeChanges: StoreChanges,
    readonly source: StateSource,
    private readonly outputTopics: ReadonlySet<string>,
  ) {}

  /** Sets the context to `record`, for one attempt of its handler. */
  reset(record: InputRecord, key: string, current: unknown): void {
    this.topic = record.topic;
    this.partition = record.partition;
    this.offset = record.offset;
    this.timestamp = record.timestamp;
    this.key = key;
    this.current = current;
    this.newValue = undefined;
    this.outputs = undefined;
    this.pendingWrites = undefined;
  }

  value(): unknown {
    return this.newValue !== undefined ? this.newValue : this.current;
  }

  setValue(value: unknown): void {
    if (value === undefined || value === null) throw new Error('setValue needs a value');
    this.newValue = value;
  }

  emit<T>(topic: StreamTopic<T>, key: string, value: T): void {
    if (!this.outputTopics.has(topic.name)) throw new Error(`group ${this.group} emits to ${topic.name}, which is not one of its outputs (defineGroup outputs)`);
    (this.outputs ??= []).push({ topic: topic.name, key, value: topic.codec.encode(value) });
  }

  store<T>(store: TableTopic<T>): StoreAccess<T> {
    let access = this.accesses.get(store.name);
    if (!access) {
      const definition = this.stores.get(store.name);
      if (!definition) throw new Error(`group ${this.group} has no store or published table ${store.name}`);
      this.accesses.set(store.name, (access = new RecordStore(this, definition)));
    }
    return access as StoreAccess<T>;
  }

  write(pending: PendingWrite): void {
    if (this.pendingWrites) this.pendingWrites.push(pending);
    else this.pendingWrites = [pending];
  }

  commitStores(): void {
    if (!this.pendingWrites) return;
    for (const { store, key, value, published } of this.pendingWrites) {
      if (!published) {
        changesOf(this.storeChanges.kept, store).set(key, value);
        continue;
      }
      // Never read back, so encoded now: the batch holds bytes, not an object per value, and a
      // write-once table's are written straight into its changelog's StoreBatch.
      const { topic } = this.stores.get(store)!;
      if (!topic.writeOnce) changesOf(this.storeChanges.published, store).set(key, topic.codec.encode(value));
      else {
        let writer = this.storeChanges.writeOnce.get(store);
        if (!writer) this.storeChanges.writeOnce.set(store, (writer = new StoreBatchWriter()));
        writer.addValue(key, topic.codec, value);
      }
    }
  }
}

/** A store as one record's handler sees it: its own writes, then the batch's, then the local store. */
class RecordStore implements StoreAccess<unknown> {
  constructor(
    private readonly context: RecordContext,
    private readonly definition: StoreDefinition,
  ) {}

  get(key: string): unknown {
    const name = this.kept('reads');
    const pending = this.context.pendingWrites;
    if (pending) {
      for (let index = pending.length - 1; index >= 0; index--) {
        const write = pending[index];
        if (!write.published && write.store === name && write.key === key) return write.value;
      }
    }
    const committed = this.context.storeChanges.kept.get(name);
    if (committed?.has(key)) return committed.get(key);
    const bytes = this.context.source.getStore(name, key);
    return bytes === undefined ? undefined : this.definition.topic.codec.decode(bytes);
  }

  put(key: string, value: unknown): void {
    this.context.write({ store: this.kept('puts to'), key, value, published: false });
  }

  publish(key: string, value: unknown): void {
    const name = this.definition.topic.name;
    if (!this.definition.published) throw new Error(`group ${this.context.group} publishes to ${name}, which is not one of its published tables (defineGroup published)`);
    this.context.write({ store: name, key, value, published: true });
  }

  /** The store's name, when the group keeps it: a published table is written for views only. */
  private kept(what: string): string {
    const name = this.definition.topic.name;
    if (this.definition.published) throw new Error(`group ${this.context.group} ${what} ${name}, which it only publishes (defineGroup published): it keeps no copy`);
    return name;
  }
}

/** A store of the group, or a table it publishes to. */
interface StoreDefinition {
  topic: TableTopic<unknown>;
  published: boolean;
}

interface PendingWrite {
  store: string;
  key: string;
  value: unknown;
  /** Written for views only (`StoreAccess.publish`). */
  published: boolean;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

/** Store changes by store name: those the group keeps, those it only publishes, and those it publishes to write-once tables. */
interface StoreChanges {
  kept: Map<string, Map<string, unknown>>;
  published: Map<string, Map<string, Uint8Array>>;
  /** Published to write-once tables, by store name. */
  writeOnce: Map<string, StoreBatchWriter>;
}

/** Sets every value of `source` in `target`, store by store (later values win). */
export function mergeByStore<V>(target: Map<string, Map<string, V>>, source: Map<string, Map<string, V>>): void {
  for (const [storeName, values] of source) {
    const merged = changesOf(target, storeName);
    for (const [key, value] of values) merged.set(key, value);
  }
}

function changesOf<V>(byStore: Map<string, Map<string, V>>, storeName: string): Map<string, V> {
  let changes = byStore.get(storeName);
  if (!changes) byStore.set(storeName, (changes = new Map()));
  return changes;
}
