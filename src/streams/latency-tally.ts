/**
 * Durations counted by bucket, as a histogram counts them. The core counts how long records take
 * to be committed and to reach views (`GroupStatus.commitLatency`, `ViewStatus.applyLatency`);
 * the metrics module shows the counts as Prometheus histograms.
 */
export class LatencyTally {
  /** Observations per bucket (the last one is +Inf), not cumulative. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Counts `seconds`, `times` times over. */
  observe(seconds: number, times = 1): void {
    let bucket = 0;
    while (bucket < this.bounds.length && seconds > this.bounds[bucket]) bucket++;
    this.counts[bucket] += times;
    this.sum += seconds * times;
    this.count += times;
  }

  /**
   * Counts the latency of each of `count` items in order (a batch's records, oldest first), from
   * at most SAMPLES of them evenly spread, each standing for the items up to the next: a batch
   * of a backlog holds tens of thousands of records, and reading each one's timestamp cost ~1 %
   * of a deposit's CPU in B2 and B3. `secondsOf(i)` is item i's latency, or undefined when unknown.
   */
  observeSpread(count: number, secondsOf: (index: number) => number | undefined): void {
    const stride = Math.max(1, Math.ceil(count / SAMPLES));
    for (let index = 0; index < count; index += stride) {
      const seconds = secondsOf(index);
      if (seconds !== undefined) this.observe(seconds, Math.min(stride, count - index));
    }
  }

  /** The counts so far, as plain data (statuses cross threads by structured clone). */
  snapshot(): LatencyCounts {
    return { counts: Array.from(this.counts), sum: this.sum, count: this.count };
  }
}

/** Items of a batch whose latency {@link LatencyTally.observeSpread} reads, at most. */
const SAMPLES = 64;

/** A {@link LatencyTally}'s counts at one moment. */
export interface LatencyCounts {
  counts: number[];
  sum: number;
  count: number;
}

/**
 * Bounds (seconds) of the record latencies the core counts: from a commit under live load (tens of
 * milliseconds at a 100 ms commit interval) to a backlog's records, minutes old.
 */
export const RECORD_LATENCY_BOUNDS: readonly number[] = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Two tallies' counts together (one group's instances on several threads). */
export function addCounts(a: LatencyCounts, b: LatencyCounts): LatencyCounts {
  return { counts: a.counts.map((count, index) => count + (b.counts[index] ?? 0)), sum: a.sum + b.sum, count: a.count + b.count };
}

/**
 * Seconds from a record's timestamp (Unix ms) until `at`: undefined for a record without one (-1
 * or none); 0 where the producer's clock ran ahead of this one.
 */
export function secondsSince(writtenAt: number | undefined, at: number): number | undefined {
  return writtenAt !== undefined && writtenAt > 0 ? Math.max(0, at - writtenAt) / 1000 : undefined;
}
