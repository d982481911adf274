import { create } from '@bufbuild/protobuf';
import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { MAX_INT64, checkDeposit } from '../contracts/deposit-event.js';
import { historyKey, idempotencyKey } from '../contracts/deposit-keys.js';
import { topics } from '../contracts/topic-map.js';
import { type BalanceState, BalanceStateSchema, DepositRecordSchema } from '../gen/depositaja/v1/balance_pb.js';
import type { Deposit } from '../gen/depositaja/v1/deposit_pb.js';
import { GroupHandler, PoisonRecordError, type ProcessorContext } from '../streams/index.js';
import { balanceGroup } from './balance.group.js';

/**
 * Counts each deposit into its wallet: balance, count and last deposit time in the table (an
 * O(1) update), and one history entry published for the API's view. A deposit that came with an
 * Idempotency-Key is also published under its key (the API answers retries from there) and put
 * in the `keys` store, which the group reads back: a deposit id found there is a retry, counted
 * once, the first time.
 */
@Controller()
export class BalanceProcessor {
  @GroupHandler(balanceGroup, topics.deposit)
  async count(@Payload() deposit: Deposit, @Ctx() ctx: ProcessorContext<BalanceState>): Promise<void> {
    checkDeposit(deposit, ctx.key);
    const key = deposit.idempotencyKey ? idempotencyKey(deposit.walletId, deposit.depositId) : undefined;
    if (key !== undefined && (await ctx.store(topics.balanceKeys).get(key))) return;

    const current = ctx.value() ?? create(BalanceStateSchema);
    const balanceMinor = current.balanceMinor + deposit.amountMinor;
    if (balanceMinor > MAX_INT64) throw new PoisonRecordError(`balance of ${deposit.walletId} would exceed int64`);
    const seq = current.depositCount + 1n;
    ctx.setValue(
      create(BalanceStateSchema, {
        balanceMinor,
        depositCount: seq,
        lastDepositAtMs: deposit.acceptedAtMs > current.lastDepositAtMs ? deposit.acceptedAtMs : current.lastDepositAtMs,
      }),
    );

    const record = create(DepositRecordSchema, {
      depositId: deposit.depositId,
      amountMinor: deposit.amountMinor,
      acceptedAtMs: deposit.acceptedAtMs,
      seq,
      offset: BigInt(ctx.offset),
      requestDigest: deposit.requestDigest,
    });
    // The history is for the API's view only: this group never reads it back.
    const deposits = ctx.store(topics.balanceDeposits);
    deposits.publish(historyKey(deposit.walletId, seq), record);
    if (key !== undefined) {
      deposits.publish(key, record);
      ctx.store(topics.balanceKeys).put(key, record);
    }
  }
}
