import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import type { BatchResult, StateSource } from './batch.js';
import { ChangelogReader, type ChangelogRecord } from './changelog-reader.js';
import type { GroupDefinition } from './group.js';
import { type KafkaConnection, type TopicEnds, endOffsets, physicalName } from './kafka-client.js';
import { partitionFor } from './murmur2.js';
import type { OutgoingRecord, PartitionAck } from './producer.js';
import { retryTransient } from './retry.js';
import { APPLIED_HEADER, type LocalStore, type StoreWrite, type StoredValue, decodeStored, encodeStored, formatApplied, keyspacePrefix } from './state-store.js';
import { type EntryVisitor, STORE_BATCH_HEADER, STORE_BATCH_MARK, encodeStoreBatches, forEachChangelogEntry } from './store-batch.js';
import { deadLetterTopicName } from './topics.js';

/** The offsets a transaction's commit marker takes in each partition it wrote. */
const COMMIT_MARKER = 1;

/** Progress of a restoration: changelog records read of those there were to read. */
export interface RestoreProgress {
  kind: 'warm' | 'cold';
  total: number;
  done: number;
  startedAt: number;
  finishedAt?: number;
}

/** The steps of a batch commit, in order (see {@link PartitionState}). */
export type CommitStep = 'transaction-sent' | 'transaction-committed' | 'store-written' | 'offsets-committed';

export interface PartitionStateDeps {
  kafka: Kafka;
  /** The ends of the changelogs a partition restores to. */
  ends: TopicEnds;
  connection: KafkaConnection;
  dataDir: string;
  /** Partition count of a physical topic. */
  partitions: (physicalTopic: string) => number;
  /** Called after each commit step: the seam through which tests crash a process there. */
  afterCommitStep?: (step: CommitStep) => void;
  /** The pause before each attempt to start a group again after its consumer died (default 2 s). */
  restartDelayMs?: number;
}


/**
 * What committing one processed batch takes: the records of its Kafka transaction, and the
 * values to write locally once that transaction has committed.
 */
export interface PreparedCommit {
  readonly records: OutgoingRecord[];
  readonly localValues: ReadonlyArray<readonly [space: string, values: ReadonlyMap<string, Uint8Array>]>;
}

/**
 * The state of one partition of a processor group: its local store, brought up to its
 * changelogs' ends before any record is handled, and the commit of each processed batch in
 * the order that makes every input record count exactly once:
 *
 *   1. in one Kafka transaction (its {@link Task}'s, shared with the task's other partitions):
 *      the outputs, the dead letters, the changed store values and the changed table values
 *      (each with the offsets of the inputs it reflects) — all visible together at commit, or
 *      not at all;
 *   2. values and changelog checkpoints are written to LevelDB in one batch;
 *   3. (by the caller) the input offsets are committed.
 *
 * A crash before 1 commits leaves no trace (readers see committed data only); after it, the
 * changelogs hold the values with their applied offsets, restoration brings them into the
 * local store, and replayed records are skipped. Restoration runs while the task fences every
 * earlier writer of the partition (Task.claim) and reads once more after it; batches run only then.
 */
export class PartitionState implements StateSource {
  private readonly logger: Logger;
  /** Whether restoration has begun (and the partition not closed since). */
  private opened = false;
  /** Where this partition's table and stores live in the group's local store. */
  private readonly tableSpace: string;
  /** The changelogs the group reads back (restores): its table's, then its stores'. Not its published tables'. */
  private readonly changelogs: string[];
  /** Changelogs of write-once stores and published tables, whose records are `StoreBatch`es. */
  private readonly writeOnce: Set<string>;
  restore?: RestoreProgress;

  constructor(
    private readonly group: GroupDefinition,
    readonly partition: number,
    private readonly deps: PartitionStateDeps,
    /** The group's local store, shared by the partitions it owns: keys start with `<partition>/`. */
    private readonly store: LocalStore,
  ) {
    this.tableSpace = `${partition}/t`;
    this.logger = new Logger(`${group.name}/${partition}`);
    this.changelogs = [group.table, ...(group.stores ?? [])].map((table) => this.physical(table.name));
    this.writeOnce = new Set([...(group.stores ?? []), ...(group.published ?? [])].filter((store) => store.writeOnce).map((store) => this.physical(store.name)));
  }

  private physical(name: string): string {
    return physicalName(this.deps.connection, name);
  }

