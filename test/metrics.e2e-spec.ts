import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, testKafka, uniquePrefix } from './support/kafka.js';
import { Service, scratchDir } from './support/service.js';

const PARTITIONS = 6;
const GROUPS = ['balance', 'threshold', 'flagger'];
const VIEWS = ['balance-deposits-table', 'balance-table', 'flagger-table', 'threshold-table'];

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of metric `name` in a Prometheus text exposition. */
function samples(exposition: string, name: string): Sample[] {
  const found: Sample[] = [];
  for (const line of exposition.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, label, value]) => [label, value]));
    found.push({ labels, value: Number(match[3]) });
  }
  return found;
}

/** The value of the one sample of `name` whose labels include `labels`; undefined without one. */
function value(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const matching = samples(exposition, name).filter((sample) => Object.entries(labels).every(([label, wanted]) => sample.labels[label] === wanted));
  if (matching.length > 1) throw new Error(`${matching.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matching[0]?.value;
}

const sum = (found: Sample[]) => found.reduce((total, sample) => total + sample.value, 0);

/**
 * GET /metrics after a known workload on the real service: every count is the one the workload
 * makes, and the streams core's gauges describe what the process runs.
 */
describe('GET /metrics', () => {
  const prefix = uniquePrefix('metrics');
  const data = scratchDir('metrics');
  const wallet = (name: string) => `${name}-${Math.random().toString(36).slice(2, 10)}`;
  let sut: Service;

  beforeAll(async () => {
    sut = await Service.start('metrics', { entry: 'main', topicPrefix: prefix, dataDir: join(data, 'service'), env: { KAFKA_PARTITIONS: String(PARTITIONS) } });
  }, 90_000);

  afterAll(async () => {
    await sut?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  it('counts deposits, refusals, requests and dead letters, and shows lag, readiness and stores', async () => {
    const N = 5;
    const keyed = wallet('keyed');
    const accepted = [];
    for (let i = 0; i < N - 1; i++) accepted.push(await sut.deposit(wallet('plain'), 10 + i));
    accepted.push(await sut.deposit(keyed, 25, { 'Idempotency-Key': 'order-1' }));
    const replay = await sut.deposit(keyed, 25, { 'Idempotency-Key': 'order-1' });
    const conflict = await sut.deposit(keyed, 26, { 'Idempotency-Key': 'order-1' });
    const invalid = [
      await sut.deposit(wallet('zero'), 0),
      await sut.request('POST', '/deposit', '{"wallet_id": "w", "amount": ', { 'content-type': 'application/json' }),
      await sut.request('POST', '/deposit', 'hello', { 'content-type': 'text/plain' }),
    ];
    const poison = wallet('poison');
    const producer = testKafka().producer();
    await producer.connect();
    await producer.send({ topic: `${prefix}deposit`, messages: [{ key: poison, value: Buffer.from([0xff, 0xff, 0xff]) }] });
    await producer.disconnect();
    const last = accepted[N - 1];
    const checked = await sut.check(keyed, `?token=${last.body.token}`);
    const unknown = [await sut.request('GET', `/no/such/${keyed}`), await sut.request('HEAD', `/check/${keyed}`)];

    expect(accepted.map((response) => response.status)).toEqual(Array(N).fill(202));
    expect([replay.status, conflict.status]).toEqual([202, 409]);
    expect(invalid.map((response) => response.status)).toEqual([422, 400, 415]);
    expect(checked.body).toMatchObject({ balance: 25 });
    expect(unknown.map((response) => response.status)).toEqual([404, 200]);

    let text = '';
    await eventually('the dead letter and caught-up groups in /metrics', async () => {
      text = (await sut.request('GET', '/metrics')).body;
      const lags = samples(text, 'stream_group_lag_records').filter((sample) => sample.labels.topic === 'deposit');
      const deadLetters = (group: string) => sum(samples(text, 'stream_group_dead_letters').filter((sample) => sample.labels.group === group));
      return (
        deadLetters('balance') >= 1 &&
        deadLetters('threshold') >= 1 &&
        (value(text, 'stream_group_records_processed_total', { group: 'balance' }) ?? 0) >= N &&
        (value(text, 'stream_view_apply_latency_seconds_count', { table: 'balance-table' }) ?? 0) >= N &&
        lags.length > 0 &&
        lags.every((sample) => sample.value === 0)
      );
    });

    // Deposits: the replay is answered but not counted again; refusals by reason.
    expect(value(text, 'deposits_accepted_total')).toBe(N);
    expect(value(text, 'deposit_produce_duration_seconds_count')).toBe(N);
    expect(value(text, 'deposits_rejected_total', { reason: 'invalid' })).toBe(3);
    expect(value(text, 'deposits_rejected_total', { reason: 'conflict' })).toBe(1);
    expect(value(text, 'deposits_rejected_total', { reason: 'unavailable' })).toBe(0);

    // HTTP, by method, route (the pattern, not the path) and status, with latency histograms.
    const deposits = (status: string) => value(text, 'http_requests_total', { method: 'POST', route: '/deposit', status });
    expect([deposits('202'), deposits('409'), deposits('422'), deposits('400'), deposits('415')]).toEqual([N + 1, 1, 1, 1, 1]);
    expect(value(text, 'http_requests_total', { method: 'GET', route: '/check/:wallet_id', status: '200' })).toBe(1);
    expect(value(text, 'http_requests_total', { method: 'HEAD', route: '/check/:wallet_id', status: '200' })).toBe(1);
    expect(value(text, 'http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(value(text, 'http_request_duration_seconds_count', { method: 'POST', route: '/deposit', status: '202' })).toBe(N + 1);
    expect(value(text, 'http_request_duration_seconds_bucket', { method: 'POST', route: '/deposit', status: '202', le: '+Inf' })).toBe(N + 1);
    expect(samples(text, 'http_requests_total').some((sample) => sample.labels.route.includes(keyed))).toBe(false);

    // The streams core: groups, partitions, dead letters, restoration, views, stores.
    for (const group of GROUPS) {
      expect(value(text, 'stream_group_running', { group })).toBe(1);
      expect(value(text, 'stream_group_partitions', { group, state: 'running' })).toBe(PARTITIONS);
      expect(value(text, 'stream_group_partitions', { group, state: 'restoring' })).toBe(0);
      // Every offset commit went through: the lag counts from where the group is.
      expect(value(text, 'stream_group_offset_commit_failures', { group })).toBe(0);
      expect(samples(text, 'stream_partition_restore_ratio').filter((sample) => sample.labels.group === group).map((sample) => sample.value)).toEqual(
        Array(PARTITIONS).fill(1),
      );
      expect(samples(text, 'stream_store_size_bytes').filter((sample) => sample.labels.group === group)).toHaveLength(PARTITIONS);
    }
    expect(value(text, 'stream_group_records_processed_total', { group: 'balance' })).toBe(N);
    expect(sum(samples(text, 'stream_group_dead_letters').filter((sample) => sample.labels.group === 'balance'))).toBe(1);
    expect(sum(samples(text, 'stream_group_dead_letters').filter((sample) => sample.labels.group === 'threshold'))).toBe(1);
    expect(samples(text, 'stream_group_lag_records').filter((sample) => sample.labels.group === 'balance' && sample.labels.topic === 'deposit').length).toBeGreaterThan(0);
    for (const table of VIEWS) {
      expect(value(text, 'stream_view_ready', { table })).toBe(1);
      expect(samples(text, 'stream_view_lag_records').filter((sample) => sample.labels.table === table)).toHaveLength(PARTITIONS);
    }
    expect(value(text, 'kafka_reachable')).toBe(1);
    // Freshness: each record the balance group took (the deposits and the poison record) counted
    // once, from its timestamp to its commit; none of them a minute old. The balance view read a
    // changelog record per deposit (each to another wallet).
    expect(value(text, 'stream_group_commit_latency_seconds_count', { group: 'balance' })).toBe(N + 1);
    expect(value(text, 'stream_group_commit_latency_seconds_bucket', { group: 'balance', le: '60' })).toBe(N + 1);
    expect(value(text, 'stream_view_apply_latency_seconds_count', { table: 'balance-table' })).toBe(N);
    expect(value(text, 'stream_view_apply_latency_seconds_bucket', { table: 'balance-table', le: '60' })).toBe(N);

    // Node's own.
    expect(value(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(value(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(text).toContain('# TYPE stream_group_records_processed_total counter');

    // Every metric the Grafana dashboard queries is one the service exposes.
    const dashboard = readFileSync('docs/grafana-dashboard.json', 'utf8');
    const queried = new Set([...dashboard.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{instance=~/g)].map(([, name]) => name));
    expect(queried.size).toBeGreaterThan(10);
    expect([...queried].filter((name) => samples(text, name).length === 0)).toEqual([]);
  }, 120_000);
});
