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
   * commit.interval.ms, and its default under exactly-once: 100 ms.
   */
  commitIntervalMs?: number;
  /**
   * The most a processor group fetches of a partition at once, and so processes as one batch,
   * committed in one transaction (default {@link DEFAULT_BATCH_BYTES}). Under live load a batch
   * is what arrived in the commit interval; while catching up on a backlog it is this size, and
   * a larger batch coalesces more updates per key (fewer table records, store writes and view
   * updates per deposit) for the memory of its records.
   */
  batchBytes?: number;
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
}

/**
 * A cluster of `kafka`'s own, made as kafkajs makes one for each consumer and producer, for
 * reading partitions by offset without a consumer group (kafkajs has no assign()). Reads are
 * read_committed. The factory is private to kafkajs: the version checkPatchesInstalled accepts
 * has it.
 *
 * Its metadata is kept as long as kafkajs's clients keep theirs (`metadataMaxAge`). The factory's
 * own default is 0: metadata older than nothing, asked for again before every fetch (a view
 * fetching four times a second while idle made as many Metadata requests). A reader whose leader
 * moved learns it from the failed fetch, which refreshes the metadata.
 */
export function readerCluster(kafka: Kafka): KafkaCluster {
  const factory = Object.getOwnPropertySymbols(kafka).find((symbol) => symbol.description === 'private:Kafka:createCluster');
  if (!factory) throw new Error('this kafkajs has no cluster factory: install the version package.json names');
  const create = (kafka as unknown as Record<symbol, (options: object) => KafkaCluster>)[factory]!;
  return create({ allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED, metadataMaxAge: METADATA_MAX_AGE_MS });
}

/**
 * The end offset (high watermark) of every partition of `topic`, by partition. kafkajs's admin
 * answers for the partitions its cached metadata holds, not for those the topic has, so an
 * answer short of one of the `partitions` is a retriable error that `retryTransient` asks again:
 * a view that took one for the whole changelog followed only its partitions and said it was
 * ready without the others (seen once in CI: a test's view ready without any of partition 2's
 * values), and a restoration would fail for want of its partition's end.
 */
export async function endOffsets(admin: Pick<Admin, 'fetchTopicOffsets'>, topic: string, partitions: number): Promise<Map<number, number>> {
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map(({ partition, high }) => [partition, Number(high)]));
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
