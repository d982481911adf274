import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import type { AppliedOffsets } from './state-store.js';
import type { ChangelogEntry, ChangelogReader, ChangelogRecord } from './changelog-reader.js';
import { errorMessage } from './context.js';
import { NotStartedError } from './not-started.js';
import { retryTransient } from './retry.js';
import { type KafkaConnection, type TopicEnds, endOffsets, physicalName } from './kafka-client.js';
import { type LatencyCounts, LatencyTally, RECORD_LATENCY_BOUNDS, secondsSince } from './latency-tally.js';
import { type EntryVisitor, forEachChangelogEntry } from './store-batch.js';
import { LocalStore, decodeStored, keyspacePrefix, storedValueBytes } from './state-store.js';
import type { TableTopic } from './topics.js';

/** A table value with the input offsets it reflects. */
export interface ViewEntry<T> {
  value: T;
  applied: AppliedOffsets;
}

/** A change a view applied: which key, where it came from, when it was read. */
export interface ViewChange {
  key: string;
  partition: number;
  offset: number;
  readAt: number;
}

const RECENT_CHANGES = 100;

export interface ViewStatus {
  table: string;
  ready: boolean;
  partitions: Array<{ partition: number; position: number; end: number; lag: number }>;
  /**
   * Once ready, for each changelog record read: how long after it was written (by its group's
   * transaction, before that committed) the view held it, its readers woken.
   */
  applyLatency: LatencyCounts;
}

/** {@link View.waitFor} gave up. */
export class ViewTimeoutError extends Error {}

export interface ViewDeps {
  /** The ends of the changelog the view follows. */
  ends: TopicEnds;
  /** How many partitions a topic has, as the process found them when it checked its topics at start. */
  partitions: (physicalTopic: string) => number;
  connection: KafkaConnection;
  dataDir: string;
  /**
   * How many of the keys read lately `get` answers from memory: their values, or that they have
   * none. A LevelDB read from the HTTP thread, between requests that have taken its CPU caches,
   * costs ~8 µs against ~2 µs in a loop (docs/streams.md); a remembered value ~200 bytes.
   */
  cacheValues: number;
  /** A new reader of changelogs (a `ChangelogReader` on Kafka). */
  openReader: () => Pick<ChangelogReader, 'follow' | 'stop'>;
}

interface Waiter<T> {
  until: (entry: ViewEntry<T> | undefined) => boolean;
  resolve: (entry: ViewEntry<T> | undefined) => void;
}

const SPACE = 'v';
const KEYSPACE = keyspacePrefix(SPACE);

/** A key the view's store does not hold, remembered as such. */
const ABSENT = Symbol('absent');

/** A batch being written to a view's store: its keys, and (built when first asked) the same as a set. */
interface WriteInFlight {
  readonly keys: WrittenKeys;
  lookup?: Set<string>;
}

/**
 * The keys of a write to a view's store, kept as where their bytes lie and made text only when
 * asked: a view catching up, with no reader and nothing cached, asks for a few (its recent changes).
 */
class WrittenKeys {
  private readonly sources: Buffer[] = [];
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private decoded?: string[];

  get length(): number {
    return this.starts.length;
  }

  add(entry: ChangelogEntry): void {
    this.sources.push(entry.bytes);
    this.starts.push(entry.keyStart);
    this.ends.push(entry.keyEnd);
  }

  text(index: number): string {
    return this.decoded?.[index] ?? this.sources[index].toString('utf8', this.starts[index], this.ends[index]);
  }

  /** Every key as text, in the order added (made once). */
  texts(): string[] {
    if (!this.decoded) {
      this.decoded = new Array<string>(this.starts.length);
      for (let index = 0; index < this.starts.length; index++) this.decoded[index] = this.sources[index].toString('utf8', this.starts[index], this.ends[index]);
    }
    return this.decoded;
  }
}

