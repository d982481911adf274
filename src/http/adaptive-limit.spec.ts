import { AdaptiveLimit } from './adaptive-limit.js';

describe(AdaptiveLimit.name, () => {
  const options = { max: 1000, min: 10, targetMs: 100, windowMs: 100 };

  /** One window of `count` requests answered after `latencyMs`, with `inFlight` of them at once. */
  function window(sut: AdaptiveLimit, at: number, count: number, latencyMs: number, inFlight: number): void {
    for (let i = 0; i < inFlight; i++) sut.admits(i);
    for (let i = 0; i < count; i++) sut.sample(latencyMs, at + (i === count - 1 ? 100 : 0));
  }

  it('admits up to the maximum while latency stays under the target', () => {
    const sut = new AdaptiveLimit(options, 0);
    window(sut, 0, 50, 20, 900);

    expect(sut.limit).toBe(1000);
    expect(sut.admits(999)).toBe(true);
    expect(sut.admits(1000)).toBe(false);
  });

  it('shrinks from what was in flight when the 90th percentile is over the target, down to the minimum', () => {
    const sut = new AdaptiveLimit(options, 0);
    window(sut, 0, 50, 300, 400);
    expect(sut.limit).toBe(360);

    for (let at = 100; at < 10_000; at += 100) window(sut, at, 50, 300, sut.limit);
    expect(sut.limit).toBe(10);
    expect(sut.admits(10)).toBe(false);
  });

  it('grows back when latency recovers and the limit is in use', () => {
    const sut = new AdaptiveLimit(options, 0);
    window(sut, 0, 50, 300, 100);
    const shrunk = sut.limit;
    window(sut, 100, 50, 20, 10);
    expect(sut.limit).toBe(shrunk); // not in use: no reason to grow

    for (let at = 200; at < 20_000; at += 100) window(sut, at, 50, 20, sut.limit);
    expect(sut.limit).toBe(1000);
  });

  it('ignores a few slow answers within a window', () => {
    const sut = new AdaptiveLimit(options, 0);
    for (let i = 0; i < 95; i++) sut.sample(20, 0);
    for (let i = 0; i < 5; i++) sut.sample(5000, 100);

    expect(sut.limit).toBe(1000);
  });
});
