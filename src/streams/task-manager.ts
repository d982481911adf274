import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { errorMessage } from './context.js';
import type { GroupDefinition } from './group.js';
import { physicalName } from './kafka-client.js';
import { TransactionCoordinators } from './kafkajs-transactions.js';
import { PartitionState, type PartitionStateDeps, type RestoreProgress } from './partition-state.js';
import { LocalStore } from './state-store.js';
import { Task, partitionRuns, taskTransactionalId } from './task.js';

const MEMBER_ID = 'member-id';

// Made once: a comparator made per call (statuses are read every 50 ms) is optimized by V8 anew
// after every full collection.
const byPartition = (a: PartitionStatus, b: PartitionStatus) => a.partition - b.partition;

/** What an operator wants to know about one partition a group instance owns. */
export interface PartitionStatus {
  partition: number;
  state: 'restoring' | 'running';
  restore?: RestoreProgress;
  /** Records behind the end of the input partition, as of the last batch (per input topic). */
  lag: Record<string, number>;
  processed: number;
  skipped: number;
  deadLettered: number;
}

/** A partition this instance owns: its state (restoration), its task (commits) and what it has done. */
export interface OwnedPartition {
  readonly state: PartitionState;
  readonly task: Task;
  /** Settles when the partition's store is caught up with its changelogs. */
  ready: Promise<void>;
  abort: AbortController;
  readonly status: PartitionStatus;
}

/**
 * Claims a partition's task and reads its changelogs meanwhile: a claim waits on the broker (the
 * coordinator fences the earlier holders of the task's ids and writes their markers), a cold
 * restore mostly on the processor's CPU. Reading before the claim is safe: a reader sees committed
 * transactions only, and what an earlier writer commits until it is fenced lies past the ends
 * read, where the catch-up after the claim finds it. Both steps finish (a failed claim must not
 * leave a restoration running beside the next attempt's) before either error counts.
 */
export async function claimAndCatchUp(task: Pick<Task, 'claimed'>, state: Pick<PartitionState, 'catchUp'>, signal: AbortSignal): Promise<void> {
  const [claim, ahead] = await Promise.allSettled([task.claimed(), state.catchUp(signal)]);
  if (claim.status === 'rejected') throw claim.reason;
  if (ahead.status === 'rejected') throw ahead.reason;
  await state.catchUp(signal);
}

/**
 * The partitions one instance of a group owns (Kafka Streams' TaskManager): the group's local
 * store, one {@link PartitionState} per owned partition, one {@link Task} per run of consecutive
 * partitions owned, and their moves. On every assignment, partitions no longer owned are closed,
 * every task claims its partitions, and every owned partition is caught up with its changelogs
 * before its next batch: between two assignments another instance may have owned it.
 */
export class TaskManager {
  private readonly logger: Logger;
  private readonly owned = new Map<number, OwnedPartition>();
  private readonly closing = new Map<number, Promise<void>>();
  /** The tasks of the current assignment, by transactional id. */
  private tasks = new Map<string, Task>();
  /** One local store for every partition this instance owns, however many. */
  private store?: LocalStore;
  private coordinators?: TransactionCoordinators;
  private transactionCount = 0;

  constructor(
    private readonly definition: GroupDefinition,
    private readonly deps: PartitionStateDeps,
  ) {
    this.logger = new Logger(`Group:${definition.name}`);
  }

  /** Where the group's local store lives. */
  get path(): string {
    return join(this.deps.dataDir, 'processors', this.definition.name);
  }

  /** Opens the local store (once). */
  async open(): Promise<void> {
    if (this.store) return;
    this.store = await LocalStore.open(this.path, { onWipe: (reason) => this.logger.warn(`local store unusable (${reason}); restoring from the changelogs`) });
    // Earlier versions kept a store per partition, in numbered folders inside this one.
    for (const entry of await readdir(this.path)) {
      if (/^\d+$/.test(entry)) await rm(join(this.path, entry), { recursive: true, force: true });
    }
  }

  /** The group member this instance was when it last joined, unless it left the group since. */
  previousMember(): Promise<string | undefined> {
    return this.openStore().getMeta(MEMBER_ID);
  }

  /** Remembers the group member this instance is (undefined: none, it left the group). */
  async rememberMember(memberId: string | undefined): Promise<void> {
    await this.store?.setMeta(MEMBER_ID, memberId);
  }

  /** The owned partition, or undefined. */
  get(partition: number): OwnedPartition | undefined {
    return this.owned.get(partition);
  }

