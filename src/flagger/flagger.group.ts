import { defineGroup } from '../streams/index.js';
import { topics } from '../topics.js';

/** Group `flagger`: applies auto and manual flag events to each wallet's flag. */
export const flaggerGroup = defineGroup({
  name: 'flagger',
  inputs: [topics.flagWallet],
  table: topics.flaggerTable,
});
