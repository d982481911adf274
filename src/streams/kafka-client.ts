import { checkPatchesInstalled } from './kafkajs-patches.js';
import { readFileSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import {
  AssignerProtocol,
  Kafka,
  type KafkaConfig,
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
   * live load a batch, and its transaction per partition, covers that much time. Kafka Streams'
   * commit.interval.ms, and its default under exactly-once: 100 ms.
   */
  commitIntervalMs?: number;
  ssl?: { caFile?: string; certFile?: string; keyFile?: string; rejectUnauthorized: boolean };
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

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
 * Partition p of every subscribed topic goes to the same member (members sorted by id, p
 * modulo their number), so that a processor instance owns matching partitions of all inputs.
 */
export const coPartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: 'DepositajaCoPartitioned',
  version: 1,
  async assign({ members, topics }) {
    const sorted = members.map((member) => member.memberId).sort();
    const assignment = new Map<string, Record<string, number[]>>(sorted.map((id) => [id, {}]));
    for (const topic of topics) {
      for (const { partitionId } of cluster.findTopicPartitionMetadata(topic)) {
        const member = assignment.get(sorted[partitionId % sorted.length])!;
        (member[topic] ??= []).push(partitionId);
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
 * For a consumer alone in a throwaway group: assigns it exactly `partitions` (a reader of
 * chosen changelog partitions, where Kafka's own consumer would use assign()).
 */
export function fixedAssigner(partitions: Record<string, number[]>): PartitionAssigner {
  return () => ({
    name: 'DepositajaFixed',
    version: 1,
    async assign({ members }) {
      return members.map(({ memberId }, index) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: index === 0 ? partitions : {},
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return { name: 'DepositajaFixed', metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }) };
    },
  });
}
