import { Injectable, UnprocessableEntityException } from '@nestjs/common';
import { historyKey, historyPrefix, seqOfHistoryKey } from '../contracts/deposit-keys.js';
import type { ReadToken } from '../contracts/read-token.js';
import { topics } from '../contracts/topic-map.js';
import type { BalanceState, DepositRecord } from '../gen/depositaja/v1/balance_pb.js';
import { FlagSource, type FlagValue } from '../gen/depositaja/v1/flag_pb.js';
import type { WindowState } from '../gen/depositaja/v1/threshold_pb.js';
import { Emitter, InjectView, type View, type ViewEntry, ViewTimeoutError } from '../streams/index.js';

/** A wallet as GET /check shows it. */
export interface WalletSnapshot {
  walletId: string;
  balanceMinor: bigint;
  depositCount: bigint;
  lastDepositAtMs?: bigint;
  flagged: boolean;
  flaggedAtMs?: bigint;
  flagSource?: 'auto' | 'manual';
}

/** The views did not include the awaited event in time. */
export class NotVisibleYetError extends Error {}

/**
 * Reads wallets from this process's local replicas of the processors' tables; nothing goes to
 * Kafka per read. With a read-your-writes token, waits until the replicas include the event.
 */
@Injectable()
export class WalletService {
  constructor(
    @InjectView(topics.balanceTable) private readonly balances: View<BalanceState>,
    @InjectView(topics.flaggerTable) private readonly flags: View<FlagValue>,
    @InjectView(topics.thresholdTable) private readonly windows: View<WindowState>,
    @InjectView(topics.balanceDeposits) private readonly deposits: View<DepositRecord>,
    private readonly emitter: Emitter,
  ) {}

  snapshot(walletId: string): WalletSnapshot {
    const balance = this.balances.get(walletId);
    const flag = this.flags.get(walletId);
    return {
      walletId,
      balanceMinor: balance?.balanceMinor ?? 0n,
      depositCount: balance?.depositCount ?? 0n,
      lastDepositAtMs: balance?.lastDepositAtMs || undefined,
      flagged: flag?.flagged ?? false,
      flaggedAtMs: flag?.flagged ? flag.flaggedAtMs : undefined,
      flagSource: flag?.flagged ? (flag.source === FlagSource.MANUAL ? 'manual' : 'auto') : undefined,
    };
  }

  /**
   * Waits until the views reflect the event of `token`, at most `timeoutMs`. For a deposit:
   * the balance processor has applied it (balance and history), the threshold processor too
   * (and every flag event the flagger has applied for the wallet), and the flagger has applied
   * any flag it caused. For a flag event: the flagger has applied it.
   */
  async waitFor(walletId: string, token: ReadToken, timeoutMs: number): Promise<void> {
    const topic = token.kind === 'deposit' ? topics.deposit : topics.flagWallet;
    if (this.emitter.partitionOf(topic, walletId) !== token.partition) {
      throw new UnprocessableEntityException('token does not belong to this wallet');
    }
    const deadline = Date.now() + timeoutMs;
    const left = () => Math.max(0, deadline - Date.now());
    const reached = (name: string) => (entry: ViewEntry<unknown> | undefined) => (entry?.applied[name] ?? -1) >= token.offset;
    try {
      if (token.kind === 'flag') {
        await this.flags.waitFor(walletId, reached(topics.flagWallet.name), left());
        return;
      }
      const balance = await this.balances.waitFor(walletId, reached(topics.deposit.name), left());
      // The history is another changelog, read by another reader: it may trail the balance.
      const count = balance?.value.depositCount ?? 0n;
      if (count > 0n) await this.deposits.waitFor(historyKey(walletId, count), (entry) => entry !== undefined, left());
      // Deposits and flag events reach the threshold processor on two topics, in no agreed order. A
      // manual unflag the flagger has applied may not have reached the window yet, and a flag it
      // brings about with the deposits after it is known only once it has: wait for that too.
      const flagEvents = topics.flagWallet.name;
      const flagsApplied = this.flags.entry(walletId)?.applied[flagEvents] ?? -1;
      const window = await this.windows.waitFor(
        walletId,
        (entry) => reached(topics.deposit.name)(entry) && (entry?.applied[flagEvents] ?? -1) >= flagsApplied,
        left(),
      );
      const cause = window?.value.flagCauseOffset;
      if (cause !== undefined) {
        await this.flags.waitFor(walletId, (entry) => (entry?.value.autoCauseOffset ?? -1n) >= cause, left());
      }
    } catch (error) {
      if (error instanceof ViewTimeoutError) throw new NotVisibleYetError(`the event is not visible yet after ${timeoutMs} ms; retry`);
      throw error;
    }
  }

  /** Counted deposits, newest first: up to `limit` of them older than seq `before`. */
  async history(walletId: string, limit: number, before?: bigint): Promise<{ deposits: DepositRecord[]; more: boolean }> {
    const rows = await this.deposits.entries(historyPrefix(walletId), {
      reverse: true,
      limit: limit + 1,
      after: before === undefined ? undefined : historyKey(walletId, before),
    });
    const deposits = rows.slice(0, limit).map(([key, record]) => ({ ...record, seq: seqOfHistoryKey(key) }));
    return { deposits, more: rows.length > limit };
  }
}
