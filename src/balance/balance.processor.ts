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
 * O(1) update), and one history entry published to the `deposits` store (for the API's view; the
 * group keeps only the entries it reads back: those of Idempotency-Keys). A deposit id that came with an
 * Idempotency-Key and is already counted is a retry: counted once, the first time.
 */
@Controller()
export class BalanceProcessor {
  @GroupHandler(balanceGroup, topics.deposit)
  async count(@Payload() deposit: Deposit, @Ctx() ctx: ProcessorContext<BalanceState>): Promise<void> {
    checkDeposit(deposit, ctx.key);
    const deposits = ctx.store(topics.balanceDeposits);
    if (deposit.idempotencyKey && (await deposits.get(idempotencyKey(deposit.walletId, deposit.depositId)))) return;

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
    deposits.publish(historyKey(deposit.walletId, seq), record);
    if (deposit.idempotencyKey) deposits.put(idempotencyKey(deposit.walletId, deposit.depositId), record);
  }
}
