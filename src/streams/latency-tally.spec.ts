import { LatencyTally, addCounts } from './latency-tally.js';

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
});
