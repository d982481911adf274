import { checkPatchesInstalled } from './kafkajs-patches.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Logger } from '@nestjs/common';
import {
  type Admin,
  AssignerProtocol,
  Kafka,
  type KafkaConfig,
  type KafkaMessage,
  type LogEntry,
  type PartitionAssigner,
  logLevel,
  type SASLOptions,
} from 'kafkajs';
import { causeType } from './retry.js';

/** How the core reaches Kafka. Built from the service configuration by the streams module. */
export interface KafkaConnection {
  brokers: string[];
  clientId: string;
  /** Prepended to every topic and consumer group name. */
  topicPrefix: string;
  partitions: number;
  /** A number, or 'auto': min(3, brokers in the cluster). */
  replicationFactor: number | 'auto';
  /** Explicit min.insync.replicas of created topics; by default 2 with 3 or more replicas, else 1. */
  minInsyncReplicas?: number;
  /**
   * `segment.bytes` of the changelogs the service creates whose keys are overwritten (unset: the
   * broker's, 1 GiB by default). Kafka compacts closed segments only, so a table's uncompacted
   * history, which a cold restore reads whole, is at most about one segment per partition.
   */
  changelogSegmentBytes?: number;
  sessionTimeoutMs: number;
  /**
   * How long a processor group's fetch waits for records (unless 512 KiB are there sooner): under
   * live load a fetch's batches, and their transaction, cover that much time. Kafka Streams'
   * commit.interval.ms, and its default under exactly-once: 100 ms. The most it waits: under a
   * lighter load it waits less, down to {@link commitIntervalMinMs}.
   */
  commitIntervalMs?: number;
  /**
   * The least a processor group's fetch waits for records once they keep coming (default: the
   * commit interval, a fixed wait). A fetch that brought fewer records than a busy one does makes
   * the next wait that much shorter, down to this: under a light load deposits are committed, and
   * show in GET /check, sooner, for more transactions (see `rejoiningConsumerGroup`).
   */
  commitIntervalMinMs?: number;
  /**
   * The most a processor group fetches of a partition at once, and so processes as one batch,
   * committed in one transaction (default {@link DEFAULT_BATCH_BYTES}). Under live load a batch
   * is what arrived in the commit interval; while catching up on a backlog it is this size, and
   * a larger batch coalesces more updates per key (fewer table records, store writes and view
   * updates per deposit) for the memory of its records.
   */
  batchBytes?: number;
  /**
   * How often a processor group commits its consumer offsets while it keeps working (default
   * 200 ms). A group that has just caught up with a backlog commits at once. The offsets only say
   * where a new owner starts reading: a record read again is skipped.
   */
  offsetCommitIntervalMs?: number;
  ssl?: { caFile?: string; certFile?: string; keyFile?: string; rejectUnauthorized: boolean };
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

/**
 * A group's batch while catching up, in bytes of records: B2 (1,000,000 deposits over 100,000
 * wallets), interleaved pairs, 20.9-23.0 µs per deposit and ~520 MB peak against 25.6-25.7 µs and
 * ~480 MB with 4 MiB. 16 MiB, measured again once fetched records held no Buffer each: 21.8-23.7
 * against 23.0-24.0 µs, 539-567 against 490-508 MB (docs/streams.md).
 */
export const DEFAULT_BATCH_BYTES = 8 * 1024 * 1024;

// kafkajs reports these while a fresh broker loads its coordinators, or around a rebalance;
// it retries them itself, so they are no news to an operator.
const ROUTINE = [
  /coordinator is (loading|not available)/i,
  /group is rebalancing/i,
  /There is no leader for this topic-partition/i,
  /This server is not the leader/i,
  /Restarting the consumer/i,
  /The coordinator is not aware of this member/i,
  /Connection error: connect ECONNREFUSED/i,
  /Limiting retries for the idempotent producer/i,
  /not the correct coordinator/i,
  /does not host this topic-partition/i,
  /coordinator is not available/i,
  // The previous transaction's markers are still being written; the core retries.
  /another concurrent operation on the same transaction/i,
  // Two threads or instances creating the service's topics at once: the core tolerates "already
  // exists" and fails the start-up, in its own words, on anything else (topic-admin.ts).
  /^Response CreateTopics\(.*Topic creation errors/,
];

// kafkajs messages that say little on their own, in words an operator can act on.
const EXPLAINED = new Map([
  // A reply whose request kafkajs had already given up on (requestTimeout): the request failed
  // and was retried or reported; this line only says the broker answered late.
  ['Response without match', 'a broker answered a request after it had timed out: the broker or this machine is slow'],
]);

/** What an operator sees of a kafkajs log entry: the level it is logged at, and the line. */
export function describeKafkaLog({ level, log }: Pick<LogEntry, 'level' | 'log'>): { level: 'error' | 'warn' | 'debug'; line: string } {
  const { message, ...extra } = log;
  const line = `${EXPLAINED.get(message) ?? message}${extra.groupId ? ` (group ${extra.groupId})` : ''}${extra.error ? `: ${extra.error}` : ''}`;
  const routine = ROUTINE.some((pattern) => pattern.test(line));
  if (level <= logLevel.ERROR && !routine) return { level: 'error', line };
  if (level <= logLevel.WARN && !routine) return { level: 'warn', line };
  return { level: 'debug', line };
}

function logCreator() {
  const logger = new Logger('kafkajs');
  return (entry: LogEntry) => {
    const { level, line } = describeKafkaLog(entry);
    logger[level](line);
  };
}

/** A kafkajs client for the connection, logging through Nest's logger at sensible levels. */
export function createKafka(connection: KafkaConnection, overrides: Partial<KafkaConfig> = {}): Kafka {
  checkPatchesInstalled();
  const ssl = connection.ssl
    ? {
        rejectUnauthorized: connection.ssl.rejectUnauthorized,
        ca: connection.ssl.caFile ? [readFileSync(connection.ssl.caFile, 'utf8')] : undefined,
        cert: connection.ssl.certFile ? readFileSync(connection.ssl.certFile, 'utf8') : undefined,
        key: connection.ssl.keyFile ? readFileSync(connection.ssl.keyFile, 'utf8') : undefined,
      }
    : undefined;
  const sasl = connection.sasl
    ? ({ mechanism: connection.sasl.mechanism, username: connection.sasl.username, password: connection.sasl.password } as SASLOptions)
    : undefined;
  return new Kafka({
    brokers: connection.brokers,
    clientId: connection.clientId,
    ssl,
    sasl,
    logLevel: logLevel.INFO,
    logCreator,
    ...overrides,
  });
}

/** The physical name of a topic or group: the configured prefix, then the logical name. */
export const physicalName = (connection: KafkaConnection, name: string) => `${connection.topicPrefix}${name}`;

/**
 * Partition p of every subscribed topic goes to the same member, so that a processor instance
 * owns matching partitions of all inputs; and each member gets a range of consecutive partitions
 * (members sorted by id, the partitions split as evenly as their number allows), which its
 * instance commits through one transactional producer (a task, task.ts).
 */
export const coPartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: 'DepositajaCoPartitioned',
  version: 1,
  async assign({ members, topics }) {
    const sorted = members.map((member) => member.memberId).sort();
    const assignment = new Map<string, Record<string, number[]>>(sorted.map((id) => [id, {}]));
    for (const topic of topics) {
      const partitions = cluster.findTopicPartitionMetadata(topic).map(({ partitionId }) => partitionId);
      for (const partition of partitions) {
        const member = assignment.get(sorted[rangeOwner(partition, partitions.length, sorted.length)])!;
        (member[topic] ??= []).push(partition);
      }
    }
    return sorted.map((memberId) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: assignment.get(memberId)!, userData: Buffer.alloc(0) }),
    }));
  },
  protocol({ topics }) {
    return { name: 'DepositajaCoPartitioned', metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }) };
  },
});

