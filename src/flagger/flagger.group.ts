import { topics } from '../contracts/topic-map.js';
import { defineGroup } from '../streams/index.js';

/** Group `flagger`: applies auto and manual flag events to each wallet's flag. */
export const flaggerGroup = defineGroup({
  name: 'flagger',
  inputs: [topics.flagWallet],
  table: topics.flaggerTable,
});
