import { topics } from '../contracts/topic-map.js';
import { defineGroup } from '../streams/index.js';

/**
 * Group `threshold`: watches each wallet's deposits for a window over the threshold, and
 * follows the flag stream so that it knows when a wallet is flagged or unflagged.
 */
export const thresholdGroup = defineGroup({
  name: 'threshold',
  inputs: [topics.deposit, topics.flagWallet],
  table: topics.thresholdTable,
  outputs: [topics.flagWallet],
});
