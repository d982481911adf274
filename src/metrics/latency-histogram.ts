import type { Metric, MetricObjectWithValues, MetricValueWithName, Registry } from 'prom-client';
import { type LatencyCounts, LatencyTally } from '../streams/index.js';

/** One series of a {@link LatencyHistogram}: its labels, and counts per bucket (the last is +Inf). */
export class LatencySeries extends LatencyTally {
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    bounds: readonly number[],
  ) {
    super(bounds);
  }
}

/**
 * A histogram for prom-client's registry, written as prom-client's Histogram writes one
 * (`_bucket` by `le`, cumulative, then `_sum` and `_count`; latency-histogram.spec.ts compares
 * them), for a hot path: prom-client's Histogram checks and hashes an observation's labels and
 * names its bucket by the bound's text on every observation, ~7 µs of a GET /check (measured in
 * one process, docs/BENCHMARKS.md). Here a caller keeps the series of its labels, and an
 * observation finds its bucket and adds.
 */
export class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly all = new Map<string, LatencySeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of `labels`, made on first use; keep it rather than asking again per observation. */
  series(labels: Readonly<Record<string, string>>): LatencySeries {
    const key = JSON.stringify(labels);
    let series = this.all.get(key);
    if (!series) {
      series = new LatencySeries(labels, this.bounds);
      this.all.set(key, series);
    }
    return series;
  }

  get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: Array<MetricValueWithName<string>> = [];
    for (const { labels, counts, sum, count } of this.all.values()) {
      // As prom-client's: a series shows once observed (again, after a reset).
      if (count === 0) continue;
      let cumulative = 0;
      this.bounds.forEach((bound, index) => {
        cumulative += counts[index];
        values.push({ metricName: `${this.name}_bucket`, labels: { le: bound, ...labels }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...labels }, value: count });
      values.push({ metricName: `${this.name}_sum`, labels, value: sum });
      values.push({ metricName: `${this.name}_count`, labels, value: count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type as never, aggregator: this.aggregator, values, collect: () => undefined });
  }

  /** Zeroes every series in place: callers keep theirs, and what they observe next shows. */
  reset(): void {
    for (const series of this.all.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}

/**
 * A {@link LatencyHistogram} of counts kept elsewhere (the streams core's tallies, which may live
 * on another thread): `read` gives each series' labels and counts when Prometheus scrapes.
 */
export class TalliedHistogram extends LatencyHistogram {
  constructor(
    name: string,
    help: string,
    bounds: readonly number[],
    registry: Registry,
    private readonly read: () => Iterable<{ labels: Readonly<Record<string, string>>; tally: LatencyCounts }>,
  ) {
    super(name, help, bounds, registry);
  }

  override get(): ReturnType<LatencyHistogram['get']> {
    for (const { labels, tally } of this.read()) {
      const series = this.series(labels);
      series.counts.set(tally.counts);
      series.sum = tally.sum;
      series.count = tally.count;
    }
    return super.get();
  }
}
