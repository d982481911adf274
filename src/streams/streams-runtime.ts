import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Admin, Kafka } from 'kafkajs';
import type { RecordHandler } from './batch.js';
import { ChangelogReader } from './changelog-reader.js';
import { errorMessage } from './context.js';
import { Emitter } from './emitter.js';
import type { GroupDefinition } from './group.js';
import type { GroupSource, StoreSize } from './group-port.js';
import { type KafkaConnection, createKafka, physicalName } from './kafka-client.js';
import type { CommitStep } from './partition-state.js';
import { type GroupStatus, ProcessorGroup } from './processor-group.js';
import { ReliableProducer } from './producer.js';
import { retryTransient } from './retry.js';
import { ensureTopics } from './topic-admin.js';
import { type Topic, type TableTopic, deadLetterTopicName } from './topics.js';
import { View, type ViewChange, type ViewStatus } from './view.js';

/** A key's value as `StreamsRuntime.lookup` found it. */
export interface TableLookup {
  table: string;
  key: string;
  /** "view", or the group and partition whose local store answered. */
  source: string;
  value: unknown;
  applied?: Record<string, number>;
}

export interface StreamsOptions {
  connection: KafkaConnection;
  /** Local stores live below this folder. */
  dataDir: string;
  emitter: { lingerMs: number; timeoutMs: number };
  /** The most a group fetches per partition and batch, in bytes (default 2 MiB). */
  maxBatchBytes?: number;
  /** Called after each step of every batch commit; only tests set it (to crash there). */
  afterCommitStep?: (step: CommitStep) => void;
}

export const STREAMS_OPTIONS = Symbol('STREAMS_OPTIONS');

/** Kafka reachable, views caught up, groups consuming: what readiness is made of. */
export interface StreamsHealth {
  kafka: boolean;
  views: Record<string, boolean>;
  groups: Record<string, boolean>;
}

/**
 * Everything of the streams core that one process runs: the Kafka clients, the topics it
 * needs, its views, its emitter and (started by the transport) its processor groups. Domain
 * modules register what they need through `StreamsModule.forGroup / forView / forTopics`.
 *
 * Start: topics are ensured and views start following in `onModuleInit`; groups start when
 * the transport listens. Stop (`onApplicationShutdown`, after the HTTP server has drained):
 * groups finish their batches and commit, then views, producers and stores close.
 */
