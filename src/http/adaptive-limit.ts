/**
 * An adaptive limit on concurrent requests (AIMD on latency, the shape of Netflix's
 * concurrency-limits and Envoy's adaptive concurrency filter): every window, when the 90th
 * percentile of the answered requests' latencies is over the target, the limit shrinks to nine
 * tenths of the requests that were in flight; when it is under and the service used most of its limit, it grows by a twentieth. A
 * request over the limit is refused at once (503 + Retry-After) rather than left waiting.
 */
export interface AdaptiveLimitOptions {
  /** The limit never goes over this (MAX_IN_FLIGHT_REQUESTS) … */
  max: number;
  /** … nor under this. */
  min: number;
  /** Latency the 90th percentile should stay under, in ms. */
  targetMs: number;
  /** How often the limit is reconsidered, in ms. */
  windowMs?: number;
}

export class AdaptiveLimit {
  private current: number;
  private readonly samples: number[] = [];
  private windowStart: number;
  private busiest = 0;
  private readonly windowMs: number;

  constructor(
    private readonly options: AdaptiveLimitOptions,
    now = Date.now(),
  ) {
    this.current = options.max;
    this.windowStart = now;
    this.windowMs = options.windowMs ?? 250;
  }

  /** Requests allowed in flight now. */
  get limit(): number {
    return Math.floor(this.current);
  }

  /** Whether one more request may start while `inFlight` are running. */
  admits(inFlight: number): boolean {
    if (inFlight + 1 > this.busiest) this.busiest = inFlight + 1;
    return inFlight < this.limit;
  }

  /** A request was answered after `latencyMs`. */
  sample(latencyMs: number, now = Date.now()): void {
    this.samples.push(latencyMs);
    if (now - this.windowStart < this.windowMs) return;
    const sorted = this.samples.sort((a, b) => a - b);
    const p90 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))];
    // A limit above what was in flight restrains nothing: shrink from what was.
    if (p90 > this.options.targetMs) this.current = Math.max(this.options.min, Math.min(this.current, this.busiest) * 0.9);
    else if (this.busiest >= this.current * 0.8) this.current = Math.min(this.options.max, this.current * 1.05 + 1);
    this.samples.length = 0;
    this.busiest = 0;
    this.windowStart = now;
  }
}
