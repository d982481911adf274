import type { GroupLookup, GroupSource, StoreSize } from './group-port.js';
import { addCounts } from './latency-tally.js';
import type { GroupStatus, ProcessorGroup } from './processor-group.js';

/**
 * The processor groups of this process, wherever they run: this thread's and those of
 * processor threads ({@link GroupSource}s). Read-only: health, metrics and the monitor know the
 * groups through it alone.
 */
export class GroupDirectory {
  private readonly sources: GroupSource[];

  constructor(readonly local: GroupSource) {
    this.sources = [local];
  }

  /** Adds the groups of another thread. */
  add(source: GroupSource): void {
    this.sources.push(source);
  }

  /**
   * Every group's status. A group that runs on several threads (each owning some partitions)
   * shows as one, running when every thread's instance runs.
   */
  statuses(): GroupStatus[] {
    const merged = new Map<string, GroupStatus>();
    for (const status of this.sources.flatMap((source) => source.statuses())) {
      const seen = merged.get(status.group);
      merged.set(
        status.group,
        seen
          ? {
              group: status.group,
              running: seen.running && status.running,
              partitions: [...seen.partitions, ...status.partitions].sort((a, b) => a.partition - b.partition),
              processed: seen.processed + status.processed,
              recordsPerSecond: seen.recordsPerSecond + status.recordsPerSecond,
              transactions: seen.transactions + status.transactions,
              retrying: seen.retrying + status.retrying,
              commitFailures: Math.max(seen.commitFailures, status.commitFailures),
              commitLatency: addCounts(seen.commitLatency, status.commitLatency),
            }
          : status,
      );
    }
    return [...merged.values()];
  }

  /** Names of the tables and stores the groups keep. */
  tables(): string[] {
    return this.sources.flatMap((source) => source.tables());
  }

  /** A key's value from the local store of whichever group here owns its partition. */
  async lookup(table: string, key: string): Promise<GroupLookup | undefined> {
    for (const source of this.sources) {
      const found = await source.lookup(table, key);
      if (found) return found;
    }
    return undefined;
  }

  /** Local store sizes in bytes, by group and partition. */
  async storeSizes(): Promise<StoreSize[]> {
    return (await Promise.all(this.sources.map((source) => source.storeSizes()))).flat();
  }
}

/** The processor groups of this thread, as a {@link GroupSource}. */
export class LocalGroups implements GroupSource {
  constructor(private readonly groups: readonly ProcessorGroup[]) {}

  statuses(): GroupStatus[] {
    return this.groups.map((group) => group.status());
  }

  tables(): string[] {
    return this.groups.flatMap((group) => [group.definition.table, ...(group.definition.stores ?? [])].map((table) => table.name));
  }

  async lookup(table: string, key: string) {
    for (const group of this.groups) {
      const found = await group.lookup(table, key);
      if (found) return { group: group.definition.name, ...found };
    }
    return undefined;
  }

  async storeSizes(): Promise<StoreSize[]> {
    const sizes: StoreSize[] = [];
    for (const group of this.groups) {
      for (const [partition, bytes] of await group.storeSizes()) sizes.push({ group: group.definition.name, partition, bytes });
    }
    return sizes;
  }
}
