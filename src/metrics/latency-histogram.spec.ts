import { Histogram, Registry } from 'prom-client';
import { LatencyTally, addCounts } from '../streams/latency-tally.js';
import { LatencyHistogram, TalliedHistogram } from './latency-histogram.js';

const BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

describe(LatencyHistogram.name, () => {
  it("writes what prom-client's Histogram writes for the same observations", async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const reference = new Histogram({ name: 'http_request_duration_seconds', help: 'latency', labelNames: ['method', 'route', 'status'], buckets: BOUNDS, registers: [theirs] });
    const histogram = new LatencyHistogram('http_request_duration_seconds', 'latency', BOUNDS, ours);
    const observations: Array<[Record<string, string>, number]> = [
      [{ method: 'GET', route: '/check/:wallet_id', status: '200' }, 0.0004],
      [{ method: 'GET', route: '/check/:wallet_id', status: '200' }, 0.001],
      [{ method: 'GET', route: '/check/:wallet_id', status: '200' }, 0.0123],
      [{ method: 'POST', route: '/deposit', status: '202' }, 0.25],
      [{ method: 'POST', route: '/deposit', status: '202' }, 12.5],
      [{ method: 'GET', route: 'unmatched', status: '404' }, 0],
      [{ method: 'GET', route: '/check/:wallet_id', status: '200' }, 3.2],
    ];
    for (const [labels, seconds] of observations) {
      reference.observe(labels, seconds);
      histogram.series(labels).observe(seconds);
    }

    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).toContain('http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/deposit",status="202"} 2');
  });

  it('keeps one series per set of labels, and forgets them all on reset', async () => {
    const registry = new Registry();
    const histogram = new LatencyHistogram('latency_seconds', 'latency', [1], registry);
    expect(histogram.series({ route: '/a' })).toBe(histogram.series({ route: '/a' }));
    histogram.series({ route: '/a' }).observe(2);
    registry.resetMetrics();

    expect(await registry.metrics()).not.toContain('latency_seconds_count');
  });

  it('counts again, from zero, in a series kept across a reset', async () => {
    const registry = new Registry();
    const kept = new LatencyHistogram('latency_seconds', 'latency', [1], registry).series({ route: '/a' });
    kept.observe(2);
    kept.observe(0.5);
    registry.resetMetrics();
    kept.observe(0.25);

    const text = await registry.metrics();
    expect(text).toContain('latency_seconds_count{route="/a"} 1');
    expect(text).toContain('latency_seconds_bucket{le="1",route="/a"} 1');
    expect(text).toContain('latency_seconds_sum{route="/a"} 0.25');
  });

  it("shows counts kept elsewhere (two threads' tallies of one group, added) as prom-client's Histogram would show the same observations", async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const reference = new Histogram({ name: 'stream_group_commit_latency_seconds', help: 'latency', labelNames: ['group'], buckets: [0.05, 0.1, 1], registers: [theirs] });
    const threads = [new LatencyTally([0.05, 0.1, 1]), new LatencyTally([0.05, 0.1, 1])];
    new TalliedHistogram('stream_group_commit_latency_seconds', 'latency', [0.05, 0.1, 1], ours, () => [
      { labels: { group: 'balance' }, tally: addCounts(threads[0].snapshot(), threads[1].snapshot()) },
    ]);
    for (const [thread, seconds] of [[0, 0.03125], [1, 0.0625], [0, 0.0625], [1, 2.5], [0, 0.125]] as const) {
      threads[thread].observe(seconds);
      reference.observe({ group: 'balance' }, seconds);
    }

    expect(await ours.metrics()).toBe(await theirs.metrics());
    // Read again at each scrape: what was counted since shows.
    threads[1].observe(0.5);
    expect(await ours.metrics()).toContain('stream_group_commit_latency_seconds_bucket{le="1",group="balance"} 5');
  });
});
