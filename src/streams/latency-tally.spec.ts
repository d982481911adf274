import { LatencyTally, addCounts, secondsSince } from './latency-tally.js';

describe(LatencyTally.name, () => {
  it('counts each duration in the first bucket whose bound it does not pass, and past the last in +Inf', () => {
    const tally = new LatencyTally([0.1, 1]);
    for (const seconds of [0, 0.1, 0.100001, 1, 7]) tally.observe(seconds);

    expect(tally.snapshot()).toEqual({ counts: [2, 2, 1], sum: 8.200001, count: 5 });
  });

  it('adds the counts of two tallies with the same bounds', () => {
    const a = new LatencyTally([0.1]);
    const b = new LatencyTally([0.1]);
    a.observe(0.05);
    b.observe(0.5);
    b.observe(0.01);

    expect(addCounts(a.snapshot(), b.snapshot())).toEqual({ counts: [2, 1], sum: 0.56, count: 3 });
  });

  it("counts every item of a batch, reading at most 64 items' latencies, each standing for those up to the next", () => {
    const small = new LatencyTally([0.1, 1]);
    const read: number[] = [];
    small.observeSpread(3, (index) => (read.push(index), [0.05, 0.5, undefined][index]));
    const large = new LatencyTally([0.1, 1]);
    let reads = 0;
    // 1,000 records, the oldest first: the first half 2 s old, the rest 0.05 s.
    large.observeSpread(1000, (index) => (reads++, index < 500 ? 2 : 0.05));

    expect(read).toEqual([0, 1, 2]);
    expect(small.snapshot()).toEqual({ counts: [1, 1, 0], sum: 0.55, count: 2 });
    expect(reads).toBe(63);
    expect(large.count).toBe(1000);
    expect(large.counts[2] / 1000).toBeCloseTo(0.5, 1);
  });

  it('takes the seconds since a timestamp, none for a record without one, and no less than 0', () => {
    expect(secondsSince(1_000, 3_500)).toBe(2.5);
    expect(secondsSince(-1, 3_500)).toBeUndefined();
    expect(secondsSince(undefined, 3_500)).toBeUndefined();
    expect(secondsSince(4_000, 3_500)).toBe(0);
  });
});
