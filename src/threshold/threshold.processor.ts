import { create } from '@bufbuild/protobuf';
import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { AppConfig } from '../config/app-config.js';
import { checkDeposit } from '../contracts/deposit-event.js';
import { idempotencyKey } from '../contracts/deposit-keys.js';
import { checkFlagEvent } from '../contracts/flag-event.js';
import { topics } from '../contracts/topic-map.js';
import type { Deposit } from '../gen/depositaja/v1/deposit_pb.js';
import { type FlagEvent, FlagEventSchema, FlagSource } from '../gen/depositaja/v1/flag_pb.js';
import { type WindowState, WindowStateSchema } from '../gen/depositaja/v1/threshold_pb.js';
import { formatMinor } from '../money/money.js';
import { GroupHandler, type ProcessorContext } from '../streams/index.js';
import { type WindowRule, addToWindow, forgetUntil, windowEntry } from './sliding-window.js';
import { thresholdGroup } from './threshold.group.js';

/**
 * Flags a wallet whose deposits within any window sum to more than the threshold (SPEC §2):
 * event time is each deposit's accepted_at, the flag is sticky, and one flag event is emitted
 * on the transition. Manual flag events keep it in step: a manual unflag starts a fresh window
 * after the unflag's time. Deposits and flag events come on two topics, in no agreed order, so
 * the window is kept while the wallet is flagged too: an unflag processed after deposits accepted
 * after it still sees them, and flags again if they crossed.
 */
@Controller()
export class ThresholdProcessor {
  private readonly rule: WindowRule;

  constructor(config: AppConfig) {
    this.rule = { thresholdMinor: config.threshold.amountMinor, windowMs: BigInt(config.threshold.windowMs) };
  }

  /**
   * A deposit sent with an Idempotency-Key is looked up among the keys first: a retry that
   * reached Kafka twice carries the first attempt's deposit id and a later accepted_at, and the
   * balance counts it once, at the first attempt's time; so does the window.
   */
  @GroupHandler(thresholdGroup, topics.deposit)
  deposit(@Payload() deposit: Deposit, @Ctx() ctx: ProcessorContext<WindowState>): void {
    checkDeposit(deposit, ctx.key);
    if (!deposit.idempotencyKey) return this.count(deposit, ctx);
    const key = idempotencyKey(deposit.walletId, deposit.depositId);
    const keys = ctx.store(topics.thresholdKeys);
    if (keys.get(key)) return;
    keys.put(key, windowEntry(deposit.acceptedAtMs, deposit.amountMinor));
    this.count(deposit, ctx);
  }

  @GroupHandler(thresholdGroup, topics.flagWallet)
  flag(@Payload() event: FlagEvent, @Ctx() ctx: ProcessorContext<WindowState>): void {
    checkFlagEvent(event, ctx.key);
    const state = ctx.value() ?? create(WindowStateSchema);
    if (event.source === FlagSource.MANUAL) {
      state.flagged = event.flagged;
      if (!event.flagged) {
        if (event.atMs > state.resetAtMs) state.resetAtMs = event.atMs;
        forgetUntil(state, state.resetAtMs);
        if (state.crossingStartMs > state.resetAtMs) {
          this.flagAuto(state, ctx, `deposits accepted after the manual unflag exceed ${formatMinor(this.rule.thresholdMinor)} within ${this.rule.windowMs / 1000n} s`);
        }
      }
    } else if (event.atMs > state.resetAtMs) {
      // Our own auto flag coming back: already applied, unless an unflag came after its cause.
      state.flagged = true;
    }
    ctx.setValue(state);
  }

  /** Adds the deposit to its wallet's window, and flags the wallet when a window crossed. */
  private count(deposit: Deposit, ctx: ProcessorContext<WindowState>): void {
    const state = ctx.value() ?? create(WindowStateSchema);
    const verdict = addToWindow(state, deposit.acceptedAtMs, deposit.amountMinor, this.rule);
    if (verdict.crossed && verdict.startMs > state.crossingStartMs) {
      state.crossingStartMs = verdict.startMs;
      state.crossingAtMs = deposit.acceptedAtMs;
      state.crossingOffset = BigInt(ctx.offset);
    }
    if (verdict.crossed && !state.flagged) {
      this.flagAuto(state, ctx, `deposits of ${formatMinor(verdict.sumMinor)} within ${this.rule.windowMs / 1000n} s exceed ${formatMinor(this.rule.thresholdMinor)}`);
    }
    ctx.setValue(state);
  }

  /** Flags the wallet for its latest crossing, and says so on `flag_wallet`. */
  private flagAuto(state: WindowState, ctx: ProcessorContext<WindowState>, reason: string): void {
    state.flagged = true;
    state.flagCauseOffset = state.crossingOffset;
    ctx.emit(
      topics.flagWallet,
      ctx.key,
      create(FlagEventSchema, {
        walletId: ctx.key,
        flagged: true,
        source: FlagSource.AUTO,
        atMs: state.crossingAtMs,
        causeOffset: state.crossingOffset,
        reason,
      }),
    );
  }
}