  get partitions(): IterableIterator<OwnedPartition> {
    return this.owned.values();
  }

  /** Kafka transactions the group's tasks committed. */
  get transactions(): number {
    return this.transactionCount;
  }

  /**
   * Takes the new assignment: closes what is gone, makes a task of each run of consecutive
   * partitions, catches up everything owned once its task has claimed it. kafkajs calls this
   * between batches: none is being processed or committed.
   */
  assign(assigned: Set<number>): void {
    for (const [partition, owned] of this.owned) {
      if (assigned.has(partition)) continue;
      this.owned.delete(partition);
      owned.abort.abort(new Error('partition revoked'));
      const closed = owned.ready.catch(() => undefined).then(() => owned.state.close());
      this.closing.set(partition, closed);
      void closed.finally(() => this.closing.get(partition) === closed && this.closing.delete(partition));
      this.logger.log(`released partition ${partition}`);
    }
    const group = physicalName(this.deps.connection, this.definition.name);
    const tasks = new Map<string, Task>();
    for (const range of partitionRuns(assigned)) {
      const id = taskTransactionalId(group, range);
      const task = this.tasks.get(id) ?? new Task(group, range, this.deps.kafka, this.taskDeps());
      task.reassigned();
      tasks.set(id, task);
    }
    for (const [id, task] of this.tasks) {
      if (!tasks.has(id)) void task.close();
    }
    this.tasks = tasks;
    const taskOf = (partition: number) => [...tasks.values()].find(({ range }) => range.first <= partition && partition <= range.last)!;
    for (const partition of assigned) {
      const previous = this.owned.get(partition);
      previous?.abort.abort(new Error('rejoined'));
      const owned: OwnedPartition = {
        state: previous?.state ?? new PartitionState(this.definition, partition, this.deps, this.openStore()),
        task: taskOf(partition),
        ready: previous?.ready ?? this.closing.get(partition) ?? Promise.resolve(),
        abort: new AbortController(),
        status: previous?.status ?? { partition, state: 'restoring', lag: {}, processed: 0, skipped: 0, deadLettered: 0 },
      };
      this.owned.set(partition, owned);
      this.catchUp(owned);
    }
  }

  private taskDeps() {
    return {
      coordinators: (this.coordinators ??= new TransactionCoordinators(this.deps.kafka)),
      store: this.openStore(),
      afterCommitStep: this.deps.afterCommitStep,
      onTransaction: () => {
        this.transactionCount++;
      },
    };
  }

  /**
   * (Re)starts bringing a partition's store up to its changelogs' ends, after whatever ran before:
   * while its task claims it, then once more from where that read stopped.
   */
  catchUp(owned: OwnedPartition): void {
    owned.status.state = 'restoring';
    const signal = owned.abort.signal;
    owned.ready = owned.ready
      .catch(() => undefined)
      .then(() => claimAndCatchUp(owned.task, owned.state, signal))
      .then(() => {
        owned.status.state = 'running';
      });
    owned.ready.catch((error: unknown) => {
      if (!signal.aborted) this.logger.warn(`catching up partition ${owned.state.partition} failed: ${errorMessage(error)}`);
    });
  }

  statuses(): PartitionStatus[] {
    return [...this.owned.values()]
      .map((owned) => ({ ...owned.status, lag: { ...owned.status.lag }, restore: owned.state.restore }))
      .sort(byPartition);
  }

  /** Store sizes per owned partition, in bytes. */
  async storeSizes(): Promise<Map<number, number>> {
    const sizes = new Map<number, number>();
    for (const [partition, owned] of this.owned) sizes.set(partition, await owned.state.sizeBytes());
    return sizes;
  }

  /** Waits for restorations to stop, closes every partition and task, and the local store. */
  async close(): Promise<void> {
    for (const owned of this.owned.values()) {
      owned.abort.abort(new Error('stopping'));
      await owned.ready.catch(() => undefined);
      owned.state.close();
    }
    this.owned.clear();
    await Promise.all(this.closing.values());
    await Promise.all([...this.tasks.values()].map((task) => task.close()));
    this.tasks.clear();
    await this.coordinators?.close();
    this.coordinators = undefined;
    await this.store?.close();
    this.store = undefined;
  }

  private openStore(): LocalStore {
    if (!this.store) throw new Error(`group ${this.definition.name}: partitions assigned before its store opened`);
    return this.store;
  }
}
