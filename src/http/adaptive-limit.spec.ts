import { AdaptiveLimit } from './adaptive-limit.js';

describe(AdaptiveLimit.name, () => {
  const options = { max: 1000, min: 10, targetMs: 100, windowMs: 100 };

  /** One window: `count` requests answered after `latencyMs` each. */
  function window(sut: AdaptiveLimit, at: number, count: number, latencyMs: number): void {
    for (let i = 0; i < count; i++) sut.answer(latencyMs, at + (i === count - 1 ? 100 : 0));
  }

  it('admits up to the maximum while latency stays under the target, however little is answered', () => {
    const sut = new AdaptiveLimit(options, 0);
    window(sut, 0, 3, 20);

    expect(sut.limit).toBe(1000);
    expect(sut.admits(999)).toBe(true);
    expect(sut.admits(1000)).toBe(false);
  });

  it('admits what the service answers within the target once latency is over it (Little’s law)', () => {
    const sut = new AdaptiveLimit(options, 0);
    // 40 answers per 100 ms = 400/s; within 100 ms that is 40 in flight.
    for (let at = 0; at < 2000; at += 100) window(sut, at, 40, 300);

    expect(sut.limit).toBeGreaterThanOrEqual(39);
    expect(sut.limit).toBeLessThanOrEqual(41);
  });

  it('never goes under the minimum, and lifts the limit once latency recovers', () => {
    const sut = new AdaptiveLimit(options, 0);
    for (let at = 0; at < 2000; at += 100) window(sut, at, 1, 5000);
    expect(sut.limit).toBe(10);

    window(sut, 2000, 50, 20);
    expect(sut.limit).toBe(1000);
  });

  it('ignores a few slow answers within a window', () => {
    const sut = new AdaptiveLimit(options, 0);
    for (let i = 0; i < 95; i++) sut.answer(20, 0);
    for (let i = 0; i < 5; i++) sut.answer(5000, 100);

    expect(sut.limit).toBe(1000);
  });
});
