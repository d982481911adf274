import { randomUUID } from 'node:crypto';
import type { Consumer, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { type KafkaConnection, fixedAssigner, physicalName } from './kafka-client.js';

/** A record read from a changelog (physical topic name). */
export interface ChangelogRecord {
  readonly offset: number;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: IHeaders;
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

/**
 * Reads chosen partitions of changelog topics from chosen offsets, batch by batch: up to an
 * end (restoration) or for as long as it runs (views).
 *
 * kafkajs has no `assign()`, so the reader is a consumer alone in a throwaway group whose
 * assigner hands it exactly the partitions asked for, and which seeks them to the asked
 * offsets on every join. It commits nothing: positions live in the caller's local store.
 */
export class ChangelogReader {
  private consumer?: Consumer;
  private stopped = false;
  private readonly positions = new Map<string, number>();

  constructor(
    private readonly kafka: Kafka,
    private readonly connection: KafkaConnection,
    private readonly purpose: string,
  ) {}

  /**
   * Reads every range to its end, then stops. Resolves when all are read; rejects when
   * `onBatch` fails or `signal` aborts.
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
        fail,
        reached,
      );
      await done;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await this.stop();
    }
  }

  /**
   * Follows the partitions from their offsets until {@link stop}. Should the consumer die for
   * good (kafkajs gives up after its retries), a new one takes over from where it was.
   */
  async follow(
    from: Array<{ topic: string; partition: number; from: number }>,
    onBatch: ChangelogBatchHandler,
    onCrash: (error: unknown) => void,
    onSkip?: ChangelogSkipHandler,
  ): Promise<void> {
    const restart = (error: unknown) => {
      onCrash(error);
      setTimeout(() => {
        if (this.stopped) return;
        const current = from.map(({ topic, partition }) => ({ topic, partition, from: this.positions.get(key(topic, partition)) ?? 0 }));
        void this.consumer?.disconnect().catch(() => undefined);
        this.start(current, onBatch, restart, onSkip).catch(restart);
      }, 2000).unref();
    };
    await this.start(from, onBatch, restart, onSkip);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.disconnect().catch(() => undefined);
  }

  private async start(
    from: Array<{ topic: string; partition: number; from: number }>,
    onBatch: ChangelogBatchHandler,
    onCrash: (error: unknown) => void,
    onSkip?: ChangelogSkipHandler,
  ): Promise<void> {
    this.stopped = false;
    const partitions: Record<string, number[]> = {};
    for (const { topic, partition, from: offset } of from) {
      (partitions[topic] ??= []).push(partition);
      this.positions.set(key(topic, partition), offset);
    }
    const consumer = this.kafka.consumer({
      groupId: physicalName(this.connection, `${this.connection.clientId}-${this.purpose}-${randomUUID()}`),
      partitionAssigners: [fixedAssigner(partitions)],
      sessionTimeout: this.connection.sessionTimeoutMs,
      heartbeatInterval: Math.min(3000, Math.floor(this.connection.sessionTimeoutMs / 3)),
      // A fetch is held in memory twice (the response and its decoded records), for every view
      // and restoring partition at once: 64 MiB fetches took the processes past 600 MB.
      maxBytesPerPartition: 2 * 1024 * 1024,
      maxBytes: 8 * 1024 * 1024,
      maxWaitTimeInMs: 250,
      retry: { retries: 8 },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      for (const [topic, assigned] of Object.entries(payload.memberAssignment)) {
        for (const partition of assigned) {
          consumer.seek({ topic, partition, offset: String(this.positions.get(key(topic, partition)) ?? 0) });
        }
      }
    });
    // kafkajs hands eachBatch no batch that filtering emptied (transaction markers, aborted
    // records), but reports where it ended: positions move past it all the same.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.batchSize > 0) return;
      const next = Number(payload.lastOffset) + 1;
      if (next > (this.positions.get(key(payload.topic, payload.partition)) ?? 0)) {
        this.positions.set(key(payload.topic, payload.partition), next);
        onSkip?.(payload.topic, payload.partition, next);
      }
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) onCrash(payload.error);
    });
    await consumer.connect();
    for (const topic of Object.keys(partitions)) await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (batch.messages.length === 0) return;
        const records = batch.messages.map((message) => new FetchedChangelogRecord(message));
        const next = Number(batch.lastOffset()) + 1;
        await onBatch(batch.topic, batch.partition, records, next, Number(batch.highWatermark));
        this.positions.set(key(batch.topic, batch.partition), next);
      },
    });
  }
}

/**
 * A changelog record over the fetched message, its key, value and headers read when asked: a
 * batch being applied holds no copies of them (see `recordDecoder` in kafkajs-patches.ts).
 */
class FetchedChangelogRecord implements ChangelogRecord {
  readonly offset: number;

  constructor(private readonly message: KafkaMessage) {
    this.offset = Number(message.offset);
  }

  get key(): string | null {
    const key = this.message.key;
    return key ? key.toString() : null;
  }

  get value(): Buffer | null {
    return this.message.value;
  }

  get headers(): IHeaders {
    return this.message.headers ?? {};
  }
}