/**
 * A read-only replica of a table, for a process that does not own it (the API): it follows
 * every partition of the table's changelog into a local LevelDB store, checkpointed, so a
 * restart reads only what it missed. Reads are local and synchronous; nothing goes to Kafka
 * per read.
 *
 * `ready` turns true once the replica has caught up with the changelog ends seen at start.
 */
export class View<T> {
  private readonly logger: Logger;
  private store?: LocalStore;
  private reader?: Pick<ChangelogReader, 'follow' | 'stop'>;
  private readonly targets = new Map<number, number>();
  private readonly positions = new Map<number, number>();
  private readonly ends = new Map<number, number>();
  private readonly waiters = new Map<string, Set<Waiter<T>>>();
  private isReady = false;
  private readonly changes: ViewChange[] = [];
  private endsTimer?: NodeJS.Timeout;
  private readyCallbacks: Array<() => void> = [];
  /** See ViewStatus.applyLatency. */
  private readonly applyLatency = new LatencyTally(RECORD_LATENCY_BOUNDS);
  /** Values read lately, decoded, in the order they were read. */
  private readonly cache = new Map<string, T | typeof ABSENT>();
  /**
   * The writes in flight: their keys are neither answered from nor kept in the cache. LevelDB
   * holds a write before this thread hears that it does, and a read in between (a `waitFor` that
   * sees the new offsets at once) must not be followed by a cached value older than the store's.
   */
  private readonly writing = new Set<WriteInFlight>();

  constructor(
    readonly table: TableTopic<T>,
    private readonly deps: ViewDeps,
  ) {
    this.logger = new Logger(`View:${table.name}`);
  }

  private get topic(): string {
    return physicalName(this.deps.connection, this.table.name);
  }

  get path(): string {
    return join(this.deps.dataDir, 'views', this.table.name);
  }

  /** Opens the local replica and starts following the changelog; does not wait for `ready`. */
  async start(): Promise<void> {
    const keysWrittenOnce = this.table.writeOnce === true;
    this.store = await LocalStore.open(this.path, { keysWrittenOnce, onWipe: (reason) => this.logger.warn(`local replica unusable (${reason}); rebuilding`) });
    const offsets = await retryTransient(() => endOffsets(this.deps.ends, this.topic, this.deps.partitions(this.topic)));
    if ([...offsets].some(([partition, high]) => this.store!.checkpoint(this.topic, partition) > high)) {
      this.logger.warn('local checkpoint is past the changelog end (recreated topic?); rebuilding');
      await this.store.close();
      await LocalStore.destroy(this.path);
      this.store = await LocalStore.open(this.path, { keysWrittenOnce });
    }
    for (const [partition, high] of offsets) {
      this.targets.set(partition, high);
      this.ends.set(partition, high);
      this.positions.set(partition, this.store.checkpoint(this.topic, partition));
    }
    const behind = [...this.targets].reduce((sum, [partition, end]) => sum + Math.max(0, end - this.positions.get(partition)!), 0);
    this.logger.log(`following ${this.topic} (${offsets.size} partitions, ${behind} records to catch up)`);
    this.checkReady();
    // The ends move on without the reader noticing when it is stuck: ask Kafka now and then, so
    // that lag tells the truth.
    this.endsTimer = setInterval(() => void this.refreshEnds(), 5000);
    this.endsTimer.unref();
    this.reader = this.deps.openReader();
    await this.reader.follow(
      [...this.positions].map(([partition, from]) => ({ topic: this.topic, partition, from })),
      (_topic, partition, records, next, highWatermark) => this.apply(partition, records, next, highWatermark),
      (error) => this.logger.error(`reading the changelog keeps failing (${errorMessage(error)}); trying again`),
      (_topic, partition, next) => {
        this.positions.set(partition, next);
        this.ends.set(partition, Math.max(this.ends.get(partition) ?? 0, next));
        if (!this.isReady) this.checkReady();
      },
    );
  }