  /**
   * Opens the local store and reads the changelogs from its checkpoints to their current ends
   * (cold, from the beginning, when the local data is missing or unusable). Called while the
   * partition's task claims it and again once it has: after the claim nothing else can land in
   * the changelogs, so the second read leaves the store complete.
   */
  async catchUp(signal?: AbortSignal): Promise<void> {
    this.opened = true;
    const ends = await this.endOffsets();
    const behind = this.changelogs.some((topic) => this.store.checkpoint(topic, this.partition) > ends.get(topic)!);
    if (behind) {
      // The changelog is shorter than what we read of it: it was recreated. Start over.
      this.logger.warn('local checkpoint is past the changelog end; rebuilding the partition from the changelog');
      await this.store.clear(`${this.partition}/`, this.changelogs, this.partition);
    }
    const ranges = this.changelogs.map((topic) => ({
      topic,
      partition: this.partition,
      from: this.store.checkpoint(topic, this.partition),
      to: ends.get(topic)!,
    }));
    const total = ranges.reduce((sum, range) => sum + Math.max(0, range.to - range.from), 0);
    if (total === 0) return;
    const cold = ranges.every((range) => range.from === 0);
    this.restore = { kind: cold ? 'cold' : 'warm', total, done: 0, startedAt: Date.now() };
    this.logger.log(`restoring ${total} changelog records (${this.restore.kind})`);
    const reader = new ChangelogReader(this.deps.kafka);
    await reader.readToEnd(
      ranges,
      async (topic, partition, records, next) => {
        const write = this.store.startWrite();
        this.putRestored(write, topic, records);
        await write.write([{ topic, partition, next }]);
        this.restore!.done += records.length;
      },
      signal,
    );
    // Everything up to the ends is read, transaction markers after the last record included.
    await this.store.startWrite().write(ranges.map(({ topic, partition, to }) => ({ topic, partition, next: to })));
    this.restore.finishedAt = Date.now();
    const seconds = (this.restore.finishedAt - this.restore.startedAt) / 1000;
    this.logger.log(`restored ${this.restore.done} records in ${seconds.toFixed(2)} s`);
  }

  private putRestored(write: StoreWrite, topic: string, records: ChangelogRecord[]): void {
    // A table's values are stored with the offsets they reflect; a store's as they are.
    const isTable = topic === this.changelogs[0];
    const prefix = keyspacePrefix(isTable ? this.tableSpace : this.storeSpace(this.logicalStore(topic)));
    const visit: EntryVisitor = (entry) => write.putEntry(prefix, entry, isTable);
    for (let i = 0; i < records.length; i++) forEachChangelogEntry(records[i], visit);
  }

  private storeSpace(store: string): string {
    return `${this.partition}/s:${store}`;
  }

  private logicalStore(topic: string): string {
    return (this.group.stores ?? []).find((store) => this.physical(store.name) === topic)!.name;
  }

  /** Each changelog's end at this partition, all asked at once (the balance group restores two). */
  private async endOffsets(): Promise<Map<string, number>> {
    const ends = await Promise.all(this.changelogs.map((topic) => retryTransient(() => endOffsets(this.deps.ends, topic, this.deps.partitions(topic)))));
    return new Map(this.changelogs.map((topic, index) => [topic, ends[index].get(this.partition)!]));
  }

  async loadTable(keys: string[]): Promise<Map<string, StoredValue>> {
    const values = await this.open().getMany(this.tableSpace, keys);
    const loaded = new Map<string, StoredValue>();
    for (let index = 0; index < keys.length; index++) {
      const bytes = values[index];
      if (bytes !== undefined) loaded.set(keys[index], decodeStored(bytes));
    }
    return loaded;
  }

  /** Whether the partition is restored or being restored. */
  get isOpen(): boolean {
    return this.opened;
  }

  /**
   * A store's value, read synchronously: LevelDB answers from its memtable or a cached block in
   * microseconds, while a read through libuv's pool cost a round trip and a turn of the event loop
   * per record, with the batch waiting for it (docs/streams.md).
   */
  getStore(store: string, key: string): Uint8Array | undefined {
    return this.open().getSync(this.storeSpace(store), key);
  }

