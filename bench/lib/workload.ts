/**
 * Deposits the bench writes, and what the service must make of them. A workload is
 * deterministic (a seeded generator) and kept in typed arrays, so that 3M deposits cost a few
 * tens of MB; the expected balances, counts and flags are computed from it independently of
 * the service.
 */
import type { DepositSpec } from './kafka';

/** The service's rule, as configured by default: more than 10,000.00 within 120 s. */
export const THRESHOLD_MINOR = 1_000_000n;
export const WINDOW_MS = 120_000;

/** Deposit amounts are uniform in 0.01 … 1,500.00: with ~10 deposits per wallet, a few percent of wallets cross the threshold. */
export const MAX_AMOUNT_MINOR = 150_000;

/** Event times as if the API had accepted the deposits at this rate. */
const EVENTS_PER_MS = 10;

/** A small, fast, seeded PRNG (mulberry32). */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const walletName = (index: number) => `w${index.toString().padStart(7, '0')}`;

export class Workload {
  readonly wallet: Int32Array;
  readonly amount: Int32Array;
  readonly startMs: number;
  /** Prepended to every wallet id, so that workloads on one topic do not share wallets. */
  readonly namespace: string;

  /**
   * `count` deposits over `wallets` wallets: random wallets (or round-robin with `roundRobin`,
   * so each gets exactly count / wallets), random amounts, event times 10 per ms from now.
   */
  constructor(
    readonly count: number,
    readonly wallets: number,
    options: { seed?: number; roundRobin?: boolean; namespace?: string } = {},
  ) {
    const next = random(options.seed ?? 7);
    this.namespace = options.namespace ?? '';
    this.wallet = new Int32Array(count);
    this.amount = new Int32Array(count);
    for (let index = 0; index < count; index++) {
      this.wallet[index] = options.roundRobin ? index % wallets : Math.floor(next() * wallets);
      this.amount[index] = 1 + Math.floor(next() * MAX_AMOUNT_MINOR);
    }
    this.startMs = Date.now();
  }

  walletId(walletIndex: number): string {
    return `${this.namespace}${walletName(walletIndex)}`;
  }

  atMs(index: number): number {
    return this.startMs + Math.floor(index / EVENTS_PER_MS);
  }

  spec = (index: number): DepositSpec => ({
    walletId: this.walletId(this.wallet[index]),
    amountMinor: BigInt(this.amount[index]),
    acceptedAtMs: this.atMs(index),
  });

  /** Expected balance (minor units) and deposit count per wallet index. */
  expectedBalances(): { balance: Float64Array; count: Int32Array } {
    // Sums stay below 2^53, so doubles hold them exactly.
    const balance = new Float64Array(this.wallets);
    const count = new Int32Array(this.wallets);
    for (let index = 0; index < this.count; index++) {
      balance[this.wallet[index]] += this.amount[index];
      count[this.wallet[index]]++;
    }
    return { balance, count };
  }

  /** Per wallet index, whether some window (t − W, t] of its deposits sums to more than the threshold. */
  expectedFlags(): Uint8Array {
    // Deposits of one wallet, in event-time order (= index order): a two-pointer scan per wallet.
    const starts = new Int32Array(this.wallets + 1);
    for (let index = 0; index < this.count; index++) starts[this.wallet[index] + 1]++;
    for (let w = 0; w < this.wallets; w++) starts[w + 1] += starts[w];
    const fill = starts.slice(0, this.wallets);
    const byWallet = new Int32Array(this.count);
    for (let index = 0; index < this.count; index++) byWallet[fill[this.wallet[index]]++] = index;
    const flagged = new Uint8Array(this.wallets);
    const threshold = Number(THRESHOLD_MINOR);
    for (let w = 0; w < this.wallets; w++) {
      let first = starts[w];
      let sum = 0;
      for (let at = starts[w]; at < starts[w + 1]; at++) {
        const index = byWallet[at];
        sum += this.amount[index];
        while (this.atMs(byWallet[first]) <= this.atMs(index) - WINDOW_MS) sum -= this.amount[byWallet[first++]];
        if (sum > threshold) {
          flagged[w] = 1;
          break;
        }
      }
    }
    return flagged;
  }
}
