import { topics } from '../contracts/topic-map.js';
import { defineGroup } from '../streams/index.js';

/**
 * Group `threshold`: watches each wallet's deposits for a window over the threshold, and
 * follows the flag stream so that it knows when a wallet is flagged or unflagged. Like the
 * balance group, it keeps the Idempotency-Keys of the deposits it counted in a store of its own,
 * so that it counts a retry that reached Kafka twice once, as the balance does, however late the
 * retry comes.
 */
export const thresholdGroup = defineGroup({
  name: 'threshold',
  inputs: [topics.deposit, topics.flagWallet],
  table: topics.thresholdTable,
  stores: [topics.thresholdKeys],
  outputs: [topics.flagWallet],
});
