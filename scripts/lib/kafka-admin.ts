/**
 * kafkajs admin clients for tools that watch the service from outside (the bench, the chaos
 * run, the end-to-end tests).
 */
import type { Admin, Kafka } from 'kafkajs';

/**
 * An admin client whose end offsets are the log's end (high watermarks), the records of
 * transactions whose markers the broker is still writing included.
 *
 * kafkajs's admin asks for read_committed end offsets: last stable offsets. A transaction's
 * commit returns before the broker writes its markers (a few ms here, more under load), and
 * until then the last stable offset stops before the transaction's records. Measured: right
 * after a commit, 38 of 200 read_committed end offsets left its record out, none of 200 log
 * ends did. So "every group at lag 0" or "read to the end" against last stable offsets can come
 * before a group's last transaction is visible (B6 once missed the flags of two partitions that
 * way). Against log ends, a group is done once it has read past every marker, and a reader
 * reaches the end once the last transaction is visible.
 *
 * kafkajs sets the isolation level per cluster and gives its admin none: the admin is created
 * through the client's private cluster factory with read_uncommitted (kafkajs 2.2.4, its last
 * release).
 */
export function logEndAdmin(kafka: Kafka): Admin {
  type ClusterFactory = (options: Record<string, unknown>) => unknown;
  const client = kafka as unknown as Record<symbol, ClusterFactory>;
  const factory = Object.getOwnPropertySymbols(kafka).find((symbol) => symbol.description === 'private:Kafka:createCluster');
  if (!factory) throw new Error('kafkajs has no private cluster factory: logEndAdmin needs kafkajs 2.2.x');
  const create = client[factory];
  client[factory] = (options) => create({ ...options, isolationLevel: 0 /* read_uncommitted */ });
  try {
    return kafka.admin();
  } finally {
    client[factory] = create;
  }
}
