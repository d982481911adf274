import { AdaptiveLimit } from './adaptive-limit.js';

describe(AdaptiveLimit.name, () => {
  const options = { max: 1000, min: 10, targetMs: 100, windowMs: 100 };

  /** One window: `count` requests answered after `latencyMs` each, spread over its 100 ms. */
  function window(sut: AdaptiveLimit, at: number, count: number, latencyMs: number): void {
    for (let i = 0; i < count; i++) sut.answer(latencyMs, at + Math.round(((i + 1) * 100) / count));
  }

  it('admits up to the maximum while latency stays under the target, however little is answered', () => {
    const sut = new AdaptiveLimit(options);
    window(sut, 0, 3, 20);

    expect(sut.limit).toBe(1000);
    expect(sut.admits(999)).toBe(true);
    expect(sut.admits(1000)).toBe(false);
  });

  it('admits what the service answers within the target once latency is over it (Little’s law)', () => {
    const sut = new AdaptiveLimit(options);
    // 40 answers per 100 ms = 400/s; within 100 ms that is 40 in flight.
    for (let at = 0; at < 2000; at += 100) window(sut, at, 40, 300);

    expect(sut.limit).toBeGreaterThanOrEqual(39);
    expect(sut.limit).toBeLessThanOrEqual(41);
  });

  it('never goes under the minimum, and lifts the limit once latency recovers', () => {
    const sut = new AdaptiveLimit(options);
    // 50 answers a second, each after 5 s: within 100 ms that is 5 in flight.
    for (let at = 0; at < 10_000; at += 20) sut.answer(5000, at);
    expect(sut.limit).toBe(10);

    window(sut, 10_000, 50, 20);
    expect(sut.limit).toBe(1000);
  });

  it('ignores a few slow answers within a window', () => {
    const sut = new AdaptiveLimit(options);
    for (let i = 0; i < 95; i++) sut.answer(20, 0);
    for (let i = 0; i < 5; i++) sut.answer(5000, 100);

    expect(sut.limit).toBe(1000);
  });

  it('judges no window on a handful of answers: a slow first answer after a quiet start limits nothing', () => {
    const sut = new AdaptiveLimit(options);
    // The service started long ago and was idle; its first answers are slow (a cold start).
    for (let i = 0; i < 20; i++) sut.answer(3000, 60_000 + i * 20);

    expect(sut.limit).toBe(1000);
  });

  it('leaves the time nothing was answered out of the rate, and the answers before it out of the window', () => {
    const sut = new AdaptiveLimit(options);
    // A few slow answers, then a quiet 10 s, then a busy service: 100 answers per 100 ms over target.
    for (let i = 0; i < 40; i++) sut.answer(500, i);
    window(sut, 10_000, 100, 300);
    window(sut, 10_100, 100, 300);

    // 1,000/s for 100 ms each: 100 in flight at once, not a rate diluted by the quiet 10 s.
    expect(sut.limit).toBeGreaterThanOrEqual(95);
    expect(sut.limit).toBeLessThanOrEqual(105);
  });
});
