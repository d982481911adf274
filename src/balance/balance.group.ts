import { defineGroup } from '../streams/index.js';
import { topics } from '../topics.js';

/** Group `balance`: every accepted deposit counted once into its wallet's balance and history. */
export const balanceGroup = defineGroup({
  name: 'balance',
  inputs: [topics.deposit],
  table: topics.balanceTable,
  stores: [topics.balanceDeposits],
});