@Injectable()
export class StreamsRuntime implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Streams');
  readonly kafka: Kafka;
  private readonly probeKafka: Kafka;
  private readonly admin: Admin;
  private readonly probeAdmin: Admin;
  private readonly emitterProducer: ReliableProducer;
  readonly emitter: Emitter;
  private readonly groupDefinitions = new Map<string, GroupDefinition>();
  private readonly topics = new Map<string, Topic>();
  private readonly views = new Map<string, View<unknown>>();
  private readonly groups: ProcessorGroup[] = [];
  /** Where group statuses come from: this thread's groups, and those of processor threads. */
  private readonly groupSources: GroupSource[] = [new LocalGroups(this.groups)];
  private readonly partitionCounts = new Map<string, number>();
  private kafkaReachable = false;
  private probeTimer?: NodeJS.Timeout;

  constructor(@Inject(STREAMS_OPTIONS) readonly options: StreamsOptions) {
    this.kafka = createKafka(options.connection);
    // Probes must fail fast rather than retry: they answer "is Kafka there right now".
    this.probeKafka = createKafka(options.connection, { retry: { retries: 0 }, connectionTimeout: 1000, requestTimeout: 2000 });
    this.admin = this.kafka.admin();
    this.probeAdmin = this.probeKafka.admin();
    this.emitterProducer = new ReliableProducer(this.kafka, 'emitter', { requestTimeoutMs: 2000, retries: 2 });
    this.emitter = new Emitter(this.emitterProducer, {
      lingerMs: options.emitter.lingerMs,
      timeoutMs: options.emitter.timeoutMs,
      physical: (name) => this.physical(name),
      partitions: (topic) => this.partitionCount(topic),
    });
  }

  physical(name: string): string {
    return physicalName(this.options.connection, name);
  }

  /** Partition count of a physical topic this process uses. */
  partitionCount(physicalTopic: string): number {
    const count = this.partitionCounts.get(physicalTopic);
    if (count === undefined) throw new Error(`topic ${physicalTopic} is not one this process declared`);
    return count;
  }

  registerGroup(definition: GroupDefinition): void {
    this.groupDefinitions.set(definition.name, definition);
  }

  registerTopics(...topics: Topic[]): void {
    for (const topic of topics) this.topics.set(topic.name, topic);
  }

  /** The view of `table` in this process (one per table, shared). */
  view<T>(table: TableTopic<T>): View<T> {
    let view = this.views.get(table.name);
    if (!view) {
      this.registerTopics(table);
      view = new View(table as TableTopic<unknown>, {
        admin: this.admin,
        connection: this.options.connection,
        dataDir: this.options.dataDir,
        openReader: (purpose) => new ChangelogReader(this.kafka, this.options.connection, purpose),
      });
      this.views.set(table.name, view);
    }
    return view as View<T>;
  }

  async onModuleInit(): Promise<void> {
    const brokers = this.options.connection.brokers.join(',');
    try {
      await this.admin.connect();
      await ensureTopics(this.admin, this.options.connection, {
        groups: [...this.groupDefinitions.values()],
        topics: [...this.topics.values()],
      });
    } catch (error) {
      if (error instanceof Error && error.name.startsWith('KafkaJS')) {
        throw new Error(`cannot reach Kafka at ${brokers}: ${error.message}`);
      }
      throw error;
    }
    const names = new Set<string>([...this.topics.values()].map((topic) => this.physical(topic.name)));
    for (const group of this.groupDefinitions.values()) {
      for (const topic of [...group.inputs, group.table, ...(group.stores ?? []), ...(group.outputs ?? [])]) names.add(this.physical(topic.name));
      for (const input of group.inputs) names.add(deadLetterTopicName(this.physical(input.name)));
    }
    // Topics just created have no leader for a moment: wait for every partition's, so that a
    // process that says it is ready takes its first deposit rather than refusing it.
    const { topics } = await retryTransient(async () => {
      const metadata = await this.admin.fetchTopicMetadata({ topics: [...names] });
      const leaderless = metadata.topics.filter((topic) => topic.partitions.some((partition) => partition.leader < 0));
      if (leaderless.length > 0) throw Object.assign(new Error(`no leader yet for ${leaderless.map((topic) => topic.name).join(', ')}`), { retriable: true });
      return metadata;
    }, 40);
    for (const topic of topics) this.partitionCounts.set(topic.name, topic.partitions.length);
    this.kafkaReachable = true;

    this.probeTimer = setInterval(() => void this.probe(), 2000);
    this.probeTimer.unref();
    await Promise.all([...this.views.values()].map((view) => view.start()));
  }

  private async probe(): Promise<void> {
    try {
      await this.probeAdmin.connect();
      await this.probeAdmin.describeCluster();
      if (!this.kafkaReachable) this.logger.log(`Kafka reachable again`);
      this.kafkaReachable = true;
    } catch (error) {
      if (this.kafkaReachable) this.logger.warn(`Kafka unreachable: ${errorMessage(error)}`);
      this.kafkaReachable = false;
      await this.probeAdmin.disconnect().catch(() => undefined);
    }
  }

  /** The groups the modules of this process declared (`StreamsModule.forGroup`), by name. */
  declaredGroups(): ReadonlyMap<string, GroupDefinition> {
    return this.groupDefinitions;
  }

  /** Starts the registered groups with the handlers the transport collected and checked against them. */
  async startGroups(handlers: ReadonlyMap<string, ReadonlyMap<string, RecordHandler>>): Promise<void> {
    for (const definition of this.groupDefinitions.values()) {
      const group = new ProcessorGroup(definition, handlers.get(definition.name) ?? new Map(), {
        kafka: this.kafka,
        admin: this.admin,
        connection: this.options.connection,
        dataDir: this.options.dataDir,
        partitions: (topic) => this.partitionCount(topic),
        afterCommitStep: this.options.afterCommitStep,
        maxBatchBytes: this.options.maxBatchBytes,
      });
      this.groups.push(group);
      await group.start();
    }
  }

  /** Stops the groups: batches in flight finish and commit, stores close. */
  async stopGroups(): Promise<void> {
    await Promise.all(this.groups.map((group) => group.stop()));
    this.groups.length = 0;
  }

  /** Adds the groups of another thread to what health, metrics and the monitor see. */
  addGroupSource(source: GroupSource): void {
    this.groupSources.push(source);
  }

  /** This thread's own groups, for serving to another thread. */
  get localGroups(): GroupSource {
    return this.groupSources[0];
  }

  health(): StreamsHealth {
    return {
      kafka: this.kafkaReachable,
      views: Object.fromEntries([...this.views].map(([name, view]) => [name, view.ready])),
      groups: Object.fromEntries(this.groupStatuses().map((group) => [group.group, group.running])),
    };
  }

  /**
   * Every group's status. A group that runs on several threads of this process (each owning
   * some partitions) shows as one, running when every thread's instance runs.
   */
  groupStatuses(): GroupStatus[] {
    const merged = new Map<string, GroupStatus>();
    for (const status of this.groupSources.flatMap((source) => source.statuses())) {
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
            }
          : status,
      );
    }
    return [...merged.values()];
  }

  viewStatuses(): ViewStatus[] {
    return [...this.views.values()].map((view) => view.status());
  }

  /** Names of the tables and stores this process can look keys up in (views, and groups' own). */
  tables(): string[] {
    return [...new Set([...this.views.keys(), ...this.groupSources.flatMap((source) => source.tables())])].sort();
  }

  /**
   * A key's value in a table or store, decoded: from this process's view of it, else from the
   * local store of a group here that owns the key's partition. `undefined` when neither has it.
   */
  async lookup(table: string, key: string): Promise<TableLookup | undefined> {
    const view = this.views.get(table);
    if (view) {
      const entry = view.entry(key);
      return entry && { table, key, source: 'view', value: entry.value, applied: entry.applied };
    }
    for (const source of this.groupSources) {
      const found = await source.lookup(table, key);
      if (found) return { table, key, source: `group ${found.group}, partition ${found.partition}`, value: found.value, applied: found.applied };
    }
    return undefined;
  }

  /** The last changes each view read, by table. */
  recentViewChanges(): Record<string, ViewChange[]> {
    return Object.fromEntries([...this.views].map(([name, view]) => [name, view.recent()]));
  }

  /** Local store sizes in bytes, by group and partition. */
  async storeSizes(): Promise<StoreSize[]> {
    return (await Promise.all(this.groupSources.map((source) => source.storeSizes()))).flat();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.probeTimer);
    await this.stopGroups();
    await Promise.all([...this.views.values()].map((view) => view.stop().catch(() => undefined)));
    await this.emitterProducer.close();
    await this.admin.disconnect().catch(() => undefined);
    await this.probeAdmin.disconnect().catch(() => undefined);
  }
}

/** The processor groups of this thread, as a {@link GroupSource}. */
class LocalGroups implements GroupSource {
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
