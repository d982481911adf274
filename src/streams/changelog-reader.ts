import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { KafkaBatch, type KafkaCluster, READ_COMMITTED, readerCluster } from './kafka-client.js';
import { fetchedOffset, fetchedTimestamp, locateFetched } from './kafkajs-records.js';
import { retryTransient } from './retry.js';

/** A record read from a changelog (physical topic name). */
export interface ChangelogRecord {
  readonly offset: number;
  /** When its producer wrote it (Unix ms), where known. */
  readonly timestamp?: number;
  /**
   * Sets `into` to where the record's key, its value and the value of its first header named
   * `header` lie (as {@link ChangelogEntry} says), read in one pass without a Buffer of any of
   * them: restorations and views read hundreds of thousands of records a second. True when the
   * record has a header named `mark`.
   */
  locate(into: ChangelogEntry, header: Buffer, mark: Buffer): boolean;
}

const NO_BYTES = Buffer.alloc(0);

/**
 * One change a changelog holds, as ranges of `bytes`: a key (`keyEnd` -1: none), its value
 * (`valueEnd` -1: none, the key is deleted) and the text of the input offsets it reflects.
 * Whoever hands one out sets it anew for the next change: read it during the call.
 */
export class ChangelogEntry {
  bytes: Buffer = NO_BYTES;
  keyStart = 0;
  keyEnd = -1;
  valueStart = 0;
  valueEnd = -1;
  appliedStart = 0;
  appliedEnd = 0;

  /** The key as UTF-8 text. */
  get key(): string {
    return this.bytes.toString('utf8', this.keyStart, this.keyEnd);
  }

  /** The value's bytes (a view of `bytes`), undefined for a deletion. */
  get value(): Buffer | undefined {
    return this.valueEnd === -1 ? undefined : this.bytes.subarray(this.valueStart, this.valueEnd);
  }

  /** The applied offsets' text (a view of `bytes`; empty when the change has none). */
  get appliedText(): Buffer {
    return this.bytes.subarray(this.appliedStart, this.appliedEnd);
  }

  /**
   * Sets the entry to parts held apart (a record made in memory rather than fetched): they are
   * copied into one Buffer. Null for a part the record lacks.
   */
  assign(key: Uint8Array | null, value: Uint8Array | null, applied: Uint8Array | null): this {
    const keyLength = key?.length ?? 0;
    const valueLength = value?.length ?? 0;
    this.bytes = Buffer.concat([key ?? NO_BYTES, value ?? NO_BYTES, applied ?? NO_BYTES]);
    this.keyStart = 0;
    this.keyEnd = key === null ? -1 : keyLength;
    this.valueStart = keyLength;
    this.valueEnd = value === null ? -1 : keyLength + valueLength;
    this.appliedStart = keyLength + valueLength;
    this.appliedEnd = this.bytes.length;
    return this;
  }
}

/** A changelog record made in memory (the testing helpers'), with its headers' values as text. */
export function changelogRecordOf(offset: number, key: string | null, value: Uint8Array | null, headers: Record<string, string> = {}): ChangelogRecord {
  return {
    offset,
    locate: (into, header, mark) => {
      const applied = headers[header.toString()];
      into.assign(key === null ? null : Buffer.from(key), value, applied === undefined ? null : Buffer.from(applied));
      return headers[mark.toString()] !== undefined;
    },
  };
}

/** Called when the reader moved past offsets that hold no records for it (transaction markers, aborted data). */
export type ChangelogSkipHandler = (topic: string, partition: number, next: number) => void;

export type ChangelogBatchHandler = (
  topic: string,
  partition: number,
  records: ChangelogRecord[],
  next: number,
  highWatermark: number,
) => Promise<void>;

/** A stretch of a changelog partition: offsets from `from` up to, not including, `to`. */
export interface ReadRange {
  topic: string;
  partition: number;
  from: number;
  to: number;
}

const key = (topic: string, partition: number) => `${topic}/${partition}`;

