import { create } from '@bufbuild/protobuf';
import { type WindowState, WindowEntrySchema } from '../gen/depositaja/v1/threshold_pb.js';

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
}

/** Whether the window holds the deposit with this id (a retry of a deposit sent with a key). */
export function holdsDeposit(state: WindowState, depositId: string): boolean {
  return state.entries.some((entry) => entry.depositId === depositId);
}

/**
 * Adds a deposit at event time `atMs` to the wallet's window, in place, and evaluates every
 * window that contains it.
 *
 * The state keeps the deposits of the window ending at the latest event time seen, with their
 * sum, so a deposit that arrives in event-time order costs O(1) amortised: push, drop what fell
 * out, compare the sum. One that arrives late (API instances' clocks differ by milliseconds)
 * is checked against every window ending at a retained deposit in [atMs, atMs + window).
 * A deposit accepted no later than the last manual unflag is not counted: the admin saw it.
 */
export function addToWindow(state: WindowState, atMs: bigint, amountMinor: bigint, rule: WindowRule, depositId = ''): WindowVerdict {
  if (atMs <= state.resetAtMs) return { crossed: false, sumMinor: 0n };
  const entry = create(WindowEntrySchema, { atMs, amountMinor, depositId });

  if (atMs >= state.maxAtMs) {
    state.entries.push(entry);
    state.windowSumMinor += amountMinor;
    state.maxAtMs = atMs;
    dropBefore(state, atMs - rule.windowMs);
    return { crossed: state.windowSumMinor > rule.thresholdMinor, sumMinor: state.windowSumMinor };
  }

  // Late: evaluate the windows ending at the deposit itself and at every later retained deposit
  // less than one window after it.
  const inCurrentWindow = atMs > state.maxAtMs - rule.windowMs;
  const candidates = [...state.entries, entry].sort((a, b) => (a.atMs < b.atMs ? -1 : a.atMs > b.atMs ? 1 : 0));
  let best = 0n;
  for (const end of candidates) {
    if (end.atMs < atMs || end.atMs >= atMs + rule.windowMs) continue;
    let sum = 0n;
    for (const other of candidates) if (other.atMs > end.atMs - rule.windowMs && other.atMs <= end.atMs) sum += other.amountMinor;
    if (sum > best) best = sum;
  }
  if (inCurrentWindow) {
    state.entries.splice(insertionIndex(state, atMs), 0, entry);
    state.windowSumMinor += amountMinor;
  }
  return { crossed: best > rule.thresholdMinor, sumMinor: best };
}

/** Forgets the window (after a flag: nothing more to detect; after an unflag: a fresh start). */
export function clearWindow(state: WindowState): void {
  state.entries = [];
  state.windowSumMinor = 0n;
}

function dropBefore(state: WindowState, boundaryMs: bigint): void {
  let drop = 0;
  while (drop < state.entries.length && state.entries[drop].atMs <= boundaryMs) {
    state.windowSumMinor -= state.entries[drop].amountMinor;
    drop++;
  }
  if (drop > 0) state.entries.splice(0, drop);
}

function insertionIndex(state: WindowState, atMs: bigint): number {
  let index = state.entries.length;
  while (index > 0 && state.entries[index - 1].atMs > atMs) index--;
  return index;
}
