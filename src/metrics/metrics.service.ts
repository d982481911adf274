import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { type GroupStatus, type PartitionStatus, RECORD_LATENCY_BOUNDS, StreamsRuntime } from '../streams/index.js';
import { LatencyHistogram, type LatencySeries, TalliedHistogram } from './latency-histogram.js';

/** The reasons `deposits_rejected_total` counts (set where HTTP responses are recorded). */
const DEPOSIT_REJECTION_REASONS = ['invalid', 'conflict', 'unavailable', 'error'] as const;

/** How far an owned partition's store is restored: 1 once it runs, or when there was nothing to read. */
function restoreRatio(partition: Pick<PartitionStatus, 'state' | 'restore'>): number {
  if (partition.state === 'running') return 1;
  const restore = partition.restore;
  if (!restore) return 0;
  if (restore.total <= 0) return restore.finishedAt === undefined ? 0 : 1;
  return Math.min(1, restore.done / restore.total);
}

/**
 * The Prometheus metrics of a process: HTTP, deposits, and the state of the streams core
 * (group lag and progress, restoration, dead letters, views, store sizes), read at scrape time.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  /** Written as prom-client's Histogram writes it, at a fraction of its cost per observation (LatencyHistogram). */
  readonly httpDuration = new LatencyHistogram(
    'http_request_duration_seconds',
    'HTTP request latency by method, route and status',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    this.registry,
  );

  /** The request counter's and latency histogram's series of each method, status and route. */
  private readonly httpSeries = new Map<string, { requests: Counter.Internal; duration: LatencySeries }>();

  /**
   * Counts an answered request and observes its latency: one map lookup by a string, instead of
   * prom-client hashing a labels object for each of the two. `route` is the matched route's
   * pattern (or 'unmatched'), so the series stay few.
   */
  recordHttp(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let series = this.httpSeries.get(key);
    if (!series) {
      const labels = { method, route, status: String(status) };
      series = { requests: this.httpRequests.labels(labels), duration: this.httpDuration.series(labels) };
      this.httpSeries.set(key, series);
    }
    series.requests.inc();
    series.duration.observe(seconds);
  }

  readonly depositsAccepted = new Counter({
    name: 'deposits_accepted_total',
    help: 'Deposits acknowledged by Kafka and answered 202 (idempotent replays excluded)',
    registers: [this.registry],
  });

  readonly requestsShed = new Counter({
    name: 'http_requests_shed_total',
    help: 'Requests refused with 503 at once because the service was at its (adaptive) concurrency limit',
    registers: [this.registry],
  });

  readonly depositsRejected = new Counter({
    name: 'deposits_rejected_total',
    help: 'Deposits refused, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly produceLatency = new Histogram({
    name: 'deposit_produce_duration_seconds',
    help: 'Time from emitting a deposit event to Kafka acknowledging it (acks=all), for the deposits it took',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  constructor(streams: StreamsRuntime) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    // Known reasons start at 0, so that rates and alerts have a series before the first refusal.
    for (const reason of DEPOSIT_REJECTION_REASONS) this.depositsRejected.inc({ reason }, 0);

    // The groups' totals only grow while the process lives; the first scrape shows them all.
    const groupTotal = (name: string, help: string, pick: (group: GroupStatus) => number) => {
      const seen = new Map<string, number>();
      new Counter({
        name,
        help,
        labelNames: ['group'] as const,
        registers,
        collect() {
          for (const group of streams.groupStatuses()) {
            const delta = pick(group) - (seen.get(group.group) ?? 0);
            seen.set(group.group, pick(group));
            this.inc({ group: group.group }, Math.max(0, delta));
          }
        },
      });
    };
    groupTotal('stream_group_records_processed_total', 'Records handled by the processor group in this process (rate() of it is records/s)', (group) => group.processed);
    groupTotal(
      'stream_group_transactions_total',
      'Kafka transactions the processor group committed in this process, one per task (range of partitions) and fetch that wrote anything (rate() of it is transactions/s)',
      (group) => group.transactions,
    );
    const groupGauge = (name: string, help: string, pick: (group: GroupStatus) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['group'] as const,
        registers,
        collect() {
          this.reset();
          for (const group of streams.groupStatuses()) this.set({ group: group.group }, pick(group));
        },
      });
    groupGauge('stream_group_running', '1 when the processor group has joined its consumer group and is consuming', (group) => (group.running ? 1 : 0));
    new Gauge({
      name: 'stream_group_partitions',
      help: 'Partitions the processor group owns in this process, by state (restoring, running)',
      labelNames: ['group', 'state'] as const,
      registers,
      collect() {
        this.reset();
        for (const group of streams.groupStatuses()) {
          this.set({ group: group.group, state: 'restoring' }, group.partitions.filter((partition) => partition.state === 'restoring').length);
          this.set({ group: group.group, state: 'running' }, group.partitions.filter((partition) => partition.state === 'running').length);
        }
      },
    });
    groupGauge('stream_group_retrying_batches', 'Batches whose handler failed with a transient error and are being retried', (group) => group.retrying);
    groupGauge(
      'stream_group_offset_commit_failures',
      'Offset commits of the group that failed since the last one that went through (most of any thread); while above 0 its lag counts from that one',
      (group) => group.commitFailures,
    );

    new Gauge({
      name: 'stream_group_lag_records',
      help: 'Records of the input partition not yet processed, as of the last batch',
      labelNames: ['group', 'topic', 'partition'] as const,
      registers,
      collect() {
        this.reset();
        for (const group of streams.groupStatuses()) {
          for (const partition of group.partitions) {
            for (const [topic, lag] of Object.entries(partition.lag)) this.set({ group: group.group, topic, partition: partition.partition }, lag);
          }
        }
      },
    });
    new Gauge({
      name: 'stream_group_processed_records',
      help: 'Records handled by this instance, per owned partition (since it took the partition)',
      labelNames: ['group', 'partition'] as const,
      registers,
      collect() {
        this.reset();
        for (const group of streams.groupStatuses()) {
          for (const partition of group.partitions) this.set({ group: group.group, partition: partition.partition }, partition.processed);
        }
      },
    });
    new Gauge({
      name: 'stream_group_dead_letters',
      help: 'Records sent to a dead-letter topic by this instance, per owned partition',
      labelNames: ['group', 'partition'] as const,
      registers,
      collect() {
        this.reset();
        for (const group of streams.groupStatuses()) {
          for (const partition of group.partitions) this.set({ group: group.group, partition: partition.partition }, partition.deadLettered);
        }
      },
    });
    new Gauge({
      name: 'stream_partition_restore_ratio',
      help: 'Progress of the last restoration of an owned partition (1 = done)',
      labelNames: ['group', 'partition'] as const,
      registers,
      collect() {
        this.reset();
        for (const group of streams.groupStatuses()) {
          for (const partition of group.partitions) {
            this.set({ group: group.group, partition: partition.partition }, restoreRatio(partition));
          }
        }
      },
    });
    new TalliedHistogram(
      'stream_group_commit_latency_seconds',
      'For each record the processor group handled in this process: from its timestamp (for a deposit, when the API accepted it) until what it changed was committed',
      RECORD_LATENCY_BOUNDS,
      this.registry,
      () => streams.groupStatuses().map((group) => ({ labels: { group: group.group }, tally: group.commitLatency })),
    );
    new TalliedHistogram(
      'stream_view_apply_latency_seconds',
      "For each changelog record a view read once ready: from its timestamp (its group's transaction) until the view held it and woke its readers",
      RECORD_LATENCY_BOUNDS,
      this.registry,
      () => streams.viewStatuses().map((view) => ({ labels: { table: view.table }, tally: view.applyLatency })),
    );
    new Gauge({
      name: 'stream_view_ready',
      help: '1 when the view has caught up with the changelog ends seen at start',
      labelNames: ['table'] as const,
      registers,
      collect() {
        this.reset();
        for (const view of streams.viewStatuses()) this.set({ table: view.table }, view.ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'stream_view_lag_records',
      help: 'Changelog records the view has not read yet, per partition',
      labelNames: ['table', 'partition'] as const,
      registers,
      collect() {
        this.reset();
        for (const view of streams.viewStatuses()) {
          for (const partition of view.partitions) this.set({ table: view.table, partition: partition.partition }, partition.lag);
        }
      },
    });
    new Gauge({
      name: 'stream_store_size_bytes',
      help: 'Approximate size on disk of the local store of an owned partition',
      labelNames: ['group', 'partition'] as const,
      registers,
      async collect() {
        this.reset();
        for (const { group, partition, bytes } of await streams.storeSizes()) this.set({ group, partition }, bytes);
      },
    });
    new Gauge({
      name: 'kafka_reachable',
      help: '1 when the last probe of the Kafka cluster answered',
      registers,
      collect() {
        this.set(streams.health().kafka ? 1 : 0);
      },
    });
  }
}