/**
 * Which of `members` owns `partition` of `partitions`: member i the partitions from
 * floor(i·partitions/members) up to the next member's first. With more members than partitions,
 * some own none.
 */
export const rangeOwner = (partition: number, partitions: number, members: number) => Math.floor(((partition + 1) * members - 1) / partitions);

/** kafkajs's ISOLATION_LEVEL.READ_COMMITTED (the Fetch request's field). */
export const READ_COMMITTED = 1;

/** A partition of a fetch response, as kafkajs decodes it (consumer/batch.js takes it as is). */
export interface FetchedPartition {
  partition: number;
  highWatermark: string;
  messages: KafkaMessage[];
}

/** The part of kafkajs's cluster (its brokers, their connections, the metadata) a reader uses. */
export interface KafkaCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  refreshMetadata(): Promise<void>;
  /** Refreshes the metadata when it is older than kafkajs's metadataMaxAge. */
  refreshMetadataIfNecessary(): Promise<void>;
  /** Partitions by the node id of their leader. */
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(node: { nodeId: string }): Promise<{
    fetch(request: {
      replicaId: number;
      isolationLevel: number;
      maxWaitTime: number;
      minBytes: number;
      maxBytes: number;
      topics: Array<{ topic: string; partitions: Array<{ partition: number; fetchOffset: string; maxBytes: number }> }>;
    }): Promise<{ responses: Array<{ topicName: string; partitions: FetchedPartition[] }> }>;
  }>;
  fetchTopicsOffset(
    topics: Array<{ topic: string; fromBeginning: boolean; partitions: Array<{ partition: number }> }>,
  ): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>;
  /** The partitions of `topic` the cached metadata holds (none when it holds no such topic). */
  findTopicPartitionMetadata(topic: string): Array<{ partitionId: number }>;
}

