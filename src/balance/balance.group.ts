import { topics } from '../contracts/topic-map.js';
import { defineGroup } from '../streams/index.js';

/**
 * Group `balance`: every accepted deposit counted once into its wallet's balance and history.
 * The history is published for the API and never read back; the Idempotency-Keys the group
 * checks retries against are a store of their own, so that restoring the group reads them and
 * not the history, which grows with every deposit ever made.
 */
export const balanceGroup = defineGroup({
  name: 'balance',
  inputs: [topics.deposit],
  table: topics.balanceTable,
  stores: [topics.balanceKeys],
  published: [topics.balanceDeposits],
});