/** Batch sizes, as the processor groups fetch (see processor-group.ts). */
const MAX_BYTES_PER_PARTITION = 2 * 1024 * 1024;
/** A fetch is held in memory twice (the response and its decoded records), for every view and restoring partition at once. */
const MAX_BYTES = 8 * 1024 * 1024;
/**
 * How long the broker holds a fetch that finds nothing new (it answers as soon as a record
 * comes): how often an idle view asks. A stop does not wait for a fetch held ({@link ChangelogReader.stop}).
 */
const MAX_WAIT_MS = 500;
/** Failures in a row after which reading to an end gives up (a follower keeps trying). */
const ATTEMPTS = 8;

interface Position {
  topic: string;
  partition: number;
  from: number;
}

/**
 * Reads chosen partitions of changelog topics from chosen offsets, batch by batch: up to an
 * end (restoration) or for as long as it runs (views).
 *
 * It belongs to no consumer group: it fetches from each partition's leader itself, as Kafka
 * Streams' restore consumer and Goka's partition consumers do with assign(), which kafkajs
 * lacks. A group of its own would cost a join on every start, and a new group's first join
 * waits `group.initial.rebalance.delay.ms` (3 s by default on a real cluster). Reads are
 * read_committed; transaction markers and aborted records are skipped (kafkajs's Batch). It
 * commits nothing: positions live in the caller's local store.
 *
 * The next fetch is on its way while a batch is applied. A failed fetch (a broker away, a
 * leader moving) is tried again after a growing pause, with fresh metadata.
 */
export class ChangelogReader {
  private cluster?: KafkaCluster;
  private stopped = false;
  private running?: Promise<void>;
  /** Cuts a pause between tries short when the reader stops. */
  private halt = new AbortController();
  /** Where each partition is applied up to: where a restart reads from. */
  private readonly positions = new Map<string, number>();

  constructor(private readonly kafka: Kafka) {}

