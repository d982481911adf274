import { Int64ValueSchema } from '@bufbuild/protobuf/wkt';
import { Controller, Module } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import type { Int64Value } from '@bufbuild/protobuf/wkt';
import type { Codec } from '../codec.js';
import { PoisonRecordError, type ProcessorContext } from '../context.js';
import { GroupHandler, defineGroup } from '../group.js';
import { StreamsModule } from '../streams.module.js';
import { streamTopic, type TableTopic } from '../topics.js';

/**
 * A domain-free processor group for the core's own tests: sums int64 numbers per key.
 * Negative numbers are poison; `7` fails transiently (after setting its effects) while
 * `failSevens` is set; every number
 * over 1000 is echoed to `big`. Each number is also kept in a store under `<key>/<count>`.
 */
export interface Sum {
  sum: string;
  count: number;
}

export const jsonCodec = <T>(): Codec<T> => ({
  encode: (value) => new TextEncoder().encode(JSON.stringify(value)),
  decode: (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as T,
});

const table = <T>(name: string): TableTopic<T> => ({ kind: 'table', name, codec: jsonCodec<T>() });

export const sumTopics = {
  numbers: streamTopic('numbers', Int64ValueSchema),
  big: streamTopic('big', Int64ValueSchema),
  sums: table<Sum>('sums'),
  entries: table<{ value: string }>('sum-entries'),
};

export const sumGroup = defineGroup({
  name: 'sum',
  inputs: [sumTopics.numbers],
  table: sumTopics.sums,
  stores: [sumTopics.entries],
  outputs: [sumTopics.big],
});

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