  private async apply(partition: number, records: ChangelogRecord[], next: number, highWatermark: number): Promise<void> {
    // What a view restores at start is old by nature: latency counts from then on.
    const live = this.isReady;
    const store = this.open();
    // Keys and offsets side by side, not an object per change: a view catching up applies
    // hundreds of thousands of changes a second.
    const keys = new WrittenKeys();
    const offsets: number[] = [];
    const write = store.startWrite();
    // What this write leaves for the keys that readers wait for: they are woken with it, not
    // with a read of LevelDB.
    const awaited = this.waiters.size > 0 ? new Map<string, Uint8Array | undefined>() : undefined;
    let offset = 0;
    const visit: EntryVisitor = (entry) => {
      // The key as text (decoded from the entry's bytes) only when some reader waits.
      const key = awaited ? entry.key : undefined;
      const waited = key !== undefined && this.waiters.has(key);
      const stored = write.putEntry(KEYSPACE, entry, true, waited);
      if (waited) awaited!.set(key, stored);
      keys.add(entry);
      offsets.push(offset);
    };
    for (let i = 0; i < records.length; i++) {
      offset = records[i].offset;
      forEachChangelogEntry(records[i], visit);
    }
    // Before LevelDB has the batch: from then on, a cached value of these keys may be stale.
    const inFlight = this.startWriting(keys);
    try {
      await write.write([{ topic: this.topic, partition, next }]);
    } finally {
      this.writing.delete(inFlight);
    }
    this.positions.set(partition, next);
    const readAt = Date.now();
    for (let i = Math.max(0, keys.length - RECENT_CHANGES); i < keys.length; i++) this.changes.push({ key: keys.text(i), partition, offset: offsets[i], readAt });
    if (this.changes.length > RECENT_CHANGES) this.changes.splice(0, this.changes.length - RECENT_CHANGES);
    this.ends.set(partition, Math.max(highWatermark, next));
    if (this.waiters.size > 0) {
      for (const key of keys.texts()) {
        const waiting = this.waiters.get(key);
        if (!waiting) continue;
        // A reader that began waiting while the write was in flight may have read the value
        // before it: it is woken too, from LevelDB.
        const stored = awaited?.has(key) ? awaited.get(key) : this.open().getSync(SPACE, key);
        this.wake(key, waiting, stored && this.toEntry(stored));
      }
    }
    if (live) {
      this.applyLatency.observeSpread(records.length, (index) => secondsSince(records[index].timestamp, readAt));
    }
    if (!this.isReady) this.checkReady();
  }

  private async refreshEnds(): Promise<void> {
    try {
      for (const { partition, offset } of await this.deps.ends.endsOf(this.topic)) {
        this.ends.set(partition, Math.max(this.ends.get(partition) ?? 0, Number(offset)));
      }
    } catch {
      // Kafka away: the lag stays as last known.
    }
  }

  private checkReady(): void {
    if ([...this.targets].every(([partition, target]) => (this.positions.get(partition) ?? 0) >= target)) {
      if (!this.isReady) this.logger.log('ready');
      this.isReady = true;
      for (const callback of this.readyCallbacks.splice(0)) callback();
    }
  }

  /** True once the replica has caught up with the changelog ends seen at start. */
  get ready(): boolean {
    return this.isReady;
  }

  /** Resolves once {@link ready}. */
  whenReady(): Promise<void> {
    return this.isReady ? Promise.resolve() : new Promise((resolve) => this.readyCallbacks.push(resolve));
  }

