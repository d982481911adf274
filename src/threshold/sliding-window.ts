import type { WindowEntry, WindowState } from '../gen/depositaja/v1/threshold_pb.js';

/** The rule: flagged when deposits with event times in some window (t − windowMs, t] sum to more than thresholdMinor. */
export interface WindowRule {
  thresholdMinor: bigint;
  windowMs: bigint;
}

export interface WindowVerdict {
  /** Whether some window containing the deposit now sums to more than the threshold. */
  crossed: boolean;
  /** The largest sum of a window containing the deposit, minor units. */
  sumMinor: bigint;
  /**
   * When crossed: the latest start of a crossing that contains the deposit, i.e. the event time
   * of the oldest deposit of the shortest run of deposits, ending at some window's end, that
   * sums to more than the threshold. A manual unflag before it does not undo the crossing.
   */
  startMs: bigint;
}

const NOT_CROSSED = (sumMinor: bigint): WindowVerdict => ({ crossed: false, sumMinor, startMs: 0n });

/** A window entry. Written out rather than through protobuf-es's `create`, which is reflective: this runs per deposit. */
export const windowEntry = (atMs: bigint, amountMinor: bigint): WindowEntry => ({ $typeName: 'depositaja.v1.WindowEntry', atMs, amountMinor });

/**
 * Adds a deposit at event time `atMs` to the wallet's window, in place, and evaluates every
 * window that contains it.
 *
 * The state keeps the deposits of the window ending at the latest event time seen, with their
 * sum, so a deposit that arrives in event-time order costs O(1) amortised: push, drop what fell
 * out, compare the sum. Once the sum is over the threshold, the oldest deposits that the newer
 * ones do not need to stay over it are dropped too: no later window can start a crossing before
 * them. One that arrives late (API instances' clocks differ by milliseconds) is checked against
 * every window ending at a retained deposit in [atMs, atMs + window).
 * A deposit accepted no later than the last manual unflag is not counted: the admin saw it.
 */
export function addToWindow(state: WindowState, atMs: bigint, amountMinor: bigint, rule: WindowRule): WindowVerdict {
  if (atMs <= state.resetAtMs) return NOT_CROSSED(0n);
  const entry = windowEntry(atMs, amountMinor);

  if (atMs >= state.maxAtMs) {
    state.entries.push(entry);
    state.windowSumMinor += amountMinor;
    state.maxAtMs = atMs;
    const boundaryMs = atMs - rule.windowMs;
    let fallenOut = 0;
    while (fallenOut < state.entries.length && state.entries[fallenOut].atMs <= boundaryMs) state.windowSumMinor -= state.entries[fallenOut++].amountMinor;
    if (fallenOut > 0) state.entries.splice(0, fallenOut);
    const sumMinor = state.windowSumMinor;
    if (sumMinor <= rule.thresholdMinor) return NOT_CROSSED(sumMinor);
    keepShortestCrossing(state, rule);
    return { crossed: true, sumMinor, startMs: state.entries[0].atMs };
  }

  // Late: evaluate the windows ending at the deposit itself and at every later retained deposit
  // less than one window after it.
  const candidates = [...state.entries, entry].sort((a, b) => (a.atMs < b.atMs ? -1 : a.atMs > b.atMs ? 1 : 0));
  const verdict = NOT_CROSSED(0n);
  for (let end = 0; end < candidates.length; end++) {
    const endMs = candidates[end].atMs;
    if (endMs < atMs || endMs >= atMs + rule.windowMs) continue;
    let sum = 0n;
    let startMs = 0n;
    for (let i = end; i >= 0 && candidates[i].atMs > endMs - rule.windowMs; i--) {
      sum += candidates[i].amountMinor;
      if (startMs === 0n && sum > rule.thresholdMinor) startMs = candidates[i].atMs;
    }
    if (sum > verdict.sumMinor) verdict.sumMinor = sum;
    if (startMs > verdict.startMs) verdict.startMs = startMs;
  }
  verdict.crossed = verdict.startMs > 0n;
  if (atMs > state.maxAtMs - rule.windowMs) {
    let index = state.entries.length;
    while (index > 0 && state.entries[index - 1].atMs > atMs) index--;
    state.entries.splice(index, 0, entry);
    state.windowSumMinor += amountMinor;
    if (state.windowSumMinor > rule.thresholdMinor) keepShortestCrossing(state, rule);
  }
  return verdict;
}

/** A manual unflag at `resetAtMs`: the deposits accepted up to then no longer count. */
export function forgetUntil(state: WindowState, resetAtMs: bigint): void {
  let count = 0;
  while (count < state.entries.length && state.entries[count].atMs <= resetAtMs) count++;
  retire(state, count);
}

/** Drops the oldest entries while the rest still sum to more than the threshold. */
function keepShortestCrossing(state: WindowState, rule: WindowRule): void {
  let count = 0;
  let sum = state.windowSumMinor;
  while (count < state.entries.length && sum - state.entries[count].amountMinor > rule.thresholdMinor) sum -= state.entries[count++].amountMinor;
  retire(state, count);
}

/** Takes the `count` oldest entries out of the window and its sum. */
function retire(state: WindowState, count: number): void {
  if (count === 0) return;
  for (let i = 0; i < count; i++) state.windowSumMinor -= state.entries[i].amountMinor;
  state.entries.splice(0, count);
}
