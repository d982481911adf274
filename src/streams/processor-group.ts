import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import { BatchTurns } from './batch-turns.js';
import { BatchProcessor, type RecordHandler, type RetryPolicy } from './batch.js';
import { errorMessage } from './context.js';
import type { GroupDefinition } from './group.js';
import { DEFAULT_BATCH_BYTES, coPartitionedAssigner, physicalName } from './kafka-client.js';
import { FetchedRecords } from './fetched-records.js';
import { fetchedTimestamp } from './kafkajs-records.js';
import { startNextConsumer } from './kafkajs-consumer-group.js';
import { type LatencyCounts, LatencyTally, RECORD_LATENCY_BOUNDS, secondsSince } from './latency-tally.js';
import type { PartitionStateDeps } from './partition-state.js';
import { partitionFor } from './murmur2.js';
import { type PartitionStatus, TaskManager } from './task-manager.js';

export interface GroupStatus {
  group: string;
  /** True once the group consumer has joined and is consuming. */
  running: boolean;
  partitions: PartitionStatus[];
  /** Handled records in total, and per second over the last minute. */
  processed: number;
  recordsPerSecond: number;
  /** Kafka transactions committed (one per task and fetch that wrote anything). */
  transactions: number;
  /** Batches whose handler failed with a transient error and are being retried. */
  retrying: number;
  /** Offset commits that failed since the last that went through: while above 0, lag counts from that one. */
  commitFailures: number;
  /**
   * For each record handled, how long after its timestamp (when its producer wrote it: for a
   * deposit, when the API accepted it) what it changed was committed and written locally.
   */
  commitLatency: LatencyCounts;
}

/** How often a group commits its consumer offsets by default (see `ProcessorGroup.commitOffsets`). */
const COMMIT_OFFSETS_MS = 200;
/** Failed commits in a row said at warn (every this many); a commit pending this long is said to be stuck. */
const COMMIT_FAILURES_TO_WARN = 25;
const COMMIT_STUCK_MS = 30_000;
const DEFAULT_COMMIT_INTERVAL_MS = 100;
/** Batches of one group processed at once, at most (each of another partition). */
const PARTITIONS_AT_ONCE = 64;
/** Records of the batches processed at once, past which a batch waits for those before it. */
const RECORDS_AT_ONCE = 5_000;
const RESTART_DELAY_MS = 2000;

/**
 * One processor group in this process (Kafka Streams' StreamThread): a kafkajs consumer over the
 * group's inputs and the batch loop; the partitions it owns are its {@link TaskManager}'s.
 *
 * kafkajs has no rebalance callbacks; it finishes the batches in flight before it rejoins,
 * then reports the new assignment with GROUP_JOIN, which goes to the task manager.
 */
export class ProcessorGroup {
  private readonly logger: Logger;
  private readonly processor: BatchProcessor;
  private readonly tasks: TaskManager;
  /** Offsets past input records that filtering emptied (transaction markers), to commit. */
  private readonly skipped = new Map<string, { topic: string; partition: number; next: number }>();
  /** Offsets past batches processed and committed, not yet committed to the group. */
  private readonly processed = new Map<string, { topic: string; partition: number; next: number }>();
  /** The batches being processed. */
  private readonly turns = new BatchTurns(RECORDS_AT_ONCE);
  private stopping = false;
  private restarting = false;
  private commitTimer?: NodeJS.Timeout;
  private consumer?: Consumer;
  private running = false;
  private retrying = 0;
  private processedTotal = 0;
  /** The offset commit under way; offset commits kafkajs made; consecutive failed attempts. */
  private committing?: Promise<void>;
  private commits = 0;
  private commitFailures = 0;
  /** Input partitions (`topic/partition`) whose last batch reached the end its fetch saw, since the group joined. */
  private readonly atEnd = new Set<string>();
  /** How long records took from their timestamp to being committed (see GroupStatus.commitLatency). */
  private readonly commitLatency = new LatencyTally(RECORD_LATENCY_BOUNDS);
  private readonly rate: Array<{ at: number; count: number }> = [];

  constructor(
    readonly definition: GroupDefinition,
    handlers: ReadonlyMap<string, RecordHandler>,
    private readonly deps: PartitionStateDeps,
  ) {
    this.logger = new Logger(`Group:${definition.name}`);
    this.processor = new BatchProcessor(definition, handlers);
    this.tasks = new TaskManager(definition, deps);
  }

  private physical(name: string): string {
    return physicalName(this.deps.connection, name);
  }

