import { create } from '@bufbuild/protobuf';
import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { checkFlagEvent } from '../contracts/flag-event.js';
import { topics } from '../contracts/topic-map.js';
import { type FlagEvent, FlagSource, type FlagValue, FlagValueSchema } from '../gen/depositaja/v1/flag_pb.js';
import { GroupHandler, type ProcessorContext } from '../streams/index.js';
import { flaggerGroup } from './flagger.group.js';

/**
 * Keeps each wallet's flag. A manual event always applies. An auto flag applies unless the
 * deposit that caused it was accepted before the last manual event: the admin decided after it.
 * Flagging a flagged wallet keeps its first flag time and source.
 */
@Controller()
export class FlaggerProcessor {
  @GroupHandler(flaggerGroup, topics.flagWallet)
  apply(@Payload() event: FlagEvent, @Ctx() ctx: ProcessorContext<FlagValue>): void {
    checkFlagEvent(event, ctx.key);
    const current = ctx.value() ?? create(FlagValueSchema);
    const next = create(FlagValueSchema, { ...current });
    if (event.source === FlagSource.AUTO) {
      if (next.autoCauseOffset === undefined || event.causeOffset! > next.autoCauseOffset) next.autoCauseOffset = event.causeOffset;
      if (event.atMs <= next.manualAtMs) return ctx.setValue(next);
    } else if (event.atMs > next.manualAtMs) {
      next.manualAtMs = event.atMs;
    }
    if (event.flagged && !next.flagged) {
      next.flagged = true;
      next.source = event.source;
      next.flaggedAtMs = event.atMs;
      next.reason = event.reason;
    } else if (!event.flagged) {
      next.flagged = false;
      next.source = event.source;
      next.flaggedAtMs = 0n;
      next.reason = event.reason;
    }
    if (event.atMs > next.updatedAtMs) next.updatedAtMs = event.atMs;
    ctx.setValue(next);
  }
}
