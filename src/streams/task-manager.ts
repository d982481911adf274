import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { errorMessage } from './context.js';
import type { GroupDefinition } from './group.js';
import { PartitionState, type PartitionStateDeps, type RestoreProgress } from './partition-state.js';
import { LocalStore } from './state-store.js';

const MEMBER_ID = 'member-id';

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

/** A partition this instance owns: its task (restoration and commits) and what it has done. */
export interface OwnedPartition {
  readonly state: PartitionState;
  /** Settles when the partition's store is caught up with its changelogs. */
  ready: Promise<void>;
  abort: AbortController;
  readonly status: PartitionStatus;
}

/**
 * The partitions one instance of a group owns (Kafka Streams' TaskManager): the group's local
 * store, one {@link PartitionState} per owned partition, and their moves. On every assignment,
 * partitions no longer owned are closed, and every owned one is caught up with its changelogs
 * before its next batch: between two assignments another instance may have owned it.
 */
export class TaskManager {
  private readonly logger: Logger;
  private readonly owned = new Map<number, OwnedPartition>();
  private readonly closing = new Map<number, Promise<void>>();
  /** One local store for every partition this instance owns, however many. */
  private store?: LocalStore;

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

  /** Takes the new assignment: closes what is gone, catches up everything owned. */
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
    for (const partition of assigned) {
      const previous = this.owned.get(partition);
      previous?.abort.abort(new Error('rejoined'));
      const owned: OwnedPartition = {
        state: previous?.state ?? new PartitionState(this.definition, partition, this.deps, this.openStore()),
        ready: previous?.ready ?? this.closing.get(partition) ?? Promise.resolve(),
        abort: new AbortController(),
        status: previous?.status ?? { partition, state: 'restoring', lag: {}, processed: 0, skipped: 0, deadLettered: 0 },
      };
      this.owned.set(partition, owned);
      this.catchUp(owned);
    }
  }

  /** (Re)starts bringing a partition's store up to its changelogs' ends, after whatever ran before. */
  catchUp(owned: OwnedPartition): void {
    owned.status.state = 'restoring';
    const signal = owned.abort.signal;
    owned.ready = owned.ready
      .catch(() => undefined)
      .then(() => owned.state.catchUp(signal))
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
      .sort((a, b) => a.partition - b.partition);
  }

  /** Store sizes per owned partition, in bytes. */
  async storeSizes(): Promise<Map<number, number>> {
    const sizes = new Map<number, number>();
    for (const [partition, owned] of this.owned) sizes.set(partition, await owned.state.sizeBytes());
    return sizes;
  }

  /** Waits for restorations to stop, closes every partition and the local store. */
  async close(): Promise<void> {
    for (const owned of this.owned.values()) {
      owned.abort.abort(new Error('stopping'));
      await owned.ready.catch(() => undefined);
      await owned.state.close();
    }
    this.owned.clear();
    await Promise.all(this.closing.values());
    await this.store?.close();
    this.store = undefined;
  }

  private openStore(): LocalStore {
    if (!this.store) throw new Error(`group ${this.definition.name}: partitions assigned before its store opened`);
    return this.store;
  }
}
