import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Admin, Kafka } from 'kafkajs';
import type { RecordHandler } from './batch.js';
import { ChangelogReader } from './changelog-reader.js';
import { Emitter } from './emitter.js';
import { type GroupDefinition, groupChangelogs } from './group.js';
import { GroupDirectory, LocalGroups } from './group-directory.js';
import type { GroupSource, StoreSize } from './group-port.js';
import { type KafkaConnection, type TopicEnds, adminAndEnds, createKafka, physicalName } from './kafka-client.js';
import { KafkaProbe } from './kafka-probe.js';
import type { CommitStep } from './partition-state.js';
import { type GroupStatus, ProcessorGroup } from './processor-group.js';
import { ReliableProducer } from './producer.js';
import { retryTransient } from './retry.js';
import { ensureTopics } from './topic-admin.js';
import { type Topic, type TableTopic, deadLetterTopicName } from './topics.js';
import { NotStartedError } from './not-started.js';
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
  /** How many values read lately each view keeps decoded in memory (default 100,000; 0: none). */
  viewCacheValues?: number;
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
 * Start ({@link start}, begun by Nest's `onModuleInit`, awaited through {@link started}): topics
 * are ensured and views start following; groups start when the transport listens, once that is
 * done. Stop ({@link stop}, `onApplicationShutdown`, after the HTTP server has drained): groups
 * finish their batches and commit, then views, producers and stores close. What runs where is
 * known through its {@link GroupDirectory}.
 */
@Injectable()
export class StreamsRuntime implements OnModuleInit, OnApplicationShutdown {
  readonly kafka: Kafka;
  private readonly admin: Admin;
  private readonly ends: TopicEnds;
  private readonly probe: KafkaProbe;
  private readonly emitterProducer: ReliableProducer;
  readonly emitter: Emitter;
  private readonly groupDefinitions = new Map<string, GroupDefinition>();
  private readonly topics = new Map<string, Topic>();
  private readonly views = new Map<string, View<unknown>>();
  private readonly groups: ProcessorGroup[] = [];
  /** This thread's groups, and those of processor threads. */
  readonly directory = new GroupDirectory(new LocalGroups(this.groups));
  private readonly partitionCounts = new Map<string, number>();
  private topicsChecked = false;
  private starting?: Promise<void>;

  constructor(@Inject(STREAMS_OPTIONS) readonly options: StreamsOptions) {
    this.kafka = createKafka(options.connection);
    ({ admin: this.admin, ends: this.ends } = adminAndEnds(this.kafka));
    this.probe = new KafkaProbe(options.connection);
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
    if (count === undefined && !this.topicsChecked) throw new NotStartedError(`topic ${physicalTopic} used before the process checked its topics`);
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
        ends: this.ends,
        connection: this.options.connection,
        dataDir: this.options.dataDir,
        cacheValues: this.options.viewCacheValues ?? 100_000,
        partitions: (topic) => this.partitionCount(topic),
        openReader: () => new ChangelogReader(this.kafka),
      });
      this.views.set(table.name, view);
    }
    return view as View<T>;
  }

  /**
   * Starts ({@link start}) without holding Nest's `init` up: a process listens for HTTP while it
   * connects, checks its topics and opens its views (requests that need them meanwhile meet a
   * {@link NotStartedError}), and awaits {@link started} after that. Groups wait for it too.
   */
  onModuleInit(): void {
    this.starting = this.start();
    // Awaited through started(), maybe only after it has failed: no unhandled rejection.
    this.starting.catch(() => undefined);
  }

  /** Settles once topics are checked and views follow their changelogs; rejects with why they could not. */
  started(): Promise<void> {
    return this.starting ?? Promise.reject(new Error('the streams runtime was never started (Nest init)'));
  }

  onApplicationShutdown(): Promise<void> {
    return this.stop();
  }

  /** Ensures the topics this process needs and starts its views; groups start with the transport. */
  async start(): Promise<void> {
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
      for (const topic of [...group.inputs, ...groupChangelogs(group), ...(group.outputs ?? [])]) names.add(this.physical(topic.name));
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
    this.topicsChecked = true;
    this.probe.start();
    await Promise.all([...this.views.values()].map((view) => view.start()));
  }

  /** The groups the modules of this process declared (`StreamsModule.forGroup`), by name. */
  declaredGroups(): ReadonlyMap<string, GroupDefinition> {
    return this.groupDefinitions;
  }

  /** Starts the registered groups with the handlers the transport collected and checked against them. */
  async startGroups(handlers: ReadonlyMap<string, ReadonlyMap<string, RecordHandler>>): Promise<void> {
    await this.started();
    const starting: Array<Promise<void>> = [];
    for (const definition of this.groupDefinitions.values()) {
      const group = new ProcessorGroup(definition, handlers.get(definition.name) ?? new Map(), {
        kafka: this.kafka,
        ends: this.ends,
        connection: this.options.connection,
        dataDir: this.options.dataDir,
        partitions: (topic) => this.partitionCount(topic),
        afterCommitStep: this.options.afterCommitStep,
      });
      this.groups.push(group);
      starting.push(group.start());
    }
    // Together, not one after another: a group's first join after the group was empty waits
    // group.initial.rebalance.delay.ms (3 s by Kafka's default), and three in a row waited
    // three times that. A failure is thrown once every start has settled, so that stopping
    // the groups never races one still starting.
    const failed = (await Promise.allSettled(starting)).find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Stops the groups: batches in flight finish and commit, stores close. */
  async stopGroups(): Promise<void> {
    await Promise.all(this.groups.map((group) => group.stop()));
    this.groups.length = 0;
  }

  /** Adds the groups of another thread to what health, metrics and the monitor see. */
  addGroupSource(source: GroupSource): void {
    this.directory.add(source);
  }

  /** This thread's own groups, for serving to another thread. */
  get localGroups(): GroupSource {
    return this.directory.local;
  }

  health(): StreamsHealth {
    return {
      kafka: this.probe.reachable,
      views: Object.fromEntries([...this.views].map(([name, view]) => [name, view.ready])),
      groups: Object.fromEntries(this.groupStatuses().map((group) => [group.group, group.running])),
    };
  }

  /** Every group's status (one per group, however many threads run it). */
  groupStatuses(): GroupStatus[] {
    return this.directory.statuses();
  }

  viewStatuses(): ViewStatus[] {
    return [...this.views.values()].map((view) => view.status());
  }

  /** Names of the tables and stores this process can look keys up in (views, and groups' own). */
  tables(): string[] {
    return [...new Set([...this.views.keys(), ...this.directory.tables()])].sort();
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
    const found = await this.directory.lookup(table, key);
    return found && { table, key, source: `group ${found.group}, partition ${found.partition}`, value: found.value, applied: found.applied };
  }

  /** The last changes each view read, by table. */
  recentViewChanges(): Record<string, ViewChange[]> {
    return Object.fromEntries([...this.views].map(([name, view]) => [name, view.recent()]));
  }

  /** Local store sizes in bytes, by group and partition. */
  storeSizes(): Promise<StoreSize[]> {
    return this.directory.storeSizes();
  }

  /** Stops groups (their batches finish and commit), views, the emitter and the clients. */
  async stop(): Promise<void> {
    await this.probe.stop();
    await this.stopGroups();
    await Promise.all([...this.views.values()].map((view) => view.stop().catch(() => undefined)));
    await this.emitterProducer.close();
    await this.admin.disconnect().catch(() => undefined);
  }
}
