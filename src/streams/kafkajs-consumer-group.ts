/**
 * kafkajs's consumer group, as the patches install it (kafkajs-patches.ts): joining as the member
 * a previous run was, fetching whatever is there while the group is idle, and waiting for a
 * fetch's records as long as the last fetches earned.
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

/** What kafkajs's consumer does not hand its consumer group: for the next consumer of a group. */
export interface NextConsumerOptions {
  /**
   * The member a previous run of this instance was (kafkajs has no static membership). A member
   * that died without leaving (SIGKILL) keeps its partitions until its session expires; joining
   * as it ends that wait at once. An id the broker no longer knows costs one rejoin: kafkajs then
   * joins anew.
   */
  memberId?: string;
  /** The least a fetch waits once records keep coming (default: `maxWaitTimeInMs`, a fixed wait). */
  shortestWaitMs?: number;
}

/** By group id, taken by the next consumer of that group made in this thread. */
const nextOptions = new Map<string, NextConsumerOptions>();

/** Gives the next consumer of `groupId` that this thread starts `options`. */
export function startNextConsumer(groupId: string, options: NextConsumerOptions): void {
  nextOptions.set(groupId, options);
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
 * the shortest wait it was given ({@link NextConsumerOptions}). The wait is how long a deposit
 * sits in the broker before its group takes it, and what spreads a transaction over the deposits
 * of a fetch. Near capacity a fetch brings ~1,000 records or more (from ~4,000 deposits/s on 2
 * cores), so the wait is the whole interval and a transaction carries as many deposits as with a
 * fixed one; below it, shorter waits make deposits visible sooner, with cores that are idle
 * anyway (docs/streams.md: at 2,000 deposits/s and a 50 ms shortest wait, accept → visible p50
 * ~58 against ~100 ms, p99 ~130 against ~190, for ~0.1 of a core at 1,000 deposits/s).
 */
const FULL_WAIT_RECORDS = 500;

/**
 * The longest the broker holds an idle group's fetch (one that asks for any record at all) when
 * no record comes, in ms; the commit interval if that is longer. A record that comes is answered
 * at once, so the hold costs no latency: it sets how often an idle group asks. At the commit
 * interval (100 ms), the three groups of a process fetched 30 times a second with nothing to
 * do. The price is at a stop: a group leaves after the fetch it holds is answered (its requests
 * share one connection, which Kafka answers in order).
 */
const IDLE_WAIT_MS = 250;

/**
 * kafkajs's consumer group, starting with the options {@link startNextConsumer} left for its group.
 *
 * And while the group is idle (from a join, or until a broker's last {@link STEADY_AFTER} fetches
 * have all brought records), the broker answers the next fetch as soon as it has any record: what
 * was written while the group was away or moving (a restart, a rebalance), or the first deposit
 * after a quiet spell, is processed at once, instead of after waiting the commit interval for
 * `minBytes` that a few records never reach. Once a broker's fetches keep bringing records, every
 * fetch waits for `minBytes`, for as long as the last round's largest fetch earned (the commit
 * interval near capacity, the shortest wait under light load: {@link FULL_WAIT_RECORDS}), so that a
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

    /** The least a fetch waits once records keep coming (none: the whole interval). */
    private readonly shortestWaitMs: number | undefined;

    constructor(options: ConsumerGroupOptions) {
      super(options);
      const { memberId, shortestWaitMs } = nextOptions.get(this.groupId) ?? {};
      nextOptions.delete(this.groupId);
      if (memberId) this.memberId = memberId;
      this.shortestWaitMs = shortestWaitMs;
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
        get: () => (this.steadyBrokers === 0 ? Math.max(interval, IDLE_WAIT_MS) : this.earnedWait(interval)),
        set: (value: number) => (interval = value),
      });
    }

    /** What the next fetch waits once records keep coming: the share of the interval the largest fetch of the last round earned. */
    private earnedWait(interval: number): number {
      let records = 0;
      for (const count of this.brought.values()) records = Math.max(records, count);
      const earned = Math.round((interval * records) / FULL_WAIT_RECORDS);
      return Math.min(interval, Math.max(this.shortestWaitMs ?? interval, earned));
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
