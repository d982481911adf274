/**
 * An adaptive limit on concurrent requests, from Little's law: a service that answers R
 * requests per second and holds L in flight keeps each waiting L / R seconds. While the answered
 * requests' 90th percentile latency is over a target T, at most R × T may be in flight (R
 * measured: answered requests per second, smoothed over windows of `windowMs`); past that, a
 * request is refused at once (503 + Retry-After) rather than left waiting. While latency is
 * under T, there is no limit but `max`: a quiet service is not one that cannot do more.
 *
 * Why not AIMD on latency (Netflix's concurrency-limits, Envoy): on one event loop, refusing a
 * request costs a turn of the loop too, so refusing more does not lower the latency of the
 * admitted ones; against clients that retry at once, the limit fell to its minimum and refused
 * 95 % of 2,000 clients. A limit tied to throughput cannot collapse that way.
 */
export interface AdaptiveLimitOptions {
  /** The limit never goes over this (MAX_IN_FLIGHT_REQUESTS) … */
  max: number;
  /** … nor under this. */
  min: number;
  /** The longest a request should wait because of the others in flight, in ms. */
  targetMs: number;
  /** How often the rate is measured, in ms. */
  windowMs?: number;
}

/** Weight of the newest window in the smoothed rate. */
const SMOOTHING = 0.3;

/**
 * Answers a window needs before it is judged: the 90th percentile of a handful is not one. A
 * service just started under a thousand clients judged its first window on its first answer:
 * one slow answer over the whole time since it started made a rate near zero and a limit of
 * `min`, and the clients of the next quarter second were refused.
 */
const MIN_ANSWERS = 50;

// Made once: a comparator made per call is optimized by V8 anew after every full collection.
const ascending = (a: number, b: number) => a - b;

export class AdaptiveLimit {
  private current: number;
  private readonly latencies: number[] = [];
  private windowStart = 0;
  private lastAnswerAt = -Infinity;
  private ratePerSecond?: number;
  private readonly windowMs: number;

  constructor(private readonly options: AdaptiveLimitOptions) {
    this.current = options.max;
    this.windowMs = options.windowMs ?? 250;
  }

  /** Requests allowed in flight now. */
  get limit(): number {
    return Math.floor(this.current);
  }

  /** Whether one more request may start while `inFlight` are running. */
  admits(inFlight: number): boolean {
    return inFlight < this.limit;
  }

  /** An admitted request was answered after `latencyMs`. */
  answer(latencyMs: number, now = Date.now()): void {
    // After a quiet spell (or at start) a window begins with its first answer: the time nothing
    // was answered is no part of the rate, and the few answers before it no part of the window.
    if (now - this.lastAnswerAt > this.windowMs) {
      this.latencies.length = 0;
      this.windowStart = now;
    }
    this.lastAnswerAt = now;
    this.latencies.push(latencyMs);
    const elapsed = now - this.windowStart;
    if (elapsed < this.windowMs || this.latencies.length < MIN_ANSWERS) return;
    const rate = (this.latencies.length * 1000) / elapsed;
    this.ratePerSecond = this.ratePerSecond === undefined ? rate : SMOOTHING * rate + (1 - SMOOTHING) * this.ratePerSecond;
    const sorted = this.latencies.sort(ascending);
    const p90 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))];
    const sustainable = (this.ratePerSecond * this.options.targetMs) / 1000;
    this.current = p90 > this.options.targetMs ? Math.min(this.options.max, Math.max(this.options.min, sustainable)) : this.options.max;
    this.latencies.length = 0;
    this.windowStart = now;
  }
}