/**
 * A cluster of `kafka`'s own, made as kafkajs makes one for each consumer and producer, for
 * requests its clients do not make as the core needs them: reading partitions by offset without
 * a consumer group (kafkajs has no assign()), fencing transactional ids (kafkajs-transactions.ts),
 * asking whether Kafka answers without asking for every topic (kafka-probe.ts). Reads are
 * read_committed. The factory is private to kafkajs: the version checkPatchesInstalled accepts
 * has it.
 *
 * Its metadata is kept as long as kafkajs's clients keep theirs (`metadataMaxAge`). The factory's
 * own default is 0: metadata older than nothing, asked for again before every fetch (a view
 * fetching four times a second while idle made as many Metadata requests). A reader whose leader
 * moved learns it from the failed fetch, which refreshes the metadata.
 */
export function readerCluster(kafka: Kafka): KafkaCluster {
  return clusterFactory(kafka).create({ allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED, metadataMaxAge: METADATA_MAX_AGE_MS });
}

type ClusterFactory = (options: object) => KafkaCluster;

/** kafkajs's private factory of clusters on `kafka`, and the symbol it is kept under. */
function clusterFactory(kafka: Kafka): { symbol: symbol; create: ClusterFactory } {
  const symbol = Object.getOwnPropertySymbols(kafka).find((candidate) => candidate.description === 'private:Kafka:createCluster');
  if (!symbol) throw new Error('this kafkajs has no cluster factory: install the version package.json names');
  return { symbol, create: (kafka as unknown as Record<symbol, ClusterFactory>)[symbol]! };
}

/** Where the core reads the ends of a topic's partitions from. */
export interface TopicEnds {
  /** The last stable offset of each partition of `topic` that Kafka answered for. */
  endsOf(topic: string): Promise<Array<{ partition: number; offset: string }>>;
}

/**
 * A kafkajs admin client, and the ends of topics asked through its cluster (its connections, its
 * metadata, read_committed as its own requests are). kafkajs's admin has `fetchTopicOffsets`,
 * which asks each partition's leader for the topic's ends (ListOffsets, latest) and, once they
 * have answered, for its starts (ListOffsets, earliest), which the core never reads: every
 * partition's restoration and every view's start waited for a round trip it did not use. These
 * ask for the ends alone; connect the admin first.
 */