  /**
   * What committing a processed batch takes (steps 1 and 2 above): the records of the
   * transaction, and the values to write locally after it ({@link stage}).
   */
  prepare(result: BatchResult, inputTopic: string): PreparedCommit {
    this.open();
    const records: OutgoingRecord[] = result.outputs.map((output) => {
      const topic = this.physical(output.topic);
      return { topic, partition: partitionFor(output.key, this.deps.partitions(topic)), key: output.key, value: output.value };
    });
    for (const { record, error } of result.deadLetters) {
      records.push({
        topic: deadLetterTopicName(inputTopic),
        partition: record.partition,
        key: record.key ?? '',
        value: record.value,
        headers: {
          'dlq.group': this.group.name,
          'dlq.error': error.slice(0, 1000),
          'dlq.topic': inputTopic,
          'dlq.partition': String(record.partition),
          'dlq.offset': String(record.offset),
          'dlq.timestamp': String(record.timestamp),
        },
      });
      this.logger.warn(`dead-lettered ${inputTopic}/${record.partition}@${record.offset} key=${record.key ?? '(none)'}: ${error}`);
    }
    const localValues: Array<[space: string, values: Map<string, Uint8Array>]> = [];
    for (const [storeName, values] of result.stores) {
      this.changelogRecords(storeName, values, records);
      if (values.size > 0) localValues.push([this.storeSpace(storeName), values]);
    }
    // Published tables are changelog only: the group keeps no copy (StoreAccess.publish).
    for (const [storeName, values] of result.published) this.changelogRecords(storeName, values, records);
    for (const [storeName, batches] of result.storeBatches) this.storeBatchRecords(this.physical(storeName), batches, records);
    const tableTopic = this.changelogs[0];
    const tableValues = new Map<string, Uint8Array>();
    // Loops here and below, not closures made per batch: V8 optimizes such a closure anew after
    // every full collection, which drops optimized code no live function holds (docs/streams.md).
    for (const [key, stored] of result.table) {
      // The same text in the changelog's header and in the local value.
      const applied = Buffer.from(formatApplied(stored.applied));
      records.push({ topic: tableTopic, partition: this.partition, key, value: stored.bytes, headers: { [APPLIED_HEADER]: applied } });
      tableValues.set(key, encodeStored(stored.bytes, applied));
    }
    localValues.push([this.tableSpace, tableValues]);
    return { records, localValues };
  }

  /**
   * Adds a committed batch's values to `write`, the local write of its task's transaction, and
   * returns where this partition's changelogs go on after that transaction (`acks`).
   */
  stage(write: StoreWrite, prepared: PreparedCommit, acks: readonly PartitionAck[]): Array<{ topic: string; partition: number; next: number }> {
    this.open();
    for (const [space, values] of prepared.localValues) for (const [key, value] of values) write.put(space, key, value);
    return this.pastCommitMarkers(acks);
  }

  /** A store's or published table's changes, as records of its changelog, appended to `records`. */
  private changelogRecords(storeName: string, values: Map<string, Uint8Array>, records: OutgoingRecord[]): void {
    const topic = this.physical(storeName);
    if (!this.writeOnce.has(topic)) {
      for (const [key, value] of values) records.push({ topic, partition: this.partition, key, value });
      return;
    }
    this.storeBatchRecords(topic, encodeStoreBatches(values), records);
  }

  /** `StoreBatch` values as records of a write-once changelog, appended to `records`. */
  private storeBatchRecords(topic: string, batches: readonly Uint8Array[], records: OutgoingRecord[]): void {
    // A fresh key for each record: compaction must never take one for an older one.
    for (const batch of batches) {
      records.push({ topic, partition: this.partition, key: randomUUID(), value: batch, headers: { [STORE_BATCH_HEADER]: STORE_BATCH_MARK } });
    }
  }

  /**
   * Where each changelog written by a committed transaction goes on: past its records and past
   * the commit marker that Kafka writes right after them. The marker takes one offset, and nothing
   * can come between: only this partition's task writes its changelogs, and a new owner's
   * claim waits until the marker is written. So a store restarted after a clean stop is
   * at its changelogs' ends and reads nothing of them; with the marker left before it, every
   * partition fetched it again on every restart, on a connection of its own.
   */
  private pastCommitMarkers(acks: readonly PartitionAck[]): Array<{ topic: string; partition: number; next: number }> {
    const ends = new Map<string, number>();
    for (const ack of acks) {
      if (ack.partition !== this.partition || !this.changelogs.includes(ack.topic)) continue;
      // A transaction sent in chunks has an ack per chunk: its records end with the last one's.
      ends.set(ack.topic, Math.max(ends.get(ack.topic) ?? 0, ack.baseOffset + ack.count));
    }
    return [...ends].map(([topic, end]) => ({ topic, partition: this.partition, next: end + COMMIT_MARKER }));
  }

  private open(): LocalStore {
    if (!this.opened) throw new Error(`${this.group.name}/${this.partition}: store used before restoration`);
    return this.store;
  }

  /** Stops writing for the partition; its local data stays, to be caught up if it comes back. */
  close(): void {
    this.opened = false;
  }

  /** Bytes the partition's local data takes on disk, roughly. */
  async sizeBytes(): Promise<number> {
    return this.opened ? this.store.approximateSize(`${this.partition}/`) : 0;
  }
}
