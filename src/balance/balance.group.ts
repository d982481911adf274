import { topics } from '../contracts/topic-map.js';
import { defineGroup } from '../streams/index.js';

/** Group `balance`: every accepted deposit counted once into its wallet's balance and history. */
export const balanceGroup = defineGroup({
  name: 'balance',
  inputs: [topics.deposit],
  table: topics.balanceTable,
  stores: [topics.balanceDeposits],
});