  /**
   * The key's value, or `undefined` when the table has none. Local, synchronous. The value is
   * shared with later reads of the key: read it, never change it. The keys read last are
   * answered from memory ({@link ViewDeps.cacheValues}).
   */
  get(key: string): T | undefined {
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached === ABSENT ? undefined : cached;
    const bytes = this.open().getSync(SPACE, key);
    const value = bytes === undefined ? undefined : this.table.codec.decode(storedValueBytes(bytes));
    // Absent keys too: most wallets have no flag, and LevelDB's answer that a key is not there
    // (memtable, then each level's filter) cost GET /check about as much as reading a value.
    if (this.deps.cacheValues > 0 && !this.isBeingWritten(key)) {
      if (this.cache.size >= this.deps.cacheValues) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, value ?? ABSENT);
    }
    return value;
  }

  private startWriting(keys: WrittenKeys): WriteInFlight {
    if (this.cache.size > 0) for (const key of keys.texts()) this.cache.delete(key);
    const write: WriteInFlight = { keys };
    this.writing.add(write);
    return write;
  }

  /** Whether a write in flight holds the key. Its keys are looked up as a set only when a read asks. */
  private isBeingWritten(key: string): boolean {
    for (const write of this.writing) {
      write.lookup ??= new Set(write.keys.texts());
      if (write.lookup.has(key)) return true;
    }
    return false;
  }

  /** The key's value with the input offsets it reflects. */
  entry(key: string): ViewEntry<T> | undefined {
    const bytes = this.open().getSync(SPACE, key);
    return bytes && this.toEntry(bytes);
  }

  private toEntry(bytes: Uint8Array): ViewEntry<T> {
    const stored = decodeStored(bytes);
    return { value: this.table.codec.decode(stored.bytes), applied: stored.applied };
  }

  /**
   * Resolves with the key's entry as soon as `until` holds for it (at once if it holds now);
   * rejects with {@link ViewTimeoutError} after `timeoutMs`. The read-your-writes of a
   * client that knows which input offset it waits for.
   */
  waitFor(key: string, until: (entry: ViewEntry<T> | undefined) => boolean, timeoutMs: number): Promise<ViewEntry<T> | undefined> {
    const now = this.entry(key);
    if (until(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const waiting = this.waiters.get(key) ?? new Set<Waiter<T>>();
      this.waiters.set(key, waiting);
      const waiter: Waiter<T> = {
        until,
        resolve: (entry) => {
          clearTimeout(timer);
          resolve(entry);
        },
      };
      const timer = setTimeout(() => {
        waiting.delete(waiter);
        if (waiting.size === 0) this.waiters.delete(key);
        reject(new ViewTimeoutError(`view ${this.table.name} did not reach the awaited state of ${key} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.add(waiter);
    });
  }

  /** Resolves the waiters of `key` that its entry as just written satisfies. */
  private wake(key: string, waiting: Set<Waiter<T>>, entry: ViewEntry<T> | undefined): void {
    for (const waiter of waiting) {
      if (waiter.until(entry)) {
        waiting.delete(waiter);
        waiter.resolve(entry);
      }
    }
    if (waiting.size === 0) this.waiters.delete(key);
  }

  /**
   * Values whose keys start with `prefix`, in key order or reversed, at most `limit`, strictly
   * after (before, reversed) the key `after`.
   */
  async entries(prefix: string, options: { reverse?: boolean; limit?: number; after?: string } = {}): Promise<Array<[string, T]>> {
    const rows = await this.open().entries(SPACE, prefix, { reverse: options.reverse, limit: options.limit, from: options.after });
    return rows.map(([key, bytes]) => [key, this.table.codec.decode(decodeStored(bytes).bytes)]);
  }

  /** The last changes read (at most 100), newest last. */
  recent(): ViewChange[] {
    return [...this.changes];
  }

  status(): ViewStatus {
    return {
      table: this.table.name,
      ready: this.isReady,
      partitions: [...this.positions]
        .map(([partition, position]) => {
          const end = Math.max(this.ends.get(partition) ?? 0, position);
          return { partition, position, end, lag: end - position };
        })
        .sort((a, b) => a.partition - b.partition),
      applyLatency: this.applyLatency.snapshot(),
    };
  }

  private open(): LocalStore {
    if (!this.store) throw new NotStartedError(`view ${this.table.name} used before it started`);
    return this.store;
  }

  async stop(): Promise<void> {
    clearInterval(this.endsTimer);
    await this.reader?.stop();
    this.reader = undefined;
    await this.store?.close();
    this.store = undefined;
  }
}
