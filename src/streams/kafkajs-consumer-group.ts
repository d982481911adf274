/**
 * kafkajs's consumer group, as the patches install it (kafkajs-patches.ts): joining as the member
 * a previous run was, and fetching whatever is there while the group is idle.
 */
interface KafkaConsumerGroup {
  groupId: string;
  memberId: string | null;
  /** What the broker waits for before it answers a fetch (or for maxWaitTime). */
  minBytes: number;
  /** The longest the broker waits for minBytes before it answers a fetch, in ms. */
  maxWaitTime: number;
  joinAndSync(): Promise<void>;
  fetch(nodeId: string): Promise<FetchedBatch[]>;
}
interface FetchedBatch {
  messages: unknown[];
  isEmpty(): boolean;
}
type ConsumerGroupOptions = { groupId: string; minBytes?: number; maxWaitTimeInMs?: number };
export type KafkaConsumerGroupClass = new (options: ConsumerGroupOptions) => KafkaConsumerGroup;

/** Member ids to join as, by group id: each taken by the next consumer of that group made in this thread. */
const rejoining = new Map<string, string>();

/**
 * Makes the next consumer of `groupId` that this thread starts join as `memberId`, the member a
 * previous run of this instance was (kafkajs has no static membership). A member that died
 * without leaving (SIGKILL) keeps its partitions until its session expires; joining as it ends
 * that wait at once. An id the broker no longer knows costs one rejoin: kafkajs then joins anew.
 */
export function joinAs(groupId: string, memberId: string | undefined): void {
  if (memberId) rejoining.set(groupId, memberId);
  else rejoining.delete(groupId);
}

/**
 * Fetches in a row that must bring records before a broker's fetches wait for `minBytes`. One was
 * too few: records written by a few transactions just apart arrive over two fetches (a restart's
 * first deposits reaching the threshold group, its flags reaching the flagger a partition at a
 * time), and after the first of them the rest waited a whole commit interval. Under live load
 * every fetch brings records, so the second in a row already waits.
 */
const STEADY_AFTER = 2;

/**
 * Records a fetch must bring for the next one to wait the whole commit interval (`maxWaitTime`)
 * for `minBytes`; after a fetch of fewer the next waits that share of it, and never less than
 * {@link SHORTEST_WAIT_SHARE}. The wait is how long a deposit sits in the broker before its group
 * takes it, and what spreads a transaction over the deposits of a fetch. Under a load the machine
 * takes easily a transaction every ~20 ms costs cores that are idle anyway, and a deposit shows in
 * GET /check sooner (2,000 deposits/s, each read with its token: p50 ~35 against ~100 ms, p99
 * ~80-115 against ~165-210 in calm hours). Near capacity a fetch brings ~1,000 records or more
 * even after a short wait (from ~4,000 deposits/s on 2 cores), so the wait is the whole interval
 * again and a transaction carries as many deposits as with a fixed one (docs/streams.md).
 */
const FULL_WAIT_RECORDS = 500;
const SHORTEST_WAIT_SHARE = 0.2;

/**
 * kafkajs's consumer group, starting with the member id {@link joinAs} left for its group.
 *
 * And while the group is idle (from a join, or until a broker's last {@link STEADY_AFTER} fetches
 * have all brought records), the broker answers the next fetch as soon as it has any record: what
 * was written while the group was away or moving (a restart, a rebalance), or the first deposit
 * after a quiet spell, is processed at once, instead of after waiting the commit interval for
 * `minBytes` that a few records never reach. Once a broker's fetches keep bringing records, every
 * fetch waits for `minBytes`, for as long as the last round's largest fetch earned (the commit
 * interval near capacity, a fifth of it under light load: {@link FULL_WAIT_RECORDS}), so that a
 * batch under live load carries that much time's deposits. kafkajs fetches from each broker on its
 * own, so a quiet broker does not make the busy one's fetches small.
 */
export function rejoiningConsumerGroup(ConsumerGroup: KafkaConsumerGroupClass): KafkaConsumerGroupClass {
  return class RejoiningConsumerGroup extends ConsumerGroup {
    /** By broker, how many fetches in a row have brought records. */
    private readonly streaks = new Map<string, number>();
    /** The brokers whose streak has reached STEADY_AFTER. */
    private steadyBrokers = 0;
    /** By broker, the records its last fetch brought. */
    private readonly brought = new Map<string, number>();

    constructor(options: ConsumerGroupOptions) {
      super(options);
      const memberId = rejoining.get(this.groupId);
      rejoining.delete(this.groupId);
      if (memberId) this.memberId = memberId;
      // kafkajs reads minBytes when it sends a fetch, after awaits of its own: as a property
      // here, every fetch sees the phase the group is in when it is sent.
      let steady = this.minBytes;
      Object.defineProperty(this, 'minBytes', {
        get: () => (this.steadyBrokers === 0 ? 1 : steady),
        set: (value: number) => (steady = value),
      });
      // Read when a fetch is sent, as minBytes is.
      let interval = this.maxWaitTime;
      Object.defineProperty(this, 'maxWaitTime', {
        get: () => (this.steadyBrokers === 0 ? interval : Math.round(interval * this.waitShare())),
        set: (value: number) => (interval = value),
      });
    }

    /** The share of the commit interval the next fetch waits, from the largest fetch of the last round. */
    private waitShare(): number {
      let records = 0;
      for (const count of this.brought.values()) records = Math.max(records, count);
      return Math.min(1, Math.max(SHORTEST_WAIT_SHARE, records / FULL_WAIT_RECORDS));
    }

    override joinAndSync(): Promise<void> {
      this.streaks.clear();
      this.brought.clear();
      this.steadyBrokers = 0;
      return super.joinAndSync();
    }

    override async fetch(nodeId: string): Promise<FetchedBatch[]> {
      let records = 0;
      try {
        const batches = await super.fetch(nodeId);
        for (const batch of batches) records += batch.messages.length;
        return batches;
      } finally {
        this.brought.set(nodeId, records);
        const before = this.streaks.get(nodeId) ?? 0;
        const after = records > 0 ? before + 1 : 0;
        this.streaks.set(nodeId, after);
        if (before < STEADY_AFTER && after >= STEADY_AFTER) this.steadyBrokers++;
        else if (before >= STEADY_AFTER && after < STEADY_AFTER) this.steadyBrokers--;
      }
    }
  };
}
