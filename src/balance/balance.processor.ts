import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { MAX_INT64, checkDeposit } from '../contracts/deposit-event.js';
import { historyKey, idempotencyKey } from '../contracts/deposit-keys.js';
import { topics } from '../contracts/topic-map.js';
import type { BalanceState, DepositRecord } from '../gen/depositaja/v1/balance_pb.js';
import type { Deposit } from '../gen/depositaja/v1/deposit_pb.js';
import { GroupHandler, PoisonRecordError, type ProcessorContext } from '../streams/index.js';
import { balanceGroup } from './balance.group.js';

/**
 * Counts each deposit into its wallet: balance, count and last deposit time in the table (an
 * O(1) update), and one history entry published for the API's view. A deposit that came with an
 * Idempotency-Key is also published under its key (the API answers retries from there) and put
 * in the `keys` store, which the group reads back: a deposit id found there is a retry, counted
 * once, the first time.
 *
 * Only a keyed deposit reads a store. The messages are written out rather than made by
 * protobuf-es's `create` (reflective): this runs for every deposit.
 */
@Controller()
export class BalanceProcessor {
  @GroupHandler(balanceGroup, topics.deposit)
  count(@Payload() deposit: Deposit, @Ctx() ctx: ProcessorContext<BalanceState>): void {
    checkDeposit(deposit, ctx.key);
    if (!deposit.idempotencyKey) return countOnce(deposit, ctx);
    const key = idempotencyKey(deposit.walletId, deposit.depositId);
    if (!ctx.store(topics.balanceKeys).get(key)) countOnce(deposit, ctx, key);
  }
}

function countOnce(deposit: Deposit, ctx: ProcessorContext<BalanceState>, key?: string): void {
  const current = ctx.value();
  const balanceMinor = (current?.balanceMinor ?? 0n) + deposit.amountMinor;
  if (balanceMinor > MAX_INT64) throw new PoisonRecordError(`balance of ${deposit.walletId} would exceed int64`);
  const seq = (current?.depositCount ?? 0n) + 1n;
  const lastDepositAtMs = current?.lastDepositAtMs ?? 0n;
  ctx.setValue({
    $typeName: 'depositaja.v1.BalanceState',
    balanceMinor,
    depositCount: seq,
    lastDepositAtMs: deposit.acceptedAtMs > lastDepositAtMs ? deposit.acceptedAtMs : lastDepositAtMs,
  });

  const record: DepositRecord = {
    $typeName: 'depositaja.v1.DepositRecord',
    depositId: deposit.depositId,
    amountMinor: deposit.amountMinor,
    acceptedAtMs: deposit.acceptedAtMs,
    seq,
    offset: BigInt(ctx.offset),
    requestDigest: deposit.requestDigest,
  };
  // The history is for the API's view only: this group never reads it back.
  const deposits = ctx.store(topics.balanceDeposits);
  deposits.publish(historyKey(deposit.walletId, seq), record);
  if (key !== undefined) {
    deposits.publish(key, record);
    ctx.store(topics.balanceKeys).put(key, record);
  }
}
