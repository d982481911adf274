/**
 * kafkajs's consumer group, as the patches install it (kafkajs-patches.ts): joining as the member
 * a previous run was, and fetching whatever is there while the group is idle.
 */
interface KafkaConsumerGroup {
  groupId: string;
  memberId: string | null;
  /** What the broker waits for before it answers a fetch (or for maxWaitTime). */
  minBytes: number;
  joinAndSync(): Promise<void>;
  fetch(nodeId: string): Promise<Array<{ isEmpty(): boolean }>>;
}
export type KafkaConsumerGroupClass = new (options: { groupId: string; minBytes?: number }) => KafkaConsumerGroup;

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
 * kafkajs's consumer group, starting with the member id {@link joinAs} left for its group.
 *
 * And while the group is idle (from a join, or until a broker's last {@link STEADY_AFTER} fetches
 * have all brought records), the broker answers the next fetch as soon as it has any record: what
 * was written while the group was away or moving (a restart, a rebalance), or the first deposit
 * after a quiet spell, is processed at once, instead of after waiting the commit interval for
 * `minBytes` that a few records never reach. Once a broker's fetches keep bringing records, every
 * fetch waits for `minBytes`, so that a batch under live load covers the commit interval. kafkajs
 * fetches from each broker on its own, so a quiet broker does not make the busy one's fetches small.
 */
export function rejoiningConsumerGroup(ConsumerGroup: KafkaConsumerGroupClass): KafkaConsumerGroupClass {
  return class RejoiningConsumerGroup extends ConsumerGroup {
    /** By broker, how many fetches in a row have brought records. */
    private readonly streaks = new Map<string, number>();
    /** The brokers whose streak has reached STEADY_AFTER. */
    private steadyBrokers = 0;

    constructor(options: { groupId: string; minBytes?: number }) {
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
    }

    override joinAndSync(): Promise<void> {
      this.streaks.clear();
      this.steadyBrokers = 0;
      return super.joinAndSync();
    }

    override async fetch(nodeId: string): Promise<Array<{ isEmpty(): boolean }>> {
      let brought = false;
      try {
        const batches = await super.fetch(nodeId);
        brought = batches.some((batch) => !batch.isEmpty());
        return batches;
      } finally {
        const before = this.streaks.get(nodeId) ?? 0;
        const after = brought ? before + 1 : 0;
        this.streaks.set(nodeId, after);
        if (before < STEADY_AFTER && after >= STEADY_AFTER) this.steadyBrokers++;
        else if (before >= STEADY_AFTER && after < STEADY_AFTER) this.steadyBrokers--;
      }
    }
  };
}
