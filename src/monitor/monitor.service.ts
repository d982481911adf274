import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { topics } from '../contracts/topic-map.js';
import { FlagSource, type FlagValue } from '../gen/depositaja/v1/flag_pb.js';
import { type GroupStatus, type PartitionStatus, StreamsRuntime, type ViewStatus } from '../streams/index.js';

/** What anyone may see: states, counts, offsets and lag; never a key or a value. */
export interface MonitorSummary {
  generated_at: string;
  uptime_seconds: number;
  kafka_reachable: boolean;
  /** Whether the table browser and flag events can be unlocked here (ADMIN_TOKEN set). */
  admin: 'enabled' | 'disabled';
  groups: GroupSummary[];
  views: ViewSummary[];
}

export interface GroupSummary {
  group: string;
  running: boolean;
  records_per_second: number;
  processed: number;
  /** Sum over the owned partitions (since this instance took each). */
  dead_letters: number;
  retrying: number;
  /** Offset commits failed since the last that went through: while above 0, lag counts from that one. */
  commit_failures: number;
  /** Sum of the known partition lags; null until a batch reported one. */
  lag: number | null;
  partitions: PartitionSummary[];
}

export interface PartitionSummary {
  partition: number;
  state: 'restoring' | 'running';
  restore: { kind: 'warm' | 'cold'; done: number; total: number; started_at: string; finished_at: string | null } | null;
  /** Records behind the end of each input topic, as of the partition's last batch; null before one. */
  lag: number | null;
  lag_by_topic: Record<string, number>;
  processed: number;
  skipped: number;
  dead_letters: number;
}

export interface ViewSummary {
  table: string;
  state: 'ready' | 'recovering';
  lag: number;
  partitions: Array<{ partition: number; position: number; end: number; lag: number }>;
}

export interface LookupResult {
  table: string;
  key: string;
  /** "view", or the group and partition whose local store answered. */
  source: string;
  value: unknown;
  applied: Record<string, number> | null;
}

export interface FlagEvent {
  wallet_id: string;
  partition: number;
  offset: number;
  read_at: string;
  flagged: boolean;
  source: 'auto' | 'manual' | 'unspecified';
  flagged_at: string | null;
  reason: string;
  value: unknown;
}

/** The monitor page's data, from the streams core of this process. */
@Injectable()
export class MonitorService {
  private readonly startedAt = Date.now();

  constructor(
    private readonly streams: StreamsRuntime,
    private readonly config: AppConfig,
  ) {}

  summary(): MonitorSummary {
    return {
      generated_at: new Date().toISOString(),
      uptime_seconds: Math.round((Date.now() - this.startedAt) / 1000),
      kafka_reachable: this.streams.health().kafka,
      admin: this.config.admin.token ? 'enabled' : 'disabled',
      groups: this.streams.groupStatuses().map(summarizeGroup),
      views: this.streams.viewStatuses().map(summarizeView),
    };
  }

  tables(): string[] {
    return this.streams.tables();
  }

  /** The decoded value under `key`; undefined when this process has none. */
  async lookup(table: string, key: string): Promise<LookupResult | undefined> {
    const found = await this.streams.lookup(table, key);
    return found && { table, key, source: found.source, value: displayable(found.value), applied: found.applied ?? null };
  }

  /** The latest flag change of each recently changed wallet, newest first; undefined without a flag view here. */
  async flagEvents(limit: number): Promise<FlagEvent[] | undefined> {
    const changes = this.streams.recentViewChanges()[topics.flaggerTable.name];
    if (!changes) return undefined;
    const newest = new Map<string, (typeof changes)[number]>();
    for (const change of [...changes].reverse()) if (!newest.has(change.key)) newest.set(change.key, change);
    const events: FlagEvent[] = [];
    for (const change of [...newest.values()].slice(0, limit)) {
      const found = await this.streams.lookup(topics.flaggerTable.name, change.key);
      const flag = found?.value as FlagValue | undefined;
      if (!flag) continue;
      events.push({
        wallet_id: change.key,
        partition: change.partition,
        offset: change.offset,
        read_at: new Date(change.readAt).toISOString(),
        flagged: flag.flagged,
        source: flag.source === FlagSource.AUTO ? 'auto' : flag.source === FlagSource.MANUAL ? 'manual' : 'unspecified',
        flagged_at: flag.flaggedAtMs > 0n ? new Date(Number(flag.flaggedAtMs)).toISOString() : null,
        reason: flag.reason,
        value: displayable(flag),
      });
    }
    return events;
  }
}

function summarizeGroup(group: GroupStatus): GroupSummary {
  const partitions = group.partitions.map(summarizePartition);
  const known = partitions.filter((partition) => partition.lag !== null);
  return {
    group: group.group,
    running: group.running,
    records_per_second: group.recordsPerSecond,
    processed: group.processed,
    dead_letters: partitions.reduce((sum, partition) => sum + partition.dead_letters, 0),
    retrying: group.retrying,
    commit_failures: group.commitFailures,
    lag: known.length === 0 ? null : known.reduce((sum, partition) => sum + partition.lag!, 0),
    partitions,
  };
}

function summarizePartition(partition: PartitionStatus): PartitionSummary {
  const lags = Object.values(partition.lag);
  const restore = partition.restore;
  return {
    partition: partition.partition,
    state: partition.state,
    restore: restore
      ? {
          kind: restore.kind,
          done: restore.done,
          total: restore.total,
          started_at: new Date(restore.startedAt).toISOString(),
          finished_at: restore.finishedAt === undefined ? null : new Date(restore.finishedAt).toISOString(),
        }
      : null,
    lag: lags.length === 0 ? null : lags.reduce((sum, lag) => sum + lag, 0),
    lag_by_topic: { ...partition.lag },
    processed: partition.processed,
    skipped: partition.skipped,
    dead_letters: partition.deadLettered,
  };
}

function summarizeView(view: ViewStatus): ViewSummary {
  return {
    table: view.table,
    state: view.ready ? 'ready' : 'recovering',
    lag: view.partitions.reduce((sum, partition) => sum + partition.lag, 0),
    partitions: view.partitions.map((partition) => ({ ...partition })),
  };
}

/**
 * A decoded protobuf message as the page shows it: bytes fields as hex strings (JSON has no
 * bytes); bigints stay bigints, for the reply serializer (toExactJson) to write exactly.
 */
export function displayable(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (Array.isArray(value)) return value.map(displayable);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, displayable(inner)]));
  }
  return value;
}
