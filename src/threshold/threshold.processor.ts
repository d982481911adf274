import { create } from '@bufbuild/protobuf';
import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { AppConfig } from '../config/config.js';
import { checkDeposit } from '../contracts/deposit-event.js';
import { checkFlagEvent } from '../contracts/flag-event.js';
import { topics } from '../contracts/topic-map.js';
import type { Deposit } from '../gen/depositaja/v1/deposit_pb.js';
import { type FlagEvent, FlagEventSchema, FlagSource } from '../gen/depositaja/v1/flag_pb.js';
import { type WindowState, WindowStateSchema } from '../gen/depositaja/v1/threshold_pb.js';
import { formatMinor } from '../money/money.js';
import { GroupHandler, type ProcessorContext } from '../streams/index.js';
import { type WindowRule, addToWindow, clearWindow, holdsDeposit } from './sliding-window.js';
import { thresholdGroup } from './threshold.group.js';

/**
 * Flags a wallet whose deposits within any window sum to more than the threshold (SPEC §2):
 * event time is each deposit's accepted_at, the flag is sticky, and one flag event is emitted
 * on the transition. Manual flag events keep it in step: a manual flag stops detection, a
 * manual unflag starts a fresh window after the unflag's time.
 */
@Controller()
export class ThresholdProcessor {
  private readonly rule: WindowRule;

  constructor(config: AppConfig) {
    this.rule = { thresholdMinor: config.threshold.amountMinor, windowMs: BigInt(config.threshold.windowMs) };
  }

  @GroupHandler(thresholdGroup, topics.deposit)
  deposit(@Payload() deposit: Deposit, @Ctx() ctx: ProcessorContext<WindowState>): void {
    checkDeposit(deposit, ctx.key);
    const state = ctx.value() ?? create(WindowStateSchema);
    if (state.flagged) {
      if (deposit.acceptedAtMs > state.maxAtMs) state.maxAtMs = deposit.acceptedAtMs;
    } else if (deposit.idempotencyKey && holdsDeposit(state, deposit.depositId)) {
      // A retry that reached Kafka twice: the balance counts it once, and so does the window.
    } else {
      const verdict = addToWindow(state, deposit.acceptedAtMs, deposit.amountMinor, this.rule, deposit.idempotencyKey ? deposit.depositId : '');
      if (verdict.crossed) {
        state.flagged = true;
        state.flagCauseOffset = BigInt(ctx.offset);
        clearWindow(state);
        ctx.emit(
          topics.flagWallet,
          ctx.key,
          create(FlagEventSchema, {
            walletId: ctx.key,
            flagged: true,
            source: FlagSource.AUTO,
            atMs: deposit.acceptedAtMs,
            causeOffset: BigInt(ctx.offset),
            reason: `deposits of ${formatMinor(verdict.sumMinor)} within ${this.rule.windowMs / 1000n} s exceed ${formatMinor(this.rule.thresholdMinor)}`,
          }),
        );
      }
    }
    ctx.setValue(state);
  }

  @GroupHandler(thresholdGroup, topics.flagWallet)
  flag(@Payload() event: FlagEvent, @Ctx() ctx: ProcessorContext<WindowState>): void {
    checkFlagEvent(event, ctx.key);
    const state = ctx.value() ?? create(WindowStateSchema);
    if (event.source === FlagSource.MANUAL) {
      state.flagged = event.flagged;
      if (!event.flagged && event.atMs > state.resetAtMs) state.resetAtMs = event.atMs;
      clearWindow(state);
    } else if (event.atMs > state.resetAtMs) {
      // Our own auto flag coming back: already applied, unless an unflag came after its cause.
      state.flagged = true;
    }
    ctx.setValue(state);
  }
}
