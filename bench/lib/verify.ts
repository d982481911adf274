/**
 * What the service must have computed, and the check against what it did: the latest value of
 * every wallet in the balance-table and flagger-table changelogs (the tables that views and
 * restoration read), read by the bench's own consumer.
 */
import type { Admin, Kafka } from 'kafkajs';
import { exceedsInSomeWindow } from '../../scripts/lib/threshold-rule';
import { topics } from '../../src/contracts/topic-map';
import { type DepositSpec, readTable } from './kafka';
import { THRESHOLD_MINOR, WINDOW_MS, type Workload } from './workload';

export interface Verdict {
  ok: boolean;
  /** Wallets checked, and how many were wrong (balance, count or flag). */
  wallets: number;
  wrong: number;
  flagged: number;
  /** Deposits whose request got no answer (outcome unknown), and how many of them the service counted. */
  uncertain: number;
  uncertainCounted: number;
  problems: string[];
}

interface WalletExpectation {
  balanceMinor: bigint;
  count: number;
  flagged: boolean;
  /** The deposits themselves, for wallets outside the workload. */
  deposits: DepositSpec[];
  /** Deposits that may or may not have reached Kafka. */
  uncertain: DepositSpec[];
}

/** The expected state of every wallet: a workload, plus deposits written on top of it. */
export class Expectation {
  private readonly extras = new Map<string, { certain: DepositSpec[]; uncertain: DepositSpec[] }>();

  constructor(readonly workload?: Workload) {}

  private extra(walletId: string) {
    let entry = this.extras.get(walletId);
    if (!entry) this.extras.set(walletId, (entry = { certain: [], uncertain: [] }));
    return entry;
  }

  /** A deposit Kafka took (acknowledged, or written by the bench). */
  add(deposit: DepositSpec): void {
    this.extra(deposit.walletId).certain.push(deposit);
  }

  /**
   * A deposit whose request got no answer, or an answer that leaves its fate open (the client
   * stopped waiting; 503): it may count once, or not at all.
   */
  addUncertain(deposit: DepositSpec): void {
    this.extra(deposit.walletId).uncertain.push(deposit);
  }

  /** wallet id → what it must show. */
  wallets(): Map<string, WalletExpectation> {
    const expected = new Map<string, WalletExpectation>();
    if (this.workload) {
      const { balance, count } = this.workload.expectedBalances();
      const flags = this.workload.expectedFlags();
      for (let w = 0; w < this.workload.wallets; w++) {
        if (count[w] > 0) {
          expected.set(this.workload.walletId(w), { balanceMinor: BigInt(balance[w]), count: count[w], flagged: flags[w] === 1, deposits: [], uncertain: [] });
        }
      }
    }
    for (const [walletId, { certain, uncertain }] of this.extras) {
      if (expected.has(walletId)) throw new Error(`extra deposits must go to wallets of their own (${walletId})`);
      expected.set(walletId, {
        balanceMinor: certain.reduce((sum, deposit) => sum + deposit.amountMinor, 0n),
        count: certain.length,
        flagged: exceedsInSomeWindow(certain, THRESHOLD_MINOR, WINDOW_MS),
        deposits: certain,
        uncertain,
      });
    }
    return expected;
  }
}

/** The deposits of unknown outcome that, added to the certain ones, give exactly `balance` in `count`; undefined when none do. */
function matchingSubset(want: WalletExpectation, balanceMinor: bigint, count: number): DepositSpec[] | undefined {
  const candidates = want.uncertain.slice(0, 12);
  for (let mask = 0; mask < 1 << candidates.length; mask++) {
    const chosen = candidates.filter((_, index) => mask & (1 << index));
    const sum = chosen.reduce((total, deposit) => total + deposit.amountMinor, want.balanceMinor);
    if (sum === balanceMinor && want.count + chosen.length === count) return chosen;
  }
  return undefined;
}

/** Compares every wallet of the service's tables (under `prefix`) with the expectation. */
export async function verifyTables(kafka: Kafka, admin: Admin, prefix: string, expectation: Expectation): Promise<Verdict> {
  const [balances, flags] = await Promise.all([
    readTable(kafka, admin, `${prefix}${topics.balanceTable.name}`, (bytes) => topics.balanceTable.codec.decode(bytes)),
    readTable(kafka, admin, `${prefix}${topics.flaggerTable.name}`, (bytes) => topics.flaggerTable.codec.decode(bytes)),
  ]);
  const expected = expectation.wallets();
  const problems: string[] = [];
  const wrongWallets = new Set<string>();
  const problem = (walletId: string, text: string) => {
    wrongWallets.add(walletId);
    if (problems.length < 20) problems.push(`${walletId}: ${text}`);
  };
  let flagged = 0;
  let uncertain = 0;
  let uncertainCounted = 0;
  for (const [walletId, want] of expected) {
    const got = balances.get(walletId);
    const gotBalance = got?.balanceMinor ?? 0n;
    const gotCount = Number(got?.depositCount ?? 0n);
    const isFlagged = flags.get(walletId)?.flagged ?? false;
    if (isFlagged) flagged++;
    uncertain += want.uncertain.length;
    if (want.uncertain.length === 0) {
      if (!got) problem(walletId, `missing from the balance table (expected ${want.balanceMinor} in ${want.count} deposits)`);
      else if (gotBalance !== want.balanceMinor || gotCount !== want.count) {
        problem(walletId, `balance ${gotBalance} in ${gotCount} deposits, expected ${want.balanceMinor} in ${want.count}`);
      }
      if (isFlagged !== want.flagged) problem(walletId, `flagged ${isFlagged}, the rule says ${want.flagged}`);
      continue;
    }
    const counted = matchingSubset(want, gotBalance, gotCount);
    if (!counted) {
      problem(walletId, `balance ${gotBalance} in ${gotCount} deposits: not ${want.balanceMinor} in ${want.count} plus any of its ${want.uncertain.length} deposits of unknown outcome`);
      continue;
    }
    uncertainCounted += counted.length;
    // A deposit of unknown outcome has no known event time (the API stamps it): its flag is
    // checked only when none of them counted.
    if (counted.length === 0 && isFlagged !== want.flagged) problem(walletId, `flagged ${isFlagged}, the rule says ${want.flagged}`);
  }
  for (const walletId of balances.keys()) if (!expected.has(walletId)) problem(walletId, 'in the balance table, but never deposited to');
  return { ok: wrongWallets.size === 0, wallets: expected.size, wrong: wrongWallets.size, flagged, uncertain, uncertainCounted, problems };
}