export function adminAndEnds(kafka: Kafka): { admin: Admin; ends: TopicEnds } {
  const { symbol, create } = clusterFactory(kafka);
  const client = kafka as unknown as Record<symbol, ClusterFactory>;
  let cluster: KafkaCluster | undefined;
  client[symbol] = (options) => (cluster = create(options));
  let admin: Admin;
  try {
    admin = kafka.admin();
  } finally {
    client[symbol] = create;
  }
  if (!cluster) throw new Error('this kafkajs made its admin without a cluster of its own: install the version package.json names');
  const own: KafkaCluster = cluster;
  const askEnds = async (topic: string) => {
    await own.addMultipleTargetTopics([topic]);
    const partitions = own.findTopicPartitionMetadata(topic).map(({ partitionId }) => ({ partition: partitionId }));
    try {
      const answer = await own.fetchTopicsOffset([{ topic, fromBeginning: false, partitions }]);
      return answer.find((entry) => entry.topic === topic)?.partitions ?? [];
    } catch (error) {
      // As kafkajs's admin does: the metadata lost the topic (a concurrent refresh) or has not
      // got it yet (a topic just created); the caller asks again.
      if (causeType(error) === 'UNKNOWN_TOPIC_OR_PARTITION') await own.refreshMetadata();
      throw error;
    }
  };
  // A topic asked for several times in one turn of the event loop is asked once, at its end: each
  // partition of a group asks for its changelogs' whole ends, all at once (as it starts restoring,
  // and again once its task is claimed). A request already sent is never shared: whoever asks
  // after it must get ends measured after asking.
  const unsent = new Map<string, Promise<Array<{ partition: number; offset: string }>>>();
  const ends: TopicEnds = {
    endsOf(topic) {
      let answer = unsent.get(topic);
      if (!answer) {
        answer = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
          unsent.delete(topic);
          return askEnds(topic);
        });
        unsent.set(topic, answer);
      }
      return answer;
    },
  };
  return { admin, ends };
}

/**
 * The end offset of every partition of `topic` (its last stable offset: read_committed), by
 * partition. Kafka's answer covers the partitions its client's cached metadata holds, not those
 * the topic has, so an answer short of one of the `partitions` is a retriable error that
 * `retryTransient` asks again: a view that took one for the whole changelog followed only its
 * partitions and said it was ready without the others (seen once in CI: a test's view ready
 * without any of partition 2's values), and a restoration would fail for want of its partition's
 * end.
 */
export async function endOffsets(source: TopicEnds, topic: string, partitions: number): Promise<Map<number, number>> {
  const ends = new Map((await source.endsOf(topic)).map(({ partition, offset }) => [partition, Number(offset)]));
  const missing = Array.from({ length: partitions }, (_, partition) => partition).filter((partition) => !ends.has(partition));
  if (missing.length > 0) {
    throw Object.assign(new Error(`Kafka gave no end offsets for partitions [${missing.join(', ')}] of ${topic}`), { retriable: true });
  }
  return ends;
}

/** kafkajs's default `metadataMaxAge` for its consumers and producers (and Kafka's `metadata.max.age.ms`). */
const METADATA_MAX_AGE_MS = 300_000;

// CommonJS in the built service; jest runs the core as ES modules, from the project's root.
const load = typeof require === 'function' ? require : createRequire(`${process.cwd()}/package.json`);

/**
 * kafkajs's batch of one partition of a fetch response, as its consumer makes it: it drops
 * what precedes the offset asked for, aborted records and control records.
 */
export const KafkaBatch = load('kafkajs/src/consumer/batch.js') as new (
  topic: string,
  fetchedOffset: string,
  partition: FetchedPartition,
) => { messages: KafkaMessage[]; isEmpty(): boolean; isEmptyDueToFiltering(): boolean; lastOffset(): string };