  /**
   * Reads every range to its end, then stops. Resolves when all are read; rejects when
   * `onBatch` fails, Kafka cannot be read after several tries, or `signal` aborts.
   */
  async readToEnd(ranges: ReadRange[], onBatch: ChangelogBatchHandler, signal?: AbortSignal): Promise<void> {
    const pending = ranges.filter((range) => range.from < range.to);
    if (pending.length === 0) return;
    const targets = new Map(pending.map((range) => [key(range.topic, range.partition), range.to]));
    let finish!: () => void;
    let fail!: (error: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    // It may fail (an abort, a crash) before it is awaited below: that is no unhandled rejection.
    done.catch(() => undefined);
    const onAbort = () => fail(signal?.reason ?? new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const reached = (topic: string, partition: number, next: number) => {
      if (next >= (targets.get(key(topic, partition)) ?? Infinity)) targets.delete(key(topic, partition));
      if (targets.size === 0) finish();
    };
    try {
      await this.start(
        pending.map(({ topic, partition, from }) => ({ topic, partition, from })),
        async (topic, partition, records, next, highWatermark) => {
          await onBatch(topic, partition, records, next, highWatermark);
          reached(topic, partition, next);
        },
        (error, failures) => {
          if (failures >= ATTEMPTS) fail(error);
        },
        reached,
        targets,
      );
      await done;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await this.stop();
    }
  }

  /**
   * Follows the partitions from their offsets until {@link stop}. `onCrash` hears of Kafka
   * failing to answer (once it has failed several times in a row) and of `onBatch` failing; the
   * reader goes on from where it was applied to.
   */
  async follow(
    from: Position[],
    onBatch: ChangelogBatchHandler,
    onCrash: (error: unknown) => void,
    onSkip?: ChangelogSkipHandler,
  ): Promise<void> {
    await this.start(from, onBatch, (error, failures) => failures % ATTEMPTS === 0 && onCrash(error), onSkip);
  }

  /**
   * Resolves once nothing more is applied: after the batch being applied, not after a fetch in
   * flight. Its connection closes once that fetch is answered (kafkajs waits for the requests
   * in flight before it closes one).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.halt.abort();
    await this.running;
    const cluster = this.cluster;
    this.cluster = undefined;
    void cluster?.disconnect().catch(() => undefined);
  }

  /** Connects (a failure here is thrown), then reads in the background until stopped. */
  private async start(
    from: Position[],
    onBatch: ChangelogBatchHandler,
    onFailure: (error: unknown, failures: number) => void,
    onSkip?: ChangelogSkipHandler,
    until?: ReadonlyMap<string, number>,
  ): Promise<void> {
    this.stopped = false;
    this.halt = new AbortController();
    for (const { topic, partition, from: offset } of from) this.positions.set(key(topic, partition), offset);
    const cluster = readerCluster(this.kafka);
    this.cluster = cluster;
    const topics = [...new Set(from.map(({ topic }) => topic))];
    await retryTransient(async () => {
      await cluster.connect();
      await cluster.addMultipleTargetTopics(topics);
    });
    this.running = this.read(cluster, from, onBatch, onFailure, onSkip, until);
  }

  private async read(
    cluster: KafkaCluster,
    partitions: Position[],
    onBatch: ChangelogBatchHandler,
    onFailure: (error: unknown, failures: number) => void,
    onSkip: ChangelogSkipHandler | undefined,
    until: ReadonlyMap<string, number> | undefined,
  ): Promise<void> {
    let failures = 0;
    // Where the next fetch starts: past what has been fetched, which may not be applied yet.
    let fetchAt = new Map(this.positions);
    let fetching: Promise<FetchedBatch[]> | undefined;
    while (!this.stopped) {
      try {
        const batches = await this.unlessHalted(fetching ?? this.fetch(cluster, partitions, fetchAt, until));
        fetching = undefined;
        for (const batch of batches) fetchAt.set(key(batch.topic, batch.partition), batch.next);
        if (this.stopped) break;
        // The next fetch travels while this one is applied.
        fetching = this.fetch(cluster, partitions, fetchAt, until);
        fetching.catch(() => undefined);
        for (const batch of batches) {
          if (this.stopped) break;
          // A partition read to its end meanwhile (the fetch under way asked for it too).
          if (until && !until.has(key(batch.topic, batch.partition))) continue;
          if (batch.records.length > 0) await onBatch(batch.topic, batch.partition, batch.records, batch.next, batch.highWatermark);
          this.positions.set(key(batch.topic, batch.partition), batch.next);
          if (batch.records.length === 0) onSkip?.(batch.topic, batch.partition, batch.next);
        }
        failures = 0;
      } catch (error) {
        if (this.stopped) break;
        failures++;
        onFailure(error, failures);
        await fetching?.catch(() => undefined);
        fetching = undefined;
        await this.recover(cluster, error);
        // Start again from what was applied: a batch fetched but not applied is fetched again.
        fetchAt = new Map(this.positions);
        await sleep(Math.min(100 * 2 ** failures, 2000), undefined, { signal: this.halt.signal }).catch(() => undefined);
      }
    }
  }

  /**
   * What `fetching` brings, or nothing once the reader halts: a stop does not wait out a fetch
   * the broker holds for new records (up to `MAX_WAIT_MS`). A fetch left so is answered to a
   * reader that applies nothing more, and its connection closes after it.
   */
  private unlessHalted(fetching: Promise<FetchedBatch[]>): Promise<FetchedBatch[]> {
    fetching.catch(() => undefined);
    const { signal } = this.halt;
    if (signal.aborted) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const halted = () => resolve([]);
      signal.addEventListener('abort', halted, { once: true });
      fetching.then(resolve, reject).finally(() => signal.removeEventListener('abort', halted));
    });
  }