  async start(): Promise<void> {
    await this.tasks.open();
    // Joining as the member this instance was spares a restart after a crash the wait for the
    // dead member's session to expire: it has nobody to wait for.
    let previousMember = await this.tasks.previousMember();
    let memberId: string | undefined;
    const sessionTimeout = this.deps.connection.sessionTimeoutMs;
    const batchBytes = this.deps.connection.batchBytes ?? DEFAULT_BATCH_BYTES;
    const consumer = this.deps.kafka.consumer({
      groupId: this.physical(this.definition.name),
      partitionAssigners: [coPartitionedAssigner],
      sessionTimeout,
      heartbeatInterval: Math.min(3000, Math.floor(sessionTimeout / 3)),
      // The broker answers a fetch once it has 512 KiB or the commit interval has passed: under
      // live load a batch and its transaction carry that much time's deposits, not the few that
      // arrived since the last fetch. Waiting 50 ms instead of not at all took 25-30 % less CPU
      // per deposit under 100 and 1,000 clients; 100 ms (Kafka Streams' commit interval under
      // exactly-once) another ~10 % of the machine's CPU per deposit, half the broker's, against
      // 50 ms (docs/streams.md). A backlog is fetched at once. Below capacity the wait shrinks
      // with the records a fetch brings, down to commitIntervalMinMs (kafkajs-consumer-group.ts).
      minBytes: 512 * 1024,
      maxWaitTimeInMs: this.deps.connection.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS,
      // One partition's batch per fetch (see KafkaConnection.batchBytes): kafkajs decodes a
      // whole fetch before the first batch of it runs, and every record of it lives until its
      // batch commits, so a fetch of several partitions' batches only holds more records alive
      // (measured with 2 MiB batches: fetches of 8 MiB, four partitions' batches each, took B2 to
      // 63 µs per deposit and 780 MB, against 57 µs and 700 MB with fetches of one batch).
      maxBytesPerPartition: batchBytes,
      maxBytes: batchBytes,
    });
    this.consumer = consumer;
    const logicalOf = new Map(this.definition.inputs.map((input) => [this.physical(input.name), input.name]));
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = new Set(Object.values(payload.memberAssignment).flat());
      const again = payload.memberId === previousMember ? ' (as the member it was before)' : '';
      previousMember = undefined;
      this.logger.log(`joined; owns partitions [${[...assigned].sort((a, b) => a - b).join(', ')}]${again}`);
      if (payload.memberId !== memberId) {
        memberId = payload.memberId;
        this.tasks.rememberMember(memberId).catch((error: unknown) => this.logger.warn(`remembering the member id: ${errorMessage(error)}`));
      }
      this.atEnd.clear();
      this.tasks.assign(assigned);
      this.running = true;
    });
    // A batch that filtering emptied (transaction markers of another group's outputs) never
    // reaches eachBatch: its offsets are committed here, so that lag reaches zero.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.batchSize > 0) return;
      this.skipped.set(`${payload.topic}/${payload.partition}`, { topic: payload.topic, partition: payload.partition, next: Number(payload.lastOffset) + 1 });
    });
    consumer.on(consumer.events.COMMIT_OFFSETS, () => {
      this.commits++;
    });
    this.stopping = false;
    clearInterval(this.commitTimer);
    // A tick while a commit is under way leaves its offsets to the next tick.
    this.commitTimer = setInterval(() => {
      if (!this.committing) void this.commitOffsets();
    }, this.deps.connection.offsetCommitIntervalMs ?? COMMIT_OFFSETS_MS);
    this.commitTimer.unref();
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.running = false;
      this.logger.error(`consumer crashed: ${payload.error.message}${payload.restart ? '; kafkajs restarts it' : ''}`);
      if (!payload.restart) void this.restart();
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...logicalOf.keys()], fromBeginning: true });
    startNextConsumer(this.physical(this.definition.name), { memberId: previousMember, shortestWaitMs: this.deps.connection.commitIntervalMinMs });
    await consumer.run({
      autoCommit: false,
      // The batches of one fetch run at once, each partition's on its own state, and those of a
      // task commit together (Task.run): one transaction per fetch, not one per partition.
      partitionsConsumedConcurrently: PARTITIONS_AT_ONCE,
      eachBatch: (payload) => this.handleBatch(payload, logicalOf.get(payload.batch.topic)!),
    });
  }

  /**
   * Commits the group's offsets past what was processed (and past batches that filtering
   * emptied), on a tick (COMMIT_OFFSETS_MS) and when a partition has worked off its backlog,
   * rather than per batch: they only say where a new owner starts reading, and a record read
   * again is skipped by the offsets applied with its key's value (see PartitionState). One
   * request for every partition, instead of one per batch, and one at a time: kafkajs retries a
   * failing commit for up to ~10 s, and a tick every 200 ms must not pile more of them onto a
   * coordinator that is moving.
   */
  private async commitOffsets(): Promise<void> {
    while (this.committing) await this.committing;
    this.committing = this.commitDue();
    try {
      await this.committing;
    } finally {
      this.committing = undefined;
    }
  }

  private async commitDue(): Promise<void> {
    if (!this.consumer || (this.processed.size === 0 && this.skipped.size === 0)) return;
    const due = new Map(this.processed);
    this.processed.clear();
    // A batch in flight may be behind a skipped offset of its partition: those wait for it.
    if (this.turns.active === 0) {
      for (const [key, skip] of this.skipped) if ((due.get(key)?.next ?? -1) < skip.next) due.set(key, skip);
      this.skipped.clear();
    }
    const offsets = [...due.values()].filter(({ partition }) => this.tasks.get(partition));
    if (offsets.length === 0) return;
    // kafkajs retries a failed commit for up to ~10 s: a commit pending far longer is stuck.
    const stuck = setTimeout(() => this.logger.warn(`committing offsets has been pending for ${COMMIT_STUCK_MS / 1000} s`), COMMIT_STUCK_MS).unref();
    const committedBefore = this.commits;
    try {
      await this.consumer.commitOffsets(offsets.map(({ topic, partition, next }) => ({ topic, partition, offset: String(next) })));
      // kafkajs resolves without committing when its consumer is not running (it is stopping).
      if (this.commits === committedBefore) throw new Error('the consumer is not running');
      if (this.commitFailures >= COMMIT_FAILURES_TO_WARN) this.logger.log(`committing offsets again, after ${this.commitFailures} failures`);
      this.commitFailures = 0;
      this.deps.afterCommitStep?.('offsets-committed');
    } catch (error) {
      // A rebalance, say: whatever a later batch has not superseded is tried again.
      for (const [key, offset] of due) if (!this.processed.has(key)) this.processed.set(key, offset);
      // One or two fail quietly while a coordinator moves; more say so, and what the lag means.
      const message = `committing offsets failed ${++this.commitFailures} times in a row (the group's lag counts from the last commit): ${errorMessage(error)}`;
      if (this.commitFailures % COMMIT_FAILURES_TO_WARN === 0) this.logger.warn(message);
      else this.logger.debug(message);
    } finally {
      clearTimeout(stuck);
    }
  }

  /**
   * Starts the group again after kafkajs gave up on its consumer, and keeps trying until it runs
   * or the group is stopped: a broker away for longer than one start's own retries must not
   * leave this group down for good while the rest of the service recovers.
   */
  private async restart(): Promise<void> {
    if (this.restarting) return;
    this.restarting = true;
    try {
      for (;;) {
        await sleep(this.deps.restartDelayMs ?? RESTART_DELAY_MS);
        if (this.stopping) return;
        await this.leave();
        if (this.stopping) return;
        try {
          await this.start();
          return;
        } catch (error) {
          this.logger.warn(`restart failed, trying again: ${errorMessage(error)}`);
        }
      }
    } finally {
      this.restarting = false;
    }
  }

  /** kafkajs hands over the batches of one fetch at once (see BatchTurns). */
  private handleBatch(payload: EachBatchPayload, topic: string): Promise<void> {
    return this.turns.run(payload.batch.partition, payload.batch.messages.length, () => this.processBatch(payload, topic));
  }

  private async processBatch(payload: EachBatchPayload, topic: string): Promise<void> {
    const { batch, heartbeat, isRunning, isStale } = payload;
    const owned = this.tasks.get(batch.partition);
    if (!owned) throw new Error(`batch for partition ${batch.partition}, which this instance does not own (yet)`);
    try {
      await this.whileHeartbeating(owned.ready, heartbeat);
    } catch (error) {
      // Restoration failed (the broker went away, say): try again before the next batch.
      if (this.tasks.get(batch.partition) === owned && !owned.abort.signal.aborted) this.tasks.catchUp(owned);
      throw error;
    }
    if (!isRunning() || isStale() || batch.messages.length === 0) return;

    const records = new FetchedRecords(topic, batch.partition, batch.messages);
    const result = await owned.task.run(owned.state, batch.topic, () => this.processor.process(records, owned.state, this.retryPolicy(heartbeat, isRunning), heartbeat));
    const committedAt = Date.now();
    this.commitLatency.observeSpread(batch.messages.length, (index) => secondsSince(fetchedTimestamp(batch.messages[index]), committedAt));
    const next = Number(batch.lastOffset()) + 1;
    const key = `${batch.topic}/${batch.partition}`;
    this.processed.set(key, { topic: batch.topic, partition: batch.partition, next });
    const skip = this.skipped.get(key);
    if (skip && skip.next <= next) this.skipped.delete(key);
    // The last batch before leaving: the next owner starts right after it.
    if (this.stopping) await this.commitOffsets();

    owned.status.processed += result.handled;
    owned.status.skipped += result.skipped;
    owned.status.deadLettered += result.deadLetters.length;
    const lag = Math.max(0, Number(batch.highWatermark) - next);
    owned.status.lag[topic] = lag;
    this.count(result.handled);
    // A partition that has just worked off its backlog (or brought its first batch since the
    // join) has the group's offsets committed now, not at the next tick: the lag operators watch
    // reads 0 as soon as the work is done. Under steady live load a partition stays at its end,
    // and the tick alone commits.
    if (lag > 0) this.atEnd.delete(key);
    else if (!this.atEnd.has(key)) {
      this.atEnd.add(key);
      void this.commitOffsets();
    }
  }

  /** Waits for `promise`, heartbeating so that a long restoration does not cost the membership. */
  private async whileHeartbeating(promise: Promise<void>, heartbeat: () => Promise<void>): Promise<void> {
    let settled = false;
    const done = promise.finally(() => {
      settled = true;
    });
    while (!settled) {
      await Promise.race([done, sleep(1000)]);
      if (!settled) await heartbeat();
    }
    await done;
  }

  private retryPolicy(heartbeat: () => Promise<void>, isRunning: () => boolean): RetryPolicy {
    return async (error, record, attempt) => {
      const where = `${record.topic}/${record.partition}@${record.offset} key=${record.key ?? '(none)'}`;
      if (attempt === 1 || attempt % 10 === 0) {
        this.logger.error(`handler failed on ${where} (attempt ${attempt}); retrying: ${errorMessage(error)}`);
      }
      this.retrying++;
      try {
        const deadline = Date.now() + Math.min(100 * 2 ** Math.min(attempt, 9), 30_000);
        while (Date.now() < deadline) {
          if (!isRunning()) throw new Error(`stopping while retrying ${where}`);
          await sleep(Math.min(1000, deadline - Date.now()));
          await heartbeat();
        }
      } finally {
        this.retrying--;
      }
    };
  }

  private count(handled: number): void {
    const now = Date.now();
    this.processedTotal += handled;
    this.rate.push({ at: now, count: handled });
    while (this.rate.length > 0 && this.rate[0].at < now - 60_000) this.rate.shift();
  }

  status(): GroupStatus {
    const now = Date.now();
    // A loop, not closures made per call (the status is read every 50 ms): V8 optimizes such a
    // closure anew after every full collection.
    let recent = 0;
    for (const entry of this.rate) if (entry.at >= now - 10_000) recent += entry.count;
    return {
      group: this.definition.name,
      running: this.running,
      partitions: this.tasks.statuses(),
      processed: this.processedTotal,
      transactions: this.tasks.transactions,
      recordsPerSecond: Math.round(recent / 10),
      retrying: this.retrying,
      commitFailures: this.commitFailures,
      commitLatency: this.commitLatency.snapshot(),
    };
  }

  /**
   * The value under `key` in the group's table or one of its stores (by topic name), when this
   * instance owns the partition: decoded, with applied offsets for table values.
   */
  async lookup(table: string, key: string): Promise<{ value: unknown; applied?: Record<string, number>; partition: number } | undefined> {
    const partition = partitionFor(key, this.deps.partitions(this.physical(this.definition.table.name)));
    const owned = this.tasks.get(partition);
    if (!owned || !owned.state.isOpen) return undefined;
    if (table === this.definition.table.name) {
      const stored = (await owned.state.loadTable([key])).get(key);
      return stored && { value: this.definition.table.codec.decode(stored.bytes), applied: stored.applied, partition };
    }
    const store = (this.definition.stores ?? []).find((candidate) => candidate.name === table);
    if (!store) return undefined;
    const bytes = owned.state.getStore(table, key);
    return bytes && { value: store.codec.decode(bytes), partition };
  }

  /** Store sizes per owned partition, in bytes. */
  storeSizes(): Promise<Map<number, number>> {
    return this.tasks.storeSizes();
  }

  /** Finishes the batches in flight, commits, leaves the group and closes every store. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopping = true;
    clearInterval(this.commitTimer);
    // Between batches: commit now. During one: the batch commits them when it is done.
    if (this.turns.active === 0) await this.commitOffsets();
    await this.leave();
    await this.tasks.close();
  }

  /** Leaves the group (after the batches in flight) and forgets the member this instance was. */
  private async leave(): Promise<void> {
    if (!this.consumer) return;
    await this.consumer.disconnect().catch((error: unknown) => this.logger.warn(`disconnect: ${errorMessage(error)}`));
    this.consumer = undefined;
    await this.tasks.rememberMember(undefined).catch(() => undefined);
  }
}
