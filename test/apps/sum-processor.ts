import type { Int64Value } from '@bufbuild/protobuf/wkt';
import { Controller, Module } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { PoisonRecordError, type ProcessorContext } from '../../src/streams/context.js';
import { GroupHandler } from '../../src/streams/group.js';
import { StreamsModule } from '../../src/streams/streams.module.js';
import { type Sum, sumGroup, sumTopics } from './sum-group.js';

/**
 * The handler of the `sum` group: adds each number to its key's sum. Negative numbers are
 * poison; `7` fails transiently (after setting its effects) while `failSevens` is set; every
 * number over 1000 is echoed to `big`. Each number is also kept in a write-once store under
 * `<key>/<count>`.
 */
@Controller()
export class SumProcessor {
  failSevens = false;

  @GroupHandler(sumGroup, sumTopics.numbers)
  add(@Payload() number: Int64Value, @Ctx() ctx: ProcessorContext<Sum>): void {
    if (number.value < 0n) throw new PoisonRecordError(`negative number ${number.value}`);
    const current = ctx.value() ?? { sum: '0', count: 0 };
    const next = { sum: String(BigInt(current.sum) + number.value), count: current.count + 1 };
    ctx.setValue(next);
    ctx.store(sumTopics.entries).put(`${ctx.key}/${next.count}`, { value: String(number.value) });
    if (number.value > 1000n) ctx.emit(sumTopics.big, ctx.key, number);
    // After its effects, so that a test sees them discarded.
    if (number.value === 7n && this.failSevens) throw new Error('sevens are failing right now');
  }
}

/** The `sum` group and its processor, as a module would declare them. */
@Module({ imports: [StreamsModule.forGroup(sumGroup)], controllers: [SumProcessor] })
export class SumModule {}