  /**
   * One fetch from each leader of the partitions still wanted, at once. Reading to an end, a
   * partition fetched up to its end is not asked for again: the broker would hold that fetch
   * for `MAX_WAIT_MS` with nothing to send, and the reader's stop would wait for it.
   */
  private async fetch(
    cluster: KafkaCluster,
    partitions: Position[],
    fetchAt: ReadonlyMap<string, number>,
    until: ReadonlyMap<string, number> | undefined,
  ): Promise<FetchedBatch[]> {
    await cluster.refreshMetadataIfNecessary();
    const byTopic = new Map<string, number[]>();
    for (const { topic, partition } of partitions) {
      if (!until || fetchAt.get(key(topic, partition))! < (until.get(key(topic, partition)) ?? -1)) (byTopic.get(topic) ?? byTopic.set(topic, []).get(topic)!).push(partition);
    }
    const byLeader = new Map<string, Array<{ topic: string; partitions: Array<{ partition: number; fetchOffset: string; maxBytes: number }> }>>();
    for (const [topic, numbers] of byTopic) {
      for (const [leader, led] of Object.entries(cluster.findLeaderForPartitions(topic, numbers))) {
        const request = { topic, partitions: led.map((partition) => ({ partition, fetchOffset: String(fetchAt.get(key(topic, partition))), maxBytes: MAX_BYTES_PER_PARTITION })) };
        (byLeader.get(leader) ?? byLeader.set(leader, []).get(leader)!).push(request);
      }
    }
    if (byLeader.size === 0) {
      await sleep(MAX_WAIT_MS, undefined, { signal: this.halt.signal }).catch(() => undefined);
      return [];
    }
    const responses = await Promise.all(
      [...byLeader].map(async ([nodeId, topics]) => {
        const broker = await cluster.findBroker({ nodeId });
        const { responses } = await broker.fetch({ replicaId: -1, isolationLevel: READ_COMMITTED, maxWaitTime: MAX_WAIT_MS, minBytes: 1, maxBytes: MAX_BYTES, topics });
        return responses;
      }),
    );
    const batches: FetchedBatch[] = [];
    for (const { topicName, partitions: fetched } of responses.flat()) {
      for (const data of fetched) {
        const batch = new KafkaBatch(topicName, String(fetchAt.get(key(topicName, data.partition))), data);
        // Nothing at or past the offset asked for: the partition is read to its (stable) end.
        if (batch.isEmpty() && !batch.isEmptyDueToFiltering()) continue;
        batches.push({
          topic: topicName,
          partition: data.partition,
          records: batch.messages.map((message) => new FetchedChangelogRecord(message)),
          next: Number(batch.lastOffset()) + 1,
          highWatermark: Number(data.highWatermark),
        });
      }
    }
    return batches;
  }

  /** After a failed fetch: positions out of the log's range start at its beginning; metadata is fetched again. */
  private async recover(cluster: KafkaCluster, error: unknown): Promise<void> {
    try {
      const outOfRange = error as { name?: string; topic?: string; partition?: number };
      if (outOfRange.name === 'KafkaJSOffsetOutOfRange' && outOfRange.topic !== undefined && outOfRange.partition !== undefined) {
        const [earliest] = await cluster.fetchTopicsOffset([{ topic: outOfRange.topic, fromBeginning: true, partitions: [{ partition: outOfRange.partition }] }]);
        const offset = earliest?.partitions.find(({ partition }) => partition === outOfRange.partition)?.offset;
        if (offset !== undefined) this.positions.set(key(outOfRange.topic, outOfRange.partition), Number(offset));
      }
      await cluster.refreshMetadata();
    } catch {
      // The next fetch fails again, and is counted.
    }
  }
}

/** What one fetch brought of one partition: its records (maybe none, past markers), and where the next fetch starts. */
interface FetchedBatch {
  topic: string;
  partition: number;
  records: ChangelogRecord[];
  next: number;
  highWatermark: number;
}

/**
 * A changelog record over the fetched message, its key, value and headers read where they lie:
 * a batch being applied holds no copies of them (see `recordDecoder` in kafkajs-records.ts).
 */
class FetchedChangelogRecord implements ChangelogRecord {
  readonly offset: number;

  constructor(private readonly message: KafkaMessage) {
    this.offset = fetchedOffset(message);
  }

  get timestamp(): number {
    return fetchedTimestamp(this.message);
  }

  locate(into: ChangelogEntry, header: Buffer, mark: Buffer): boolean {
    return locateFetched(this.message, into, header, mark);
  }
}
