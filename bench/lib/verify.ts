/**
 * What the service must have computed, and the check against what it did: the latest value of
 * every wallet in the balance-table and flagger-table changelogs (the tables that views and
 * restoration read), read by the bench's own consumer.
 */
import type { Admin, Kafka } from 'kafkajs';
import { topics } from '../../src/topics';
import { type DepositSpec, readTable } from './kafka';
import { THRESHOLD_MINOR, WINDOW_MS, type Workload } from './workload';

export interface Verdict {
  ok: boolean;
  /** Wallets checked, and how many were wrong (balance, count or flag). */
  wallets: number;
  wrong: number;
  flagged: number;
  problems: string[];
}

/** The expected state of every wallet: a workload, plus deposits written on top of it. */
export class Expectation {
  private readonly extras = new Map<string, DepositSpec[]>();

  constructor(readonly workload?: Workload) {}

  add(deposit: DepositSpec): void {
    const list = this.extras.get(deposit.walletId) ?? [];
    this.extras.set(deposit.walletId, list);
    list.push(deposit);
  }

  /** wallet id → expected balance, count and flag. */
  wallets(): Map<string, { balanceMinor: bigint; count: number; flagged: boolean }> {
    const expected = new Map<string, { balanceMinor: bigint; count: number; flagged: boolean }>();
    if (this.workload) {
      const { balance, count } = this.workload.expectedBalances();
      const flags = this.workload.expectedFlags();
      for (let w = 0; w < this.workload.wallets; w++) {
        if (count[w] > 0) expected.set(this.workload.walletId(w), { balanceMinor: BigInt(balance[w]), count: count[w], flagged: flags[w] === 1 });
      }
    }
    for (const [walletId, deposits] of this.extras) {
      if (expected.has(walletId)) throw new Error(`extra deposits must go to wallets of their own (${walletId})`);
      expected.set(walletId, {
        balanceMinor: deposits.reduce((sum, deposit) => sum + deposit.amountMinor, 0n),
        count: deposits.length,
        flagged: exceedsInSomeWindow(deposits),
      });
    }
    return expected;
  }
}

/** The rule, recomputed from a wallet's deposits. */
export function exceedsInSomeWindow(deposits: DepositSpec[]): boolean {
  const sorted = [...deposits].sort((a, b) => a.acceptedAtMs - b.acceptedAtMs);
  let first = 0;
  let sum = 0n;
  for (const deposit of sorted) {
    sum += deposit.amountMinor;
    while (sorted[first].acceptedAtMs <= deposit.acceptedAtMs - WINDOW_MS) sum -= sorted[first++].amountMinor;
    if (sum > THRESHOLD_MINOR) return true;
  }
  return false;
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
  for (const [walletId, want] of expected) {
    const got = balances.get(walletId);
    if (!got) problem(walletId, `missing from the balance table (expected ${want.balanceMinor} in ${want.count} deposits)`);
    else if (got.balanceMinor !== want.balanceMinor || got.depositCount !== BigInt(want.count)) {
      problem(walletId, `balance ${got.balanceMinor} in ${got.depositCount} deposits, expected ${want.balanceMinor} in ${want.count}`);
    }
    const isFlagged = flags.get(walletId)?.flagged ?? false;
    if (isFlagged) flagged++;
    if (isFlagged !== want.flagged) problem(walletId, `flagged ${isFlagged}, the rule says ${want.flagged}`);
  }
  for (const walletId of balances.keys()) if (!expected.has(walletId)) problem(walletId, 'in the balance table, but never deposited to');
  return { ok: wrongWallets.size === 0, wallets: expected.size, wrong: wrongWallets.size, flagged, problems };
}
